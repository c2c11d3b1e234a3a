"""Per-tool NIR conventions (delaykit/nir/consumers.py), the fan-out layout, the torch node-map
modules (convert/nir_torch.py) and the interop matrix rendering -- fast, no tool environment."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import numpy as np
import pytest
from netgen import random_network

from delaykit.convert.nir_matrix import merge_rows, render, replace_section
from delaykit.errors import DelaykitError
from delaykit.network import LIF
from delaykit.nir.consumers import CONSUMERS, NEVER_FIRES, graph_for
from delaykit.nir.export_nir import network_to_nir
from delaykit.nir.import_nir import load_nir
from delaykit.nir.producers import load_from

nir = pytest.importorskip("nir")


def _same_synapses(a, b) -> bool:
    return all(
        np.array_equal(x.weight, y.weight)
        and np.array_equal(x.delay * (x.weight != 0), y.delay * (y.weight != 0))
        for x, y in zip(a.layers, b.layers, strict=True)
    )


def test_fanout_layout_round_trips_and_has_one_edge_out_of_every_node(rng):
    net = random_network(rng, density=0.5, max_delay=7)
    g = network_to_nir(net, layout="fanout")
    outs = [a for a, _ in g.edges]
    assert len(outs) == len(set(outs))  # spyx and nirtorch's legacy executor follow one edge
    assert _same_synapses(net, load_nir(g))
    with pytest.raises(ValueError, match="layout"):
        network_to_nir(net, layout="tree")


@pytest.mark.parametrize("tool", sorted(CONSUMERS))
def test_graph_for_every_tool_type_checks_and_says_its_time_base(rng, tool):
    net = random_network(rng, max_delay=4)
    g = graph_for(net, tool, approximate=True)
    assert "delaykit" not in g.metadata  # its dt no longer holds
    md = json.loads(g.metadata["delaykit_for"])
    assert md["tool"] == tool and md["dt_s"] == net.dt
    delays = [n for n in g.nodes.values() if type(n).__name__ == "Delay"]
    steps = np.concatenate([np.asarray(d.delay).reshape(-1) for d in delays]) / md["time_base"]
    assert np.allclose(steps, np.round(steps)) and steps.max() > 0


def test_time_bases_and_leaks(rng):
    net = random_network(rng, max_delay=3, tau=2.0)
    lif = {
        t: next(n for n in graph_for(net, t, approximate=True).nodes.values() if type(n).__name__ == "LIF")
        for t in CONSUMERS
    }
    assert np.allclose(lif["spikingjelly"].tau, 2.0 * net.dt) and np.allclose(lif["spikingjelly"].r, 2.0)
    assert np.allclose(lif["snntorch"].tau, 2.0e-4) and np.allclose(lif["snntorch"].r, 2.0)
    assert np.allclose(lif["norse"].r, 1.0)
    # sinabs/rockpool decay exp(-1/tau): the same factor 1 - 1/2 as forward Euler's
    assert np.allclose(np.exp(-1.0 / np.asarray(lif["sinabs"].tau)), 0.5) and np.allclose(
        lif["sinabs"].r, 1.0
    )
    kinds = {type(n).__name__ for n in graph_for(net, "sinabs").nodes.values()}
    assert "Linear" not in kinds  # sinabs maps only Affine
    spyx = graph_for(net, "spyx", approximate=True)
    readout = spyx.nodes[list(spyx.nodes)[-2]]
    assert type(readout).__name__ == "LIF" and np.all(np.asarray(readout.v_threshold) == NEVER_FIRES)


def test_tools_that_need_zero_reset_say_which_field(rng):
    net = random_network(rng)
    layer = net.layers[0]
    bad = replace(
        net, layers=(replace(layer, neuron=LIF(tau=1.5, v_threshold=1.0, v_reset=-0.5)), *net.layers[1:])
    )
    with pytest.raises(DelaykitError, match="layer '.*': field 'v_reset'.*snntorch"):
        graph_for(bad, "snntorch")
    graph_for(bad, "spikingjelly")  # v_leak = v_reset is fine there
    v3 = replace(
        net, layers=(replace(layer, neuron=replace(layer.neuron, reset="subtract")), *net.layers[1:])
    )
    with pytest.raises(DelaykitError, match="field 'neuron.reset' is 'subtract'"):
        graph_for(v3, "sinabs")


def test_load_from_norse_reads_tau_back_and_refuses_what_it_cannot_hold(rng):
    net = random_network(rng, (6, 5, 3), max_delay=0, readout="spike_count", spiking_last=True)
    g = network_to_nir(net, r_convention="one")
    nodes = dict(g.nodes)
    for name, n in g.nodes.items():  # as norse's to_nir writes it: tau * dt
        if type(n).__name__ == "LIF":
            nodes[name] = nir.LIF(
                tau=n.tau * net.dt, r=n.r, v_leak=n.v_leak, v_threshold=n.v_threshold, v_reset=n.v_reset
            )
    norse_graph = nir.NIRGraph(nodes=nodes, edges=g.edges, type_check=False)
    back = load_from(norse_graph, "norse", net.dt)
    assert all(np.isclose(a.neuron.tau, b.neuron.tau) for a, b in zip(net.layers, back.layers, strict=True))
    with pytest.raises(DelaykitError, match=r"NIR node '\w+': spyx's LIF fires on the previous step"):
        load_from(norse_graph, "spyx", net.dt)
    for tool in ("sinabs", "rockpool"):
        with pytest.raises(DelaykitError, match=r"NIR node '\w+': .*several spikes per step"):
            load_from(norse_graph, tool, net.dt)
    with pytest.raises(DelaykitError, match="tool: 'brian'"):
        load_from(norse_graph, "brian", net.dt)


def test_torch_node_map_modules():
    torch = pytest.importorskip("torch")
    from delaykit.convert.nir_torch import SeqDelay, SeqLI, StepDelay, StepLI

    steps = np.array([0, 1, 3])
    x = torch.arange(2 * 6 * 3, dtype=torch.float64).reshape(2, 6, 3) + 1
    mod, state, ys = StepDelay(steps), None, []
    for t in range(6):
        y, state = mod(x[:, t], state)
        ys.append(y)
    y = torch.stack(ys, 1)
    for k, d in enumerate(steps):
        assert torch.equal(y[:, d:, k], x[:, : 6 - d, k]) and not y[:, :d, k].any()
    assert torch.equal(SeqDelay(steps)(x), y)
    assert torch.equal(SeqDelay(steps, num_timesteps=6)(x.reshape(12, 3)), y.reshape(12, 3))
    li = nir.LI(tau=np.full(3, 0.02), r=np.full(3, 2.0), v_leak=np.zeros(3))  # dt 0.01: decay 1/2, gain 1
    v, state, want = None, None, torch.zeros(2, 3, dtype=torch.float64)
    step = StepLI(li, 0.01, torch.float64)
    for t in range(6):
        v, state = step(x[:, t], state)
        want = want / 2 + x[:, t]
        assert torch.allclose(v, want)
    assert torch.allclose(SeqLI(li, 0.01, dtype=torch.float64)(x)[:, -1], want)


def test_matrix_rendering_and_markers():
    row = {
        "tool": "norse", "model": "none", "direction": "export", "status": "ok", "samples": 4,
        "spike_bins": 10, "spike_mismatches": 0, "output_bins": 5, "output_mismatches": 0,
        "same_predictions": 4, "same_as_deployed": 4, "version": "1.1.0", "node_map": ["Delay"], "reason": "",
    }  # fmt: skip
    refused = {**row, "direction": "import", "status": "refused", "reason": "no hard reset", "node_map": []}
    rows = merge_rows([row], [refused, {**row, "spike_mismatches": 2}])
    assert len(rows) == 2 and rows[0]["spike_mismatches"] == 2
    table = render(rows)
    assert "2 / 10" in table and "refused" in table and "no hard reset" in table
    from delaykit.convert.nir_matrix import BEGIN, END

    text = f"a\n{BEGIN}\nold\n{END}\nb\n"
    assert replace_section(text, table) == f"a\n{BEGIN}\n{table}\n{END}\nb\n"
    with pytest.raises(DelaykitError, match="markers"):
        replace_section("no markers", table)


def test_convert_to_nir_for_a_tool(tmp_path, rng, capsys):
    from delaykit.cli.main import main
    from delaykit.network import save_network

    net = random_network(rng, max_delay=3)
    save_network(net, tmp_path / "m.dkn")
    out = tmp_path / "m.norse.nir"
    assert main(["convert", "to-nir", str(tmp_path / "m.dkn"), "--for", "norse", "-o", str(out)]) == 0
    assert "for norse" in capsys.readouterr().out
    g = nir.read(out)
    assert json.loads(g.metadata["delaykit_for"])["tool"] == "norse"
    assert _same_synapses(net, load_nir(network_to_nir(net, layout="fanout")))
    with pytest.raises(SystemExit):  # argparse names the choices
        main(["convert", "to-nir", str(tmp_path / "m.dkn"), "--for", "brian"])


def test_load_from_sinabs_and_rockpool_is_subtractive_with_the_same_leak_factor():
    w = np.array([[0.5, -0.25], [1.0, 0.75], [0.3, 0.2]])
    tau_exact = 0.5  # steps: factor exp(-2)
    nodes = {
        "input": nir.Input(input_type=np.array([2])),
        "0": nir.Affine(weight=w, bias=np.array([0.1, 0.0, -0.1])),
        "1": nir.LIF(tau=np.full(3, tau_exact), r=np.ones(3), v_leak=np.zeros(3), v_threshold=np.ones(3)),
        "output": nir.Output(output_type=np.array([3])),
    }
    g = nir.NIRGraph(nodes=nodes, edges=[("input", "0"), ("0", "1"), ("1", "output")], type_check=False)
    for tool, dt, reset in (("sinabs", 0.01, "subtract"), ("rockpool", 1.0, None)):
        net = load_from(g, tool, dt, one_spike_per_step=True, reset=reset)
        n = net.layers[0].neuron
        assert n.reset == "subtract" and net.dt == dt
        assert np.isclose(1 - 1 / n.tau, np.exp(-1 / tau_exact))  # Euler factor = exact factor
        assert np.allclose(net.layers[0].weight, w) and np.allclose(net.layers[0].bias, [0.1, 0.0, -0.1])
    assert (
        load_from(g, "sinabs", 0.01, one_spike_per_step=True, reset="zero").layers[0].neuron.reset == "value"
    )
    with pytest.raises(
        DelaykitError, match=r"NIR node '1': sinabs writes its spiking neurons without their reset"
    ):
        load_from(g, "sinabs", 0.01, one_spike_per_step=True)
    with pytest.raises(DelaykitError, match=r"NIR node '1': rockpool's LIF has no reset to zero"):
        load_from(g, "rockpool", 0.01, one_spike_per_step=True, reset="zero")


def test_load_from_norse_current_based_if_and_li():
    """norse's LIFCell (CubaLIF: input into the current unscaled), IAFCell (IF
    written with r = 1 for a whole-input step) and LIBoxCell (LI), as its to_nir writes them."""
    dt, w = 1e-3, np.array([[0.5, -0.25], [1.0, 0.75]])
    nodes = {
        "input": nir.Input(input_type=np.array([2])),
        "0": nir.Linear(weight=w),
        "1": nir.CubaLIF(tau_syn=np.full(2, dt * 4e-3), tau_mem=np.full(2, dt * 1e-2), r=np.ones(2),
                         v_leak=np.zeros(2), v_threshold=np.ones(2)),
        "2": nir.Linear(weight=w),
        "3": nir.IF(r=np.ones(2), v_threshold=np.ones(2)),
        "4": nir.Linear(weight=w),
        "5": nir.LI(tau=np.full(2, dt * 2e-2), r=np.ones(2), v_leak=np.zeros(2)),
        "output": nir.Output(output_type=np.array([2])),
    }  # fmt: skip
    edges = [("input", "0"), ("0", "1"), ("1", "2"), ("2", "3"), ("3", "4"), ("4", "5"), ("5", "output")]
    net = load_from(nir.NIRGraph(nodes=nodes, edges=edges, type_check=False), "norse", dt)
    cuba, if_, li = (layer.neuron for layer in net.layers)
    assert np.isclose(cuba.tau, 10) and np.isclose(cuba.tau_syn, 4) and not net.layers[0].delay.any()
    assert np.allclose(net.layers[0].weight, w / 10)  # whole input into the current, dt/tau_mem to v
    assert np.allclose(net.layers[1].weight, w) and np.all(net.layers[1].delay == 0) and if_.tau > 1e18
    assert np.isclose(li.tau, 20) and np.allclose(net.layers[2].weight, w / 20)


@pytest.mark.parametrize("tool", ["rockpool", "spyx"])
def test_tools_that_cannot_run_the_contract_neuron_are_refused_unless_asked(rng, tool):
    net = random_network(rng, (4, 5, 3))
    with pytest.raises(DelaykitError, match=rf"tool '{tool}': .*cannot run the contract's"):
        graph_for(net, tool)
    assert graph_for(net, tool, approximate=True) is not None


def _norse_file(rng, path):
    """A network and the NIR file norse's ``to_nir`` would write for it (tau as dt * tau)."""
    net = random_network(rng, (6, 5, 3), max_delay=0, readout="spike_count", spiking_last=True)
    g = network_to_nir(net, r_convention="one")
    nodes = dict(g.nodes)
    for name, n in g.nodes.items():
        if type(n).__name__ == "LIF":
            nodes[name] = nir.LIF(
                tau=n.tau * net.dt, r=n.r, v_leak=n.v_leak, v_threshold=n.v_threshold, v_reset=n.v_reset
            )
    nir.write(path, nir.NIRGraph(nodes=nodes, edges=g.edges, type_check=False))
    return net


