#!/usr/bin/env python3
"""Plots an ebm run directory: metrics.csv (learning curves), trace.csv (energy and |dF/ds|
against time, per phase; for Langevin phases the spread of the energy over the chains and MALA's
acceptance rate) and gradcheck.json / stepbystep.csv (EP's error against beta with
reference slopes, early inference against steps per layer, the step-by-step curves), whichever
exist, and sweep.csv of `ebm sweep` (every run's curve and final accuracy). Writes PNG files next to them. Needs python3-matplotlib; installs nothing."""
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
        values = [num(x[key]) for x in r]
        if all(v != v for v in values):  # a set the run did not evaluate (no validation set): no curve
            continue
        a.plot(epochs, values, marker="o", label=key)
    a.set_xlabel("epoch"); a.set_ylabel("accuracy"); a.legend(); a.grid(alpha=0.3)
    b.plot(epochs, [num(x["loss"]) for x in r], marker="o", label="train loss")
    b.plot(epochs, [num(x["test_loss"]) for x in r], marker="o", label="test loss")
    b.set_xlabel("epoch"); b.set_ylabel("loss"); b.legend(); b.grid(alpha=0.3)
    out = os.path.join(run, "learning_curves.png")
    fig.tight_layout(); fig.savefig(out, dpi=100); plt.close(fig)
    written.append(out)


def traces(run, written):
    """trace.csv: mean F and max |dF/ds| against t per phase; for Langevin phases (columns
    energy_std and acceptance) the band mean F ± its spread over the chains, and MALA's running
    acceptance rate in a third panel."""
    path = os.path.join(run, "trace.csv")
    if not os.path.exists(path):
        return
    r = rows(path)
    langevin = bool(r) and "energy_std" in r[0]
    accepts = langevin and any(x["acceptance"] != "" for x in r)
    fig, axes = plt.subplots(1, 3 if accepts else 2, figsize=(15 if accepts else 10, 4))
    a, b = axes[0], axes[1]
    for phase in sorted({x["phase"] for x in r}):
        p = [x for x in r if x["phase"] == phase]
        t = [num(x["t"]) for x in p]
        e = [num(x["energy"]) for x in p]
        line, = a.plot(t, e, label=phase)
        if langevin:
            sd = [num(x["energy_std"]) for x in p]
            if any(v == v for v in sd):
                a.fill_between(t, [m - d for m, d in zip(e, sd)], [m + d for m, d in zip(e, sd)],
                               color=line.get_color(), alpha=0.2, lw=0)
        b.semilogy(t, [max(num(x["grad_norm"]), 1e-300) for x in p], label=phase)
        if accepts:
            acc = [(tt, num(x["acceptance"])) for tt, x in zip(t, p) if x["acceptance"] != ""]
            if acc:
                axes[2].plot([u for u, _ in acc], [v for _, v in acc], label=phase)
    a.set_xlabel("t"); a.set_ylabel("mean F (band: spread over chains)" if langevin else "mean F")
    a.legend(); a.grid(alpha=0.3)
    b.set_xlabel("t"); b.set_ylabel("max |dF/ds|"); b.legend(); b.grid(alpha=0.3)
    if accepts:
        axes[2].set_xlabel("t"); axes[2].set_ylabel("MALA acceptance rate (running)")
        axes[2].set_ylim(0, 1.02); axes[2].legend(); axes[2].grid(alpha=0.3)
    out = os.path.join(run, "trace.png")
    fig.tight_layout(); fig.savefig(out, dpi=100); plt.close(fig)
    written.append(out)


