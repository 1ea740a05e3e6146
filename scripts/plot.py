#!/usr/bin/env python3
"""Plots an ebm run directory: metrics.csv (learning curves), trace.csv (energy and |dF/ds|
against time, per phase) and gradcheck.csv (per-layer gradient error against beta), whichever
exist. Writes PNG files next to them. Needs python3-matplotlib; installs nothing."""
import csv
import os
import sys

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    sys.exit("error: plot.py needs matplotlib (Debian: apt-get install python3-matplotlib)")


def rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def num(x):
    try:
        return float(x)
    except ValueError:
        return float("nan")


def learning_curves(run, written):
    path = os.path.join(run, "metrics.csv")
    if not os.path.exists(path):
        return
    r = rows(path)
    epochs = [num(x["epoch"]) for x in r]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for key in ("train_accuracy", "eval_train_accuracy", "validation_accuracy", "test_accuracy"):
        a.plot(epochs, [num(x[key]) for x in r], marker="o", label=key)
    a.set_xlabel("epoch"); a.set_ylabel("accuracy"); a.legend(); a.grid(alpha=0.3)
    b.plot(epochs, [num(x["loss"]) for x in r], marker="o", label="train loss")
    b.plot(epochs, [num(x["test_loss"]) for x in r], marker="o", label="test loss")
    b.set_xlabel("epoch"); b.set_ylabel("loss"); b.legend(); b.grid(alpha=0.3)
    out = os.path.join(run, "learning_curves.png")
    fig.tight_layout(); fig.savefig(out, dpi=100); plt.close(fig)
    written.append(out)


def traces(run, written):
    path = os.path.join(run, "trace.csv")
    if not os.path.exists(path):
        return
    r = rows(path)
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    for phase in sorted({x["phase"] for x in r}):
        p = [x for x in r if x["phase"] == phase]
        t = [num(x["t"]) for x in p]
        a.plot(t, [num(x["energy"]) for x in p], label=phase)
        b.semilogy(t, [max(num(x["grad_norm"]), 1e-300) for x in p], label=phase)
    a.set_xlabel("t"); a.set_ylabel("mean F"); a.legend(); a.grid(alpha=0.3)
    b.set_xlabel("t"); b.set_ylabel("max |dF/ds|"); b.legend(); b.grid(alpha=0.3)
    out = os.path.join(run, "trace.png")
    fig.tight_layout(); fig.savefig(out, dpi=100); plt.close(fig)
    written.append(out)


def gradcheck(run, written):
    path = os.path.join(run, "gradcheck.csv")
    if not os.path.exists(path):
        return
    r = rows(path)
    fig, ax = plt.subplots(figsize=(6, 4))
    for est in sorted({x["estimator"] for x in r}):
        for group in sorted({x["group"] for x in r if x["group"].startswith("layer")}):
            p = [x for x in r if x["estimator"] == est and x["group"] == group]
            if p:
                ax.loglog([num(x["value"]) for x in p], [num(x["relative_error"]) for x in p], marker="o",
                          label=f"{est} {group}")
    ax.set_xlabel("beta"); ax.set_ylabel("relative error vs exact gradient"); ax.legend(fontsize=7)
    ax.grid(alpha=0.3, which="both")
    out = os.path.join(run, "gradcheck.png")
    fig.tight_layout(); fig.savefig(out, dpi=100); plt.close(fig)
    written.append(out)


def main():
    run = sys.argv[1] if len(sys.argv) > 1 else "run"
    if not os.path.isdir(run):
        sys.exit(f"error: run directory {run} does not exist")
    written = []
    learning_curves(run, written)
    traces(run, written)
    gradcheck(run, written)
    if not written:
        sys.exit(f"error: {run} holds none of metrics.csv, trace.csv, gradcheck.csv")
    for w in written:
        print("wrote", w)


if __name__ == "__main__":
    main()
