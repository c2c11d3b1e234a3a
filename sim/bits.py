"""Bit-level numba intrinsics of the event engine's kernels: LLVM instructions that numba's
own operations do not reach (a popcount, a count of trailing zeros, unaligned 8-byte loads,
an 8-lane compare gathered into a bit mask, float64 <-> int64 bitcasts), and the exact
float64 -> int64 conversion built on them.

Each is made by a factory (``_make_*``) so that a kernel calls it like a function
(``popcount(m)``); inside a compiled kernel each is one or a few instructions.
"""

from __future__ import annotations

from typing import Any

import numba as nb
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


def _make_popcount() -> Any:
    @intrinsic
    def popcount(typingctx, m):
        """The number of set bits of a uint64 (``llvm.ctpop``: one POPCNT)."""
        sig = types.int64(types.uint64)

        def codegen(context, builder, sig, args):
            fn = builder.module.declare_intrinsic("llvm.ctpop", [ir.IntType(64)])
            return builder.call(fn, [args[0]])

        return sig, codegen

    return popcount


def _make_ctz() -> Any:
    @intrinsic
    def ctz(typingctx, m):
        """The index of the lowest set bit of a nonzero uint64 (``llvm.cttz``: one TZCNT)."""
        sig = types.int64(types.uint64)

        def codegen(context, builder, sig, args):
            i64 = ir.IntType(64)
            fnty = ir.FunctionType(i64, [i64, ir.IntType(1)])
            fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.cttz.i64")
            return builder.call(fn, [args[0], ir.Constant(ir.IntType(1), 0)])

        return sig, codegen

    return ctz


def _make_load8() -> Any:
    @intrinsic
    def load8(typingctx, a, k):
        """The 8 bytes ``a.flat[k : k + 8]`` of a C-contiguous uint8 array as one little-endian
        uint64 (an unaligned load; numba's ``view`` costs ~40 ns a call)."""
        sig = types.uint64(a, k)

        def codegen(context, builder, sig, args):
            data = context.make_array(sig.args[0])(context, builder, args[0]).data
            ptr = builder.bitcast(builder.gep(data, [args[1]]), ir.IntType(64).as_pointer())
            return builder.load(ptr, align=1)

        return sig, codegen

    return load8


def _make_nonzero8() -> Any:
    @intrinsic
    def nonzero8(typingctx, a, k):
        """Bits 0..7: which of ``a.flat[k : k + 8]`` (C-contiguous, any number type) are
        nonzero; NaN counts as nonzero. One vector load and compare, its lanes gathered into a
        byte (a movemask)."""
        sig = types.uint64(a, k)

        def codegen(context, builder, sig, args):
            elem = sig.args[0].dtype
            vty = ir.VectorType(context.get_value_type(elem), 8)
            data = context.make_array(sig.args[0])(context, builder, args[0]).data
            v = builder.load(builder.bitcast(builder.gep(data, [args[1]]), vty.as_pointer()), align=1)
            if isinstance(elem, types.Float):
                nz = builder.fcmp_unordered("!=", v, ir.Constant(vty, [0.0] * 8))
            else:
                nz = builder.icmp_unsigned("!=", v, ir.Constant(vty, [0] * 8))
            return builder.zext(builder.bitcast(nz, ir.IntType(8)), ir.IntType(64))

        return sig, codegen

    return nonzero8


def _make_bitcast(src: types.Type, dst: types.Type, dst_ir: ir.Type) -> Any:
    @intrinsic
    def bitcast(typingctx, x):
        """The value of another type with the same 64 bits (a bitcast, free in vector code)."""
        sig = dst(src)

        def codegen(context, builder, sig, args):
            return builder.bitcast(args[0], dst_ir)

        return sig, codegen

    return bitcast


popcount = _make_popcount()
ctz = _make_ctz()
load8 = _make_load8()
nonzero8 = _make_nonzero8()
#: the int64 holding the IEEE-754 bits of a float64
f64_bits = _make_bitcast(types.float64, types.int64, ir.IntType(64))
#: the float64 whose IEEE-754 bits are an int64
f64_from_bits = _make_bitcast(types.int64, types.float64, ir.DoubleType())


@nb.njit(cache=True, inline="always")
def f64_to_int(x):  # pragma: no cover - compiled
    """An integer-valued float64 below 2**51 in magnitude as int64, from the low bits of
    ``x + 1.5 * 2**52`` (exact): vectorizes, where AVX2 has no float64 -> int64 conversion."""
    return f64_bits(x + 6755399441055744.0) - 0x4338000000000000
