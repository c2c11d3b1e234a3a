"""What the event engine builds per network, kept for the next :func:`delaykit.sim.simulate` call.

Preparing a network (sorted synapse rows, layer constants) costs far more than simulating one
sample of a small network, so :func:`prepared` keeps the last :data:`CACHE_SIZE` prepared
networks, keyed by the network object's identity and the arithmetic (an entry holds its
network, so the identity cannot be reused while the entry lives).

A :class:`~delaykit.network.Network` is a frozen dataclass, but its numpy arrays are not
frozen by numpy. So that a cached entry can never go stale, caching a network makes every
array it holds read-only (and the numpy arrays they are views of): writing into a weight
after a simulation raises numpy's "assignment destination is read-only" instead of silently
reusing the old synapses. A caller who switches an array back to writeable gets an entry
rebuilt on the next call (the flags are checked on every hit, a few microseconds).
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from typing import Any

import numpy as np

from delaykit.arithmetic import Arithmetic
from delaykit.network import Network

from .event import EventNetwork

#: prepared networks kept (least recently used dropped first)
CACHE_SIZE = 8

_lock = threading.Lock()
_entries: OrderedDict[tuple[int, Arithmetic], tuple[EventNetwork, list[np.ndarray]]] = OrderedDict()
#: the previous call's entry, checked by identity first: (net, arithmetic, built, frozen)
_last: list[Any] = [None]
_FLOAT64 = Arithmetic.float64()
#: how many networks :func:`prepared` has built (tests count builds, not time)
stats = {"builds": 0, "hits": 0}


def prepared(net: Network, arithmetic: Arithmetic | None = None) -> EventNetwork:
    """The network prepared for the event engine under ``arithmetic``, built once and reused."""
    arith = arithmetic or _FLOAT64
    last = _last[0]  # one tuple, replaced whole: consistent without the lock
    if (
        last is not None
        and last[0] is net
        and last[1] is arith
        and not any(a.flags.writeable for a in last[3])
    ):
        stats["hits"] += 1  # the same objects as the previous call: no hashing, no lock
        return last[2]
    key = (id(net), arith)
    with _lock:
        hit = _entries.get(key)
        if hit is not None and hit[0].net is net and not any(a.flags.writeable for a in hit[1]):
            _entries.move_to_end(key)
            stats["hits"] += 1
            _last[0] = (net, arith, hit[0], hit[1])
            return hit[0]
    frozen = freeze_arrays(net)  # before building: what is built is what cannot change
    built = EventNetwork(net, arith)
    with _lock:
        _entries[key] = (built, frozen)
        _entries.move_to_end(key)
        while len(_entries) > CACHE_SIZE:
            _entries.popitem(last=False)
        stats["builds"] += 1
        _last[0] = (net, arith, built, frozen)
    return built


def clear() -> None:
    """Drop every cached network (and reset :data:`stats`)."""
    with _lock:
        _entries.clear()
        _last[0] = None
        stats.update(builds=0, hits=0)


def freeze_arrays(obj: Any) -> list[np.ndarray]:
    """Make every numpy array reachable from ``obj`` (dataclass fields, tuples, lists, dicts)
    read-only, with the arrays they view; return them."""
    found: list[np.ndarray] = []
    _collect(obj, found, set())
    for a in found:
        a.flags.writeable = False
    return found


def _collect(obj: Any, found: list[np.ndarray], seen: set[int]) -> None:
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        found.append(obj)
        if isinstance(obj.base, np.ndarray):
            _collect(obj.base, found, seen)
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            _collect(getattr(obj, f.name), found, seen)
    elif isinstance(obj, (tuple, list)):
        for x in obj:
            _collect(x, found, seen)
    elif isinstance(obj, dict):
        for x in obj.values():
            _collect(x, found, seen)
