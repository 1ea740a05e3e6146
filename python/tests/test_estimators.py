"""Every learning rule from Python, checked against the exact gradient, which is checked against
finite differences of J(theta) = C(s*(theta), d)."""
import numpy as np
import pytest

import ebm
from conftest import finite_difference

TIGHT = {"method": "rk4", "dt": 0.2, "grad_tol": 1e-12, "max_steps": 100000}


def config(kind, **options):
    return {"estimator": dict(options, kind=kind), "relax": {"free": TIGHT, "nudged": TIGHT}}


@pytest.fixture
def problem():
    net = ebm.LayeredHopfield(sizes=[5, 6, 3], activation="tanh", init="glorot", init_seed=3, init_gain=1.5)
    rng = np.random.default_rng(2)
    x = rng.random((5, 4))
    target = ebm.one_hot([0, 2, 1, 2], 3)
    return net, x, target


def cost(net, x, target):
    s, _, _ = net.relax(x, options=TIGHT)
    y = s[net.output_block[0]:]
    return 0.5 * ((y - target) ** 2).sum()


def test_exact_gradient_against_finite_differences(problem):
    net, x, target = problem
    s, _, _ = net.relax(x, options=TIGHT)
    grad, lam = net.implicit_gradient(s, x, target)
    theta = net.params.copy()

    def j(t):
        net.params = t
        return cost(net, x, target)

    fd = finite_difference(j, theta, h=1e-5)
    net.params = theta
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-8)
    assert lam.shape == s.shape
    # the exact gradient as an estimator (recurrent backprop) is the same thing
    g2, summary, _ = net.estimate(x, target, config("recurrent_backprop"))
    np.testing.assert_allclose(g2, grad, rtol=1e-8, atol=1e-12)
    assert summary.examples == 4


def relative_error(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def test_every_rule_approaches_the_exact_gradient(problem):
    net, x, target = problem
    exact, _, _ = net.estimate(x, target, config("recurrent_backprop"))
    errors = {}
    for kind, options in [("ep", {"beta": 1e-3, "variant": "symmetric"}), ("ep", {"beta": 1e-3}),
                          ("early_inference", {"beta": 1e-3, "steps": 200, "dt": 0.5}),
                          ("bptt", {"steps": 400, "dt": 0.2})]:
        g, summary, s = net.estimate(x, target, config(kind, **options))
        assert summary.free_phase.converged
        errors[kind + str(options)] = relative_error(g, exact)
    assert max(errors.values()) < 1e-2, errors
    # the rules that apply to every energy model also run (and CHL's update has another scale)
    for kind in ["chl", "stochastic_ep"]:
        g, summary, _ = net.estimate(x, target, config(kind))
        assert g.shape == exact.shape and np.isfinite(g).all()


def test_ep_error_halves_with_beta(problem):
    net, x, target = problem
    exact, _, _ = net.estimate(x, target, config("recurrent_backprop"))
    e1 = relative_error(net.estimate(x, target, config("ep", beta=0.02))[0], exact)
    e2 = relative_error(net.estimate(x, target, config("ep", beta=0.01))[0], exact)
    assert e1 / e2 == pytest.approx(2, rel=0.1)


def test_rule_errors(problem):
    net, x, target = problem
    with pytest.raises(ebm.InvalidOptions, match='estimator.kind = "backprop" is not a registered learning rule'):
        net.estimate(x, target, {"estimator": {"kind": "backprop"}})
    with pytest.raises(ebm.InvalidOptions, match="estimator.beta"):
        net.estimate(x, target, {"estimator": {"kind": "ep", "beta": -1}})
    xs = ebm.XieSeung(sizes=[5, 6, 3])
    with pytest.raises(ebm.InvalidOptions, match="does not apply to this model"):
        xs.estimate(x, target, {"estimator": {"kind": "ep"}})
    g, summary, _ = xs.estimate(x, target, {"estimator": {"kind": "chl"}})
    assert g.shape == xs.params.shape


def test_toml_text_config(problem):
    net, x, target = problem
    text = """
[estimator]
kind = "ep"
beta = 0.05
[relax.free]
method = "rk4"
grad_tol = 1e-10
"""
    g_text, _, _ = net.estimate(x, target, text)
    g_dict, _, _ = net.estimate(x, target, {"estimator": {"kind": "ep", "beta": 0.05},
                                            "relax": {"free": {"method": "rk4", "grad_tol": 1e-10}}})
    assert np.array_equal(g_text, g_dict)
    with pytest.raises(ebm.InvalidOptions, match="config:3"):
        net.estimate(x, target, "[estimator]\nkind = 'ep'\nbeta = = 1\n")
