"""simulate()'s per-network cache: same results as a fresh build, built once, never stale."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from netgen import random_frames, random_network

from delaykit.hardware_targets import load_target
from delaykit.sim import Arithmetic, event_cache, make_runner, simulate

ARITHS = {
    "float64": Arithmetic.float64(),
    "float32": Arithmetic.float32(),
    "loihi2": Arithmetic.for_target(load_target("loihi2")),
}


def _same(a, b) -> None:
    np.testing.assert_array_equal(a.output, b.output)
    assert len(a.spikes) == len(b.spikes)
    for x, y in zip(a.spikes, b.spikes, strict=True):
        np.testing.assert_array_equal(x, y)
    assert a.events == b.events and a.prediction == b.prediction


@pytest.mark.parametrize("arith", sorted(ARITHS))
def test_cached_equals_fresh_and_builds_once(rng, arith):
    event_cache.clear()
    a = ARITHS[arith]
    net = random_network(rng, (9, 11, 4), integer_bits=8 if arith == "loihi2" else None, max_delay=7)
    samples = [random_frames(rng, 13, net.layers[0].n_in) for _ in range(6)]
    fresh = [make_runner(net, "event", a)(f) for f in samples]
    cached = [simulate(net, f, arithmetic=a) for f in samples]
    for x, y in zip(fresh, cached, strict=True):
        _same(x, y)
    assert event_cache.stats == {"builds": 1, "hits": 5}
    simulate(net, samples[0], arithmetic=Arithmetic.float64() if arith != "float64" else Arithmetic.float32())
    assert event_cache.stats["builds"] == 2  # another arithmetic is another entry


def test_mutating_a_cached_network_never_returns_stale_results(rng):
    event_cache.clear()
    net = random_network(rng, (8, 10, 3), max_delay=5)
    f = random_frames(rng, 12, 8)
    before = simulate(net, f)
    w = net.layers[0].weight
    with pytest.raises(ValueError, match="read-only"):
        w[0, 0] += 1.0  # the cache froze the arrays it depends on
    with pytest.raises(ValueError, match="read-only"):
        net.layers[1].delay[0, 0] = 1
    # a caller who unfreezes and writes gets a rebuilt entry, equal to a fresh build
    w.flags.writeable = True
    w[:, :] = -w
    after = simulate(net, f)
    assert event_cache.stats["builds"] == 2
    _same(after, make_runner(net, "event")(f))
    assert not np.array_equal(after.output, before.output)


def test_views_and_distinct_networks(rng):
    event_cache.clear()
    base = np.asarray(rng.normal(0, 1, (10, 8)))
    net = random_network(rng, (8, 10, 3), max_delay=4)
    net = replace(net, layers=(replace(net.layers[0], weight=base[:, :]), *net.layers[1:]))
    f = random_frames(rng, 10, 8)
    simulate(net, f)
    with pytest.raises(ValueError, match="read-only"):
        base[0, 0] = 3.0  # the array the weight is a view of is frozen too
    other = random_network(rng, (8, 10, 3), max_delay=4)
    _same(simulate(other, f), make_runner(other, "event")(f))
    assert event_cache.stats["builds"] == 2
    for k in range(event_cache.CACHE_SIZE + 2):  # least recently used entries are dropped
        simulate(random_network(np.random.default_rng(k), (8, 6, 3), max_delay=2), f)
    assert len(event_cache._entries) == event_cache.CACHE_SIZE
