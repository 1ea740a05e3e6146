"""An energy written in Python (ebm.PythonEnergy): the layered Hopfield energy in NumPy agrees
with the C++ model, its gradients with finite differences, EP on it with the derivative of
J(theta) = C(s*(theta), d), and it relaxes under every solver and trains by EP."""
import numpy as np
import pytest

import ebm
from conftest import finite_difference

SIZES = [4, 5, 3]


def hopfield_in_numpy(sizes, params):
    """E = 1/2 sum |s_k|^2 - sum rho(s_k)^T W_k rho(s_{k-1}) - sum b_k^T rho(s_k), rho = tanh,
    the input entering as it is; parameters laid out as LayeredHopfield's (W1, W2, b1, b2, column-major)."""
    layers = len(sizes) - 1
    shapes, offset = [], 0
    for k in range(1, layers + 1):
        shapes.append(("W%d" % k, offset, sizes[k], sizes[k - 1]))
        offset += sizes[k] * sizes[k - 1]
    for k in range(1, layers + 1):
        shapes.append(("b%d" % k, offset, sizes[k], 1))
        offset += sizes[k]
    rows = np.cumsum([0] + sizes[1:])

    def unpack(theta):
        W = [theta[o:o + r * c].reshape((r, c), order="F") for _, o, r, c in shapes[:layers]]
        b = [theta[o:o + r] for _, o, r, _ in shapes[layers:]]
        return W, b

    def split(s):
        return [s[rows[k]:rows[k + 1]] for k in range(layers)]

    def energy(s, x, theta):
        W, b = unpack(theta)
        u = split(s)
        r = [x] + [np.tanh(v) for v in u]
        e = 0.5 * (s * s).sum(0)
        for k in range(layers):
            e -= (r[k + 1] * (W[k] @ r[k])).sum(0) + b[k] @ r[k + 1]
        return e

    def state_gradient(s, x, theta):
        W, b = unpack(theta)
        u = split(s)
        r = [x] + [np.tanh(v) for v in u]
        g = s.copy()
        for k in range(layers):
            drive = W[k] @ r[k] + b[k][:, None]
            if k + 1 < layers:
                drive += W[k + 1].T @ r[k + 2]
            g[rows[k]:rows[k + 1]] -= (1 - r[k + 1] ** 2) * drive
        return g

    def param_gradient(s, x, theta):
        u = split(s)
        r = [x] + [np.tanh(v) for v in u]
        parts = [-(r[k + 1] @ r[k].T).ravel(order="F") for k in range(layers)]
        parts += [-r[k + 1].sum(1) for k in range(layers)]
        return np.concatenate(parts)

    def hessian_vector(s, x, theta, v):
        W, b = unpack(theta)
        r = [x] + [np.tanh(u) for u in split(s)]
        d1 = [None] + [1 - q ** 2 for q in r[1:]]
        vs = split(v)
        hv = v.copy()
        for k in range(layers):
            drive = W[k] @ r[k] + b[k][:, None]
            if k + 1 < layers:
                drive += W[k + 1].T @ r[k + 2]
            coupled = np.zeros_like(vs[k])
            if k > 0:
                coupled += W[k] @ (d1[k] * vs[k - 1])
            if k + 1 < layers:
                coupled += W[k + 1].T @ (d1[k + 2] * vs[k + 1])
            d2 = -2 * r[k + 1] * d1[k + 1]
            hv[rows[k]:rows[k + 1]] -= d2 * drive * vs[k] + d1[k + 1] * coupled
        return hv

    def mixed_vector(s, x, theta, v):
        r = [x] + [np.tanh(u) for u in split(s)]
        d1v = [None] + [(1 - q ** 2) * w for q, w in zip(r[1:], split(v))]
        parts = []
        for k in range(layers):
            gw = -(d1v[k + 1] @ r[k].T)
            if k > 0:
                gw -= r[k + 1] @ d1v[k].T
            parts.append(gw.ravel(order="F"))
        parts += [-d1v[k + 1].sum(1) for k in range(layers)]
        return np.concatenate(parts)

    energy.second_order = (hessian_vector, mixed_vector)
    return energy, state_gradient, param_gradient, shapes


