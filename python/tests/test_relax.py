"""relax and langevin from Python: every method, their options and summaries, traces as columns,
errors with the library's messages, the GIL released while they run."""
import threading
import time

import numpy as np
import pytest

import ebm


@pytest.fixture
def net():
    return ebm.LayeredHopfield(sizes=[4, 8, 3], activation="logistic", init="glorot", init_seed=1, init_gain=2.0)


X = np.full((4, 16), 0.5)


def test_every_method_reaches_the_same_fixed_point(net):
    tight = {"grad_tol": 1e-10, "abs_tol": 1e-13, "rel_tol": 1e-12, "max_steps": 100000}
    states = {}
    for method in ["euler", "rk4", "dopri5", "fixed_point"]:
        s, summary, trace = ebm.relax(net, X, options=dict(tight, method=method))
        assert summary.converged and summary.termination == "converged", summary.full_report()
        assert summary.method == method and summary.final_grad_norm < 1e-10
        assert np.abs(net.state_gradient(s, X)).max() < 1e-9
        states[method] = s
    for s in states.values():
        np.testing.assert_allclose(s, states["rk4"], atol=1e-9)


def test_momentum_reaches_the_same_fixed_point_in_fewer_steps(net):
    # At dt = 0.5 the plain iteration creeps (42 steps); momentum 0.3 gets there in 23.
    plain = {"method": "fixed_point", "dt": 0.5, "grad_tol": 1e-10, "max_steps": 100000}
    s0, summary0, _ = ebm.relax(net, X, options=plain)
    s1, summary1, _ = ebm.relax(net, X, options=dict(plain, momentum=0.3))
    assert summary0.converged and summary1.converged, summary1.full_report()
    np.testing.assert_allclose(s1, s0, atol=1e-9)
    assert summary1.steps_accepted < summary0.steps_accepted
    with pytest.raises(ebm.InvalidOptions, match="relax.momentum applies to method fixed_point only, not rk4"):
        ebm.relax(net, X, options={"method": "rk4", "momentum": 0.5})


def test_a_relaxation_that_stops_improving_stalls(net):
    # Asked for a residual below what double rounding allows, rk4 reaches its floor and stays:
    # with stall_steps it ends there instead of spending its budget.
    options = {"method": "rk4", "dt": 0.1, "grad_tol": 1e-300, "max_steps": 1000000, "t_max": 1e6,
               "stall_steps": 200}
    s, summary, trace = ebm.relax(net, X, options=options)
    assert summary.termination.startswith("stalled"), summary.full_report()
    assert summary.final_grad_norm < 1e-12 and summary.steps_accepted < 100000
    unlimited = dict(options, stall_steps=0, max_steps=5000)
    s, summary, trace = ebm.relax(net, X, options=unlimited)
    assert summary.termination == "step budget exhausted", summary.full_report()


def test_readme_example_numbers(net):
    # examples/readme_example.cpp: "dopri5: converged after 414 steps (2 rejected), ..., F = 0.943246"
    options = {"method": "dopri5", "grad_tol": 1e-10, "abs_tol": 1e-13, "rel_tol": 1e-12}
    s, summary, trace = net.relax(X, options=options, trace=True)
    assert summary.brief_report().startswith("dopri5: converged after 414 steps (2 rejected)")
    assert "F = 0.943246" in summary.brief_report()
    assert len(trace["step"]) == summary.steps_accepted + 1
    assert trace["dstate"].shape == (len(trace["step"]), 2)
    assert set(trace["phase"]) == {"free"}
    assert np.all(np.diff(trace["energy"]) <= 1e-12)  # a gradient flow never climbs
    array, columns = ebm.trace_array(trace)
    assert columns == ["step", "t", "dt", "energy", "grad_norm", "dstate_1", "dstate_2"]
    assert array.shape == (len(trace["step"]), 7) and np.array_equal(array[:, 3], trace["energy"])