def gradcheck(run, written):
    """gradcheck.json (ebm gradcheck): EP error against beta on log-log axes with reference slopes 1
    and 2 (hollow markers: points under the residual's error floor, left out of the fit; dotted: the
    floor), early inference against steps per layer, the step-by-step curves. Older runs with only
    gradcheck.csv get the error-against-beta plot."""
    path = os.path.join(run, "gradcheck.json")
    if not os.path.exists(path):
        return gradcheck_csv(run, written)
    import json
    with open(path) as f:
        d = json.load(f)
    r = [x for x in d["rows"] if x["group"].startswith("layer") or x["group"] == "all"]
    fig, ax = plt.subplots(figsize=(7, 5))
    anchors = {}
    for x in r:
        if x["sweep"]["name"] != "beta" or not x["estimator"].startswith("ep_"):
            continue
        b = x["sweep"]["values"]
        e = [v if v is not None else float("nan") for v in x["rel_error"]]
        line, = ax.loglog(b, e, marker="o", label=f"{x['estimator']} {x['group']} (order {fmt(x['order'])})")
        for bi, ei, fit in zip(b, e, x["fitted"]):
            if not fit:
                ax.loglog([bi], [ei], marker="o", mfc="white", color=line.get_color())
        fl = [v if v is not None else float("nan") for v in x["floor"]]
        if x["group"] == "all" and any(v == v for v in fl):
            ax.loglog(b, fl, linestyle=":", color=line.get_color())
        if x["group"] == "all" and x["estimator"] in ("ep_one_sided", "ep_symmetric"):
            anchors[x["estimator"]] = (b, e)
    # Reference slopes through the first point of the estimator that should follow them.
    for name, slope, style in (("ep_one_sided", 1, "k--"), ("ep_symmetric", 2, "k-.")):
        if name in anchors:
            b, e = anchors[name]
            ax.loglog(b, [e[0] * (bi / b[0]) ** slope for bi in b], style, lw=1, label=f"slope {slope}")
    ax.set_xlabel("beta"); ax.set_ylabel("relative error vs exact gradient")
    ax.set_title("EP against the exact gradient (dotted: error floor of 'all')", fontsize=9)
    ax.legend(fontsize=6); ax.grid(alpha=0.3, which="both")
    out = os.path.join(run, "gradcheck.png")
    fig.tight_layout(); fig.savefig(out, dpi=100); plt.close(fig)
    written.append(out)

    layers = sorted({x["group"] for x in r if x["group"].startswith("layer")})
    ei = [x for x in r if x["sweep"]["name"] == "steps"]
    if ei and layers:
        fig, axes = plt.subplots(1, len(layers), figsize=(4.5 * len(layers), 4), squeeze=False)
        for a, layer in zip(axes[0], layers):
            for x in ei:
                if x["group"] != layer or x["estimator"] == "early_inference_half_beta_vs_bptt":
                    continue
                e = [v if v is not None else float("nan") for v in x["rel_error"]]
                a.loglog(x["sweep"]["values"], e, marker="o", label=x["estimator"])
            a.set_title(layer); a.set_xlabel("steps after the nudge"); a.set_ylabel("relative error")
            a.grid(alpha=0.3, which="both"); a.legend(fontsize=6)
        out = os.path.join(run, "gradcheck_early_inference.png")
        fig.tight_layout(); fig.savefig(out, dpi=100); plt.close(fig)
        written.append(out)

    lv = [x for x in r if x["sweep"]["name"] == "T"]
    if lv:
        names = sorted({x["estimator"] for x in lv})
        fig, axes = plt.subplots(1, len(names), figsize=(4.5 * len(names), 4), squeeze=False)
        for a, name in zip(axes[0], names):
            for x in lv:
                if x["estimator"] != name:
                    continue
                e = [v if v is not None else float("nan") for v in x["rel_error"]]
                a.loglog(x["sweep"]["values"], e, marker="o", label=f"{x['group']} (order {fmt(x['order'])})")
            ts = lv[0]["sweep"]["values"]
            a.set_title(name, fontsize=8); a.set_xlabel("temperature T")
            a.set_ylabel("relative error vs deterministic"); a.grid(alpha=0.3, which="both"); a.legend(fontsize=6)
        out = os.path.join(run, "gradcheck_langevin.png")
        fig.tight_layout(); fig.savefig(out, dpi=100); plt.close(fig)
        written.append(out)

    sbs = os.path.join(run, "stepbystep.csv")
    if os.path.exists(sbs):
        rs = rows(sbs)
        beta = min(num(x["beta"]) for x in rs)
        p = [x for x in rs if num(x["beta"]) == beta]
        fig, ax = plt.subplots(figsize=(6, 4))
        for layer in sorted({x["layer"] for x in p}):
            q = [x for x in p if x["layer"] == layer]
            line, = ax.plot([num(x["t"]) for x in q], [num(x["ep_norm"]) for x in q], marker="o",
                            label=f"EP {layer}")
            ax.plot([num(x["t"]) for x in q], [num(x["bptt_norm"]) for x in q], "--", marker="x",
                    color=line.get_color(), label=f"-BPTT {layer}")
        ax.set_xlabel("t (nudged step; BPTT at T - t)"); ax.set_ylabel("norm of the neural update")
        ax.set_title(f"step by step, beta = {beta:g}", fontsize=9)
        ax.legend(fontsize=7); ax.grid(alpha=0.3)
        out = os.path.join(run, "gradcheck_step_by_step.png")
        fig.tight_layout(); fig.savefig(out, dpi=100); plt.close(fig)
        written.append(out)


def fmt(x):
    return "-" if x is None else f"{x:.2f}"


def gradcheck_csv(run, written):
    path = os.path.join(run, "gradcheck.csv")
    if not os.path.exists(path):
        return
    r = rows(path)
    fig, ax = plt.subplots(figsize=(6, 4))
    for est in sorted({x["estimator"] for x in r if x["setting"] == "beta"}):
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


def sweep(run, written):
    """sweep.csv of `ebm sweep`: every run's test accuracy against epochs (from its metrics.csv),
    labelled by the fields the sweep varies, and the final test accuracies side by side."""
    path = os.path.join(run, "sweep.csv")
    if not os.path.exists(path):
        return
    r = rows(path)
    fixed = {"run", "status", "dir"}
    metrics_start = list(r[0].keys()).index("epoch") if r and "epoch" in r[0] else None
    keys = list(r[0].keys())[:metrics_start] if r else []
    fields = [k for k in keys if k not in fixed]
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.5))
    labels, finals = [], []
    for x in r:
        label = " ".join(f"{k.split('.')[-1]}={x[k]}" for k in fields if x[k] != "") or x["run"]
        labels.append(label)
        finals.append(num(x.get("test_accuracy", "nan")))
        m = os.path.join(run, x["dir"], "metrics.csv")
        if os.path.exists(m):
            mr = rows(m)
            a.plot([num(y["epoch"]) for y in mr], [100 * num(y["test_accuracy"]) for y in mr], marker="o", label=label)
    a.set_xlabel("epoch"); a.set_ylabel("test accuracy (%)"); a.grid(alpha=0.3)
    if finals:
        a.legend(fontsize=7)
    b.barh(range(len(finals)), [100 * f for f in finals])
    b.set_yticks(range(len(finals))); b.set_yticklabels(labels, fontsize=7)
    b.set_xlabel("final test accuracy (%)"); b.grid(alpha=0.3, axis="x")
    out = os.path.join(run, "sweep.png")
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
    sweep(run, written)
    if not written:
        sys.exit(f"error: {run} holds none of metrics.csv, trace.csv, gradcheck.csv, sweep.csv")
    for w in written:
        print("wrote", w)


if __name__ == "__main__":
    main()