@pytest.fixture
def pair():
    net = ebm.LayeredHopfield(sizes=SIZES, activation="tanh", init="glorot", init_seed=5, init_gain=1.5)
    energy, state_gradient, param_gradient, blocks = hopfield_in_numpy(SIZES, net.params)
    py = ebm.PythonEnergy(sum(SIZES[1:]), SIZES[0], energy, state_gradient, param_gradient,
                          params=net.params.copy(), layers=SIZES[1:], blocks=blocks)
    rng = np.random.default_rng(3)
    return net, py, rng.random((4, 6)), ebm.one_hot([0, 1, 2, 0, 1, 2], 3)


def test_python_energy_matches_the_cpp_model(pair):
    net, py, x, _ = pair
    s = np.random.default_rng(4).standard_normal((8, 6))
    np.testing.assert_allclose(py.energy(s, x), net.energy(s, x), rtol=1e-12)
    np.testing.assert_allclose(py.state_gradient(s, x), net.state_gradient(s, x), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(py.param_gradient(s, x), net.param_gradient(s, x), rtol=1e-12, atol=1e-14)
    assert py.param_blocks == net.param_blocks and py.layer_blocks == net.layer_blocks


def test_python_energy_against_finite_differences(pair):
    _, py, x, _ = pair
    s = np.random.default_rng(5).standard_normal((8, 6))
    fd = finite_difference(lambda v: py.energy(v.reshape(s.shape), x).sum(), s.ravel()).reshape(s.shape)
    np.testing.assert_allclose(py.state_gradient(s, x), fd, rtol=1e-6, atol=1e-8)
    theta = py.params.copy()

    def energy_of(t):
        py.params = t
        return py.energy(s, x).sum()

    fd = finite_difference(energy_of, theta)
    py.params = theta
    np.testing.assert_allclose(py.param_gradient(s, x), fd, rtol=1e-6, atol=1e-8)


def test_relaxes_under_every_solver_like_the_cpp_model(pair):
    net, py, x, target = pair
    for method in ["euler", "rk4", "dopri5", "fixed_point"]:
        options = {"method": method, "grad_tol": 1e-10, "dt": 0.2}
        s_py, summary_py, trace = py.relax(x, options=options, trace=True)
        s_cpp, summary_cpp, _ = net.relax(x, options=options)
        assert summary_py.converged and summary_cpp.converged
        if method != "dopri5":  # its step control sees rounding differences (NumPy's sums, not Eigen's)
            assert summary_py.steps_accepted == summary_cpp.steps_accepted
        np.testing.assert_allclose(s_py, s_cpp, atol=1e-9)
        assert len(trace["energy"]) == summary_py.steps_accepted + 1
    s, summary, _ = py.relax(x, target=target, beta=0.5, options={"method": "rk4", "grad_tol": 1e-10})
    assert summary.converged
    s, summary, _ = py.langevin(x, options={"method": "ula", "steps": 50, "temperature": 1e-3, "seed": 1})
    assert summary.steps == 50


def test_ep_on_a_python_energy_against_finite_differences_of_the_cost(pair):
    _, py, x, target = pair
    tight = {"method": "rk4", "dt": 0.2, "grad_tol": 1e-12, "max_steps": 100000}
    grad, summary, s = py.estimate(x, target, {"estimator": {"kind": "ep", "beta": 1e-3, "variant": "symmetric"},
                                               "relax": {"free": tight, "nudged": tight}})
    theta = py.params.copy()

    def j(t):
        py.params = t
        s, _, _ = py.relax(x, options=tight)
        return 0.5 * ((s[5:] - target) ** 2).sum()

    fd = finite_difference(j, theta, h=1e-5)
    py.params = theta
    assert np.linalg.norm(grad - fd) / np.linalg.norm(fd) < 1e-4


def test_exact_gradient_and_bptt_of_a_python_energy(pair):
    net, _, x, target = pair
    energy, state_gradient, param_gradient, blocks = hopfield_in_numpy(SIZES, net.params)
    hessian_vector, mixed_vector = energy.second_order
    py = ebm.PythonEnergy(8, 4, energy, state_gradient, param_gradient, params=net.params.copy(), layers=SIZES[1:],
                          blocks=blocks, hessian_vector=hessian_vector, mixed_vector=mixed_vector)
    rng = np.random.default_rng(6)
    s, v = rng.standard_normal((8, 6)), rng.standard_normal((8, 6))
    np.testing.assert_allclose(py.hessian_vector(s, x, v), net.hessian_vector(s, x, v), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(py.mixed_vector(s, x, v), net.mixed_vector(s, x, v), rtol=1e-10, atol=1e-12)
    tight = {"method": "rk4", "dt": 0.2, "grad_tol": 1e-12, "max_steps": 100000}
    config = {"estimator": {"kind": "recurrent_backprop"}, "relax": {"free": tight, "nudged": tight}}
    g_py, _, _ = py.estimate(x, target, config)
    g_cpp, _, _ = net.estimate(x, target, config)
    np.testing.assert_allclose(g_py, g_cpp, rtol=1e-8, atol=1e-12)
    config["estimator"] = {"kind": "bptt", "steps": 400, "dt": 0.2}
    g_bptt, _, _ = py.estimate(x, target, config)
    assert np.linalg.norm(g_bptt - g_cpp) / np.linalg.norm(g_cpp) < 1e-6
    without = ebm.PythonEnergy(8, 4, energy, state_gradient, param_gradient, params=net.params.copy(),
                               layers=SIZES[1:])
    with pytest.raises(ebm.InvalidOptions, match="no (hessian|mixed)_vector was given"):
        without.estimate(x, target, config)


def test_a_python_error_propagates(pair):
    _, _, x, _ = pair

    def broken(s, x, theta):
        raise ZeroDivisionError("in my energy")

    py = ebm.PythonEnergy(8, 4, broken, broken)
    with pytest.raises(ZeroDivisionError, match="in my energy"):
        py.relax(x)
    wrong = ebm.PythonEnergy(8, 4, lambda s, x, t: s.sum(0), lambda s, x, t: s[:3])
    with pytest.raises(ebm.DimensionMismatch, match="state_gradient returned a 3 x 6 array"):
        wrong.relax(x)
    with pytest.raises(ebm.InvalidOptions, match="the layers hold 7 units but state_size is 8"):
        ebm.PythonEnergy(8, 4, broken, broken, layers=[3, 4])


def test_trains_by_ep_with_callbacks(small_data):
    sizes = [784, 16, 10]
    net = ebm.LayeredHopfield(sizes=sizes, activation="tanh", init_seed=1)
    energy, state_gradient, param_gradient, blocks = hopfield_in_numpy(sizes, net.params)
    py = ebm.PythonEnergy(26, 784, energy, state_gradient, param_gradient, params=net.params.copy(),
                          layers=sizes[1:], blocks=blocks)
    images, labels = ebm.load_idx(str(small_data / "images"), str(small_data / "labels"), scalar="double")
    config = {"data": {"batch_size": 20, "epochs": 3, "eval_train_size": 100},
              "relax": {"free": {"max_steps": 20, "method": "fixed_point", "dt": 0.5},
                        "nudged": {"max_steps": 10, "method": "fixed_point", "dt": 0.5}},
              "estimator": {"kind": "ep", "beta": 0.2}, "optimizer": {"learning_rate": 0.02}}
    seen = []

    class Stop:
        def on_batch(self, batch, batches, loss, accuracy):
            seen.append(batch)

        def on_epoch_end(self, metrics):
            return metrics["epoch"] == 2  # early stopping from Python

    before = py.params.copy()
    history = py.train(images[:, :200], labels[:200], config, callbacks=[Stop()], test=(images[:, 200:], labels[200:]))
    assert [m["epoch"] for m in history] == [1, 2]
    assert len(seen) == 20 and not np.array_equal(before, py.params)
    assert history[1]["test_accuracy"] > 0.3
    # Arrays carry no image shape: augmenting them needs data.image_shape, and says so.
    config["data"].update({"epochs": 1, "augment_shift": 2})
    with pytest.raises(ebm.InvalidOptions, match="set data.image_shape"):
        py.train(images[:, :200], labels[:200], config)
    config["data"]["image_shape"] = [1, 28, 28]
    moved = py.params.copy()
    assert len(py.train(images[:, :200], labels[:200], config)) == 1
    assert not np.array_equal(moved, py.params)