def test_nudged_phase_and_trace_schedules(net):
    s, _, _ = net.relax(X, options={"method": "rk4", "grad_tol": 1e-9})
    target = np.ones((3, 16))
    s2, summary, trace = net.relax(X, s=s, target=target, beta=0.1, options={"method": "rk4", "grad_tol": 1e-9},
                                   trace=5)
    assert summary.converged and set(trace["phase"]) == {"nudged"}
    assert np.all(trace["step"] % 5 == 0)
    # the nudge pulls the outputs towards the target
    out = slice(*[net.output_block[0], sum(net.output_block)])
    assert (s2[out] > s[out]).all()
    _, _, timed = net.relax(X, options={"method": "dopri5", "t_max": 3}, trace=[1.0, 2.0])
    assert timed["t"][:2] == pytest.approx([1.0, 2.0])
    _, _, none = net.relax(X)
    assert none is None


def test_langevin_mala(net):
    s, summary, trace = ebm.langevin(net, X, options={"method": "mala", "temperature": 1e-3, "dt": 0.05,
                                                      "steps": 200, "seed": 5}, trace=50)
    assert summary.method == "mala" and summary.steps == 200 and 0 < summary.acceptance_rate <= 1
    assert len(trace["step"]) == 5
    # same seed, same noise; another seed, other noise
    again, _, _ = net.langevin(X, options={"method": "mala", "temperature": 1e-3, "dt": 0.05, "steps": 200, "seed": 5})
    other, _, _ = net.langevin(X, options={"method": "mala", "temperature": 1e-3, "dt": 0.05, "steps": 200, "seed": 6})
    assert np.array_equal(s, again) and not np.array_equal(s, other)
    with pytest.raises(ebm.InvalidOptions, match="unknown option 'langevin.beta'"):
        net.langevin(X, options={"beta": 1})


def test_bad_input_raises_the_library_errors(net):
    with pytest.raises(ebm.InvalidOptions, match="relax.dt must be positive and finite, got -1"):
        net.relax(X, options={"dt": -1})
    with pytest.raises(ebm.InvalidOptions, match="relax.method"):
        net.relax(X, options={"method": "ula"})
    with pytest.raises(ebm.InvalidOptions, match="method"):
        net.relax(X, options={"method": "newton"})
    with pytest.raises(ebm.DimensionMismatch, match="clamped input has 5 rows but the model has 4 input units"):
        net.relax(np.zeros((5, 2)))
    with pytest.raises(ebm.DimensionMismatch, match="state has 3 rows"):
        net.relax(X, s=np.zeros((3, 16)))
    with pytest.raises(ebm.InvalidOptions, match="cost"):
        net.relax(X, target=np.ones((3, 16)), cost="hinge")
    assert issubclass(ebm.InvalidOptions, ebm.Error) and issubclass(ebm.Error, RuntimeError)


def test_divergence_carries_its_site():
    net = ebm.LayeredHopfield(sizes=[2, 3], activation="tanh")
    with pytest.raises(ebm.DivergenceError, match="diverged") as info:
        net.relax(np.ones((2, 1)), s=np.full((3, 1), 1e7), options={"method": "euler", "dt": 1e3})
    assert info.value.site["example"] == 0 and info.value.site["layer"] == 1


def test_the_gil_is_released_during_a_relaxation():
    net = ebm.LayeredHopfield(sizes=[784, 256, 10], activation="tanh")
    x = np.random.default_rng(0).random((784, 128))
    ticks = []
    done = threading.Event()

    def other():
        while not done.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.002)

    thread = threading.Thread(target=other)
    thread.start()
    start = time.perf_counter()
    net.relax(x, options={"method": "rk4", "max_steps": 150, "grad_tol": 0})
    end = time.perf_counter()
    done.set()
    thread.join()
    during = [t for t in ticks if start < t < end]
    # Python code ran in the other thread while the relaxation held no GIL (a held GIL allows
    # at most one switch per 5 ms interval, and none while inside C++).
    assert end - start > 0.05 and len(during) >= 5, (end - start, len(during))