def test_cli_reads_a_tools_export_with_from(tmp_path, rng, capsys):
    """``convert to-dkn G.nir --from TOOL`` and ``sim G.nir --from TOOL``: the tool's graph as
    delaykit's network, simulated on a data file like the network it came from."""
    from delaykit.cli.main import main
    from delaykit.data.shd import BinSpec, SHDFile, write_shd
    from delaykit.network import InputSpec, load_network
    from delaykit.sim import evaluate

    g = tmp_path / "norse.nir"
    net = _norse_file(rng, g)
    dkn = tmp_path / "norse.dkn"
    assert main(["convert", "to-dkn", str(g), "--from", "norse", "--dt-ms", "10", "-o", str(dkn)]) == 0
    back = load_network(dkn)
    for a, b in zip(net.layers, back.layers, strict=True):
        assert np.isclose(a.neuron.tau, b.neuron.tau) and np.allclose(a.weight, b.weight)
    times = [np.sort(rng.random(40) * 0.2).astype(np.float32) for _ in range(12)]
    units = [rng.integers(0, 12, 40) for _ in range(12)]
    data = tmp_path / "test.h5"
    write_shd(data, times, units, rng.integers(0, 3, 12), n_units=12)
    spec = InputSpec(n_channels=6, window_steps=20, n_units=12, channel_group=2)
    with SHDFile(data, BinSpec(dt=net.dt, channel_group=2, window_steps=20), n_units=12) as ds:
        want = evaluate(replace(net, input=spec), ds, workers=1, progress=False)
    out = tmp_path / "sim.json"
    argv = ["sim", str(g), "--from", "norse", "--dt-ms", "10", "--data", str(data), "--workers", "1"]
    main([*argv, "--no-progress", "--json", str(out), "--expect", "0", "--tolerance", "100"])
    got = json.loads(out.read_text())
    assert got["accuracy"] == pytest.approx(want.accuracy) and want.predictions.size == 12


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--from", "spyx", "--dt-ms", "10"],
            r"norse\.nir: NIR node '\w+': spyx's LIF fires on the previous",
        ),
        (
            ["--from", "sinabs", "--dt-ms", "10"],
            r"norse\.nir: NIR node '\w+': .*say so \(--one-spike-per-step\)",
        ),
        (["--from", "norse"], r"norse\.nir: --from norse: .*give it with --dt-ms"),
        (["--from", "norse", "--dt-ms", "-1"], r"--dt-ms:? (-1: )?must be"),
        (["--one-spike-per-step"], r"--one-spike-per-step, --reset: apply only with --from"),
        (
            ["--from", "snntorch", "--reset", "subtract"],
            r"norse\.nir: NIR node '\w+': snntorch's reset_mechanism='subtract' subtracts",
        ),
        (
            ["--from", "snntorch"],
            r"norse\.nir: NIR node '\w+': snntorch writes .* --reset zero or --reset subtract$",
        ),
    ],
)
@pytest.mark.parametrize("verb", [["convert", "to-dkn"], ["sim"]])
def test_cli_from_refuses_in_one_line(tmp_path, rng, capsys, verb, argv, message):
    from delaykit.cli.main import main

    g = tmp_path / "norse.nir"
    _norse_file(rng, g)
    data = ["--data", str(tmp_path / "none.h5")] if verb == ["sim"] else ["-o", str(tmp_path / "x.dkn")]
    assert main([*verb, str(g), *argv, *data]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and re.search(message, err), err
    assert not (tmp_path / "x.dkn").exists()


def test_load_from_rockpool_current_and_readout_decay_after_the_input():
    """rockpool's LIFTorch (CubaLIF) and ExpSynTorch (LI) decay after adding the input
    (``i = b (i + x)``): input gain b = exp(-dt/tau); snntorch's reset is the caller's to state."""
    dt, w = 1e-3, np.array([[0.5, -0.25], [1.0, 0.75]])
    tau_syn, tau_mem = 2e-3, 5e-3
    nodes = {
        "input": nir.Input(input_type=np.array([2])),
        "0": nir.Linear(weight=w),
        "1": nir.CubaLIF(tau_syn=np.full(2, tau_syn), tau_mem=np.full(2, tau_mem), r=np.ones(2),
                         v_leak=np.zeros(2), v_threshold=np.ones(2)),
        "2": nir.Linear(weight=w),
        "3": nir.LI(tau=np.full(2, tau_mem), r=np.ones(2), v_leak=np.zeros(2)),
        "output": nir.Output(output_type=np.array([2])),
    }  # fmt: skip
    edges = [("input", "0"), ("0", "1"), ("1", "2"), ("2", "3"), ("3", "output")]
    g = nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)
    net = load_from(g, "rockpool", dt, one_spike_per_step=True)
    cuba, li = net.layers[0].neuron, net.layers[1].neuron
    assert np.isclose(1 - 1 / cuba.tau_syn, np.exp(-dt / tau_syn)) and cuba.reset == "subtract"
    assert np.isclose(1 - 1 / cuba.tau, np.exp(-dt / tau_mem)) and np.isclose(
        1 - 1 / li.tau, np.exp(-dt / tau_mem)
    )
    assert np.allclose(net.layers[0].weight, w * np.exp(-dt / tau_syn))
    assert np.allclose(net.layers[1].weight, w * np.exp(-dt / tau_mem))
    snn = nir.NIRGraph(nodes={**nodes, "1": nir.LIF(tau=np.full(2, 2e-4), r=np.full(2, 2.0), v_leak=np.zeros(2),
                                                    v_threshold=np.ones(2), v_reset=np.zeros(2))},
                       edges=edges, type_check=False)  # fmt: skip
    assert load_from(snn, "snntorch", None, reset="zero").layers[0].neuron.reset == "value"
    with pytest.raises(DelaykitError, match="reset: 'soft' is not one of"):
        load_from(snn, "snntorch", None, reset="soft")
