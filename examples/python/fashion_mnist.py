#!/usr/bin/env python3
"""Train an energy-based network on Fashion-MNIST from Python, check its gradients, plot.

    PYTHONPATH=build/python /usr/bin/python3 examples/python/fashion_mnist.py [--epochs 3] [--out runs/python]

1. trains a 784-64-10 hard-sigmoid network by Equilibrium Propagation through the tool's registry
   (ebm.train: the config as a dict, exactly what `ebm train` reads), with two Python callbacks:
   a progress line per epoch and early stopping on the validation accuracy;
2. reloads the checkpoint (ebm.load_model) and relaxes 16 test images, recording the trace;
3. runs the gradient checker (ebm.gradcheck) on a small tanh network: EP one-sided (error
   O(beta)) and symmetric (O(beta^2)) against the exact gradient, with its verdict;
4. plots the learning curves, the relaxation's energy and residual, and EP's error against beta
   with matplotlib into the output directory.
"""
import argparse
import os
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import ebm  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train-size", type=int, default=10000, help="training images (0: all 60 000)")
    parser.add_argument("--out", default="runs/python")
    parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    # --- 1. Training: the config file's tables as a dict.
    config = {
        "model": {"kind": "layered_hopfield", "sizes": [784, 64, 10], "activation": "hard_sigmoid",
                  "init_gains": [1.0, 0.5]},
        "data": {"dir": args.data, "train_size": args.train_size, "validation_size": 1000, "test_size": 2000,
                 "batch_size": 50, "epochs": args.epochs, "seed": 1},
        "relax": {"free": {"method": "fixed_point", "schedule": "synchronous", "dt": 1.0, "max_steps": 30,
                           "grad_tol": 1e-3},
                  "nudged": {"method": "fixed_point", "schedule": "synchronous", "dt": 1.0, "max_steps": 10,
                             "grad_tol": 0}},
        "estimator": {"kind": "ep", "beta": 0.2},
        "optimizer": {"method": "adam", "learning_rate": 5e-4},
        "output": {"dir": os.path.join(args.out, "train")},
    }

    def progress(metrics):  # a function: called after each epoch
        print("  python callback: " + metrics["brief"], flush=True)

    class EarlyStopping:  # an object with hooks; on_epoch_end returns True to stop
        def __init__(self, patience):
            self.best, self.since, self.patience = -1.0, 0, patience

        def on_epoch_end(self, metrics):
            if metrics["validation_accuracy"] > self.best:
                self.best, self.since = metrics["validation_accuracy"], 0
                return False
            self.since += 1
            return self.since >= self.patience

    started = time.time()
    result = ebm.train(config, callbacks=[progress, EarlyStopping(patience=2)], verbose=False)
    epochs = result["epochs"]
    print("trained %d epochs in %.1f s: test accuracy %.2f%%, checkpoint %s"
          % (len(epochs), time.time() - started, 100 * epochs[-1]["test_accuracy"], result["checkpoint"]))

    # --- 2. The trained network from its checkpoint, relaxed on test images.
    net = ebm.load_model(result["checkpoint"], scalar="double")
    images, labels = ebm.load_fashion_mnist(args.data, "t10k", scalar="double", size=16)
    s, summary, trace = net.relax(images, options=result["config"]["relax"]["free"], trace=True)
    predicted = s[net.output_block[0]:].argmax(axis=0)
    print("relaxed 16 test images: %s; %d of 16 right" % (summary.brief_report(), int((predicted == labels).sum())))

    # --- 3. The gradient checker, on a small smooth network (the hard sigmoid has no Hessian).
    report = ebm.gradcheck({"model": {"sizes": [784, 32, 10], "activation": "tanh", "scalar": "double"},
                            "data": {"dir": args.data}}, examples=4, out=os.path.join(args.out, "gradcheck"))
    rows = {(r["estimator"], r["group"]): r for r in report["report"]["rows"]}
    for name in ["ep_one_sided", "ep_symmetric"]:
        print("gradcheck %-13s order %.2f  %s" % (name, rows[(name, "all")]["order"], rows[(name, "all")]["verdict"]))
    print("gradcheck verdict:", "pass" if report.passed else "FAIL: %s" % report["report"]["failures"])

    # --- 4. Plots.
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    e = [m["epoch"] for m in epochs]
    axes[0].plot(e, [100 * m["train_accuracy"] for m in epochs], "o-", label="train (running)")
    axes[0].plot(e, [100 * m["validation_accuracy"] for m in epochs], "o-", label="validation")
    axes[0].plot(e, [100 * m["test_accuracy"] for m in epochs], "o-", label="test")
    axes[0].set(xlabel="epoch", ylabel="accuracy (%)", title="EP on Fashion-MNIST (784-64-10)", xticks=e)
    axes[0].legend()
    axes[1].semilogy(trace["step"], trace["grad_norm"], label="max |dF/ds|")
    axes[1].set(xlabel="step", ylabel="residual", title="free relaxation of 16 test images")
    twin = axes[1].twinx()
    twin.plot(trace["step"], trace["energy"], color="tab:orange", label="energy")
    twin.set_ylabel("mean energy")
    for name, style in [("ep_one_sided", "o-"), ("ep_symmetric", "s-")]:
        r = rows[(name, "all")]
        axes[2].loglog(r["sweep"]["values"], r["rel_error"], style, label="%s (order %.2f)" % (name, r["order"]))
    axes[2].set(xlabel="beta", ylabel="relative error vs the exact gradient", title="gradient check (784-32-10 tanh)")
    axes[2].legend()
    fig.tight_layout()
    path = os.path.join(args.out, "fashion_mnist.png")
    fig.savefig(path, dpi=100)
    print("wrote", path)
    return 0 if report.passed else 3


if __name__ == "__main__":
    raise SystemExit(main())
