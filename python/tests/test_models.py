"""Models from Python: every registered kind, parameters and blocks as NumPy views (no copy),
energies and gradients against finite differences."""
import numpy as np
import pytest

import ebm
from conftest import finite_difference


# Options of a small network of every kind, with its input and state sizes; a kind missing here (or
# without a Python class) fails the test below.
SMALL = {
    "layered_hopfield": (dict(sizes=[5, 4, 3]), 5, 7),
    "xie_seung": (dict(sizes=[5, 4, 3]), 5, 7),
    "predictive_coding": (dict(sizes=[5, 4, 3]), 5, 7),
    # 1x4x4 input, 2 channels 3x3 pad 1 pooled 2x2 (2x2x2 = 8 units), dense 3
    "conv_hopfield": (dict(input_shape=[1, 4, 4], channels=[2], kernels=[3], paddings=[1], pools=[2], dense=[3]), 16, 11),
}


def test_every_registered_kind_builds():
    for kind in ebm.kinds()["models"]:
        assert kind in SMALL, "no small network for model.kind = %s in this test" % kind
        options, inputs, states = SMALL[kind]
        model = ebm.make_model(kind, **options)
        assert model.kind == kind
        assert model.state_size == states and model.input_size == inputs
        assert model.params.size == sum(r * c for _, _, r, c in model.param_blocks)


def test_params_and_blocks_are_views_without_copies():
    net = ebm.LayeredHopfield(sizes=[4, 6, 3], activation="tanh", init_seed=2)
    params = net.params
    blocks = net.blocks()
    assert np.shares_memory(params, net.params)
    assert all(np.shares_memory(b, params) for b in blocks.values())
    assert blocks["W1"].shape == (6, 4) and blocks["b1"].shape == (6,)
    blocks["W1"][2, 3] = 0.25  # writes through to the model (column-major, as Eigen stores it)
    name, offset, rows, cols = net.param_blocks[0]
    assert name == "W1" and params[offset + 3 * rows + 2] == 0.25
    net.params = np.zeros(params.size)
    assert not blocks["W2"].any()
    with pytest.raises(ebm.DimensionMismatch, match="params has"):
        net.params = np.zeros(3)


def test_float_model_is_float32():
    net = ebm.LayeredHopfieldFloat(sizes=[4, 6, 3], activation="logistic")
    assert net.scalar == "float" and net.params.dtype == np.float32
    s, summary, _ = net.relax(np.full((4, 2), 0.5, dtype=np.float32))
    assert s.dtype == np.float32 and summary.examples == 2


def test_copy_is_independent():
    net = ebm.LayeredHopfield(sizes=[4, 6, 3])
    other = net.copy()
    other.params[:] = 0
    assert net.params.any()


def test_gradients_against_finite_differences():
    rng = np.random.default_rng(1)
    net = ebm.LayeredHopfield(sizes=[3, 5, 2], activation="tanh", init_seed=4, init_gain=2.0)
    x = rng.random((3, 4))
    s = rng.standard_normal((7, 4)) * 0.5

    g = net.state_gradient(s, x)
    fd = finite_difference(lambda v: net.energy(v.reshape(s.shape), x).sum(), s.ravel()).reshape(s.shape)
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)

    theta = net.params.copy()

    def energy_of(t):
        net.params = t
        return net.energy(s, x).sum()

    fd = finite_difference(energy_of, theta)
    net.params = theta
    np.testing.assert_allclose(net.param_gradient(s, x), fd, rtol=1e-6, atol=1e-8)

    v = rng.standard_normal(s.shape)
    fd = (net.state_gradient(s + 1e-6 * v, x) - net.state_gradient(s - 1e-6 * v, x)) / 2e-6
    np.testing.assert_allclose(net.hessian_vector(s, x, v), fd, rtol=1e-5, atol=1e-7)


def test_model_options_are_checked_by_name():
    with pytest.raises(ebm.InvalidOptions, match="unknown config key 'model.gamma'"):
        ebm.LayeredHopfield(sizes=[3, 2], gamma=0.5)
    with pytest.raises(ebm.InvalidOptions, match="activation"):
        ebm.LayeredHopfield(sizes=[3, 2], activation="relu")
