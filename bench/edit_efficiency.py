"""Sample efficiency of edits (issue 21; the Delta-GAN-Encoder paper's headline): DGE trained on 1, 2, 5,
10 and 20 heads of a data file against InterFaceGAN trained on as many oracle-scored samples, and on
10 000. For every count: accuracy (relative error, slope), identity drift read by the oracle **and** by
the judge (which nothing trains against), and leakage, on held-out samples of G.

    python bench/edit_efficiency.py --network synthheads128 --attribute yaw --data runs/dge128/yaw_data.npz \
        --json runs/efficiency_yaw.json --figure docs/edit_efficiency_yaw.png

"As many scored samples": a DGE head is a sequence of F inverted frames whose attribute values are known,
so n heads are n·F labelled images; InterFaceGAN gets n·F mapped samples scored by the oracle. With so few,
its classes are the top and bottom halves by score, all used for training (`split=1`, no validation);
the 10 000-sample reference keeps the library's 2 % per class. Both are calibrated the same way (the
oracle on 64 other held-out samples: `make_edit`, `interfacegan`), so strengths are in the attribute's
unit for both. Each count is repeated on `--repeats` draws (different heads / samples); figures are
means with the spread (std) beside.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE] + [str(_HERE.parent)]

import numpy as np
import torch

import stylegan
from edits.evaluate import bench_strengths, evaluate_edit, summarise
from sgtcore.machine import cpu_description
from sgtcore.registry import DEFAULT_GENERATOR

KEYS = ("mean_relative_error", "slope", "identity_drift", "judge_identity_drift", "drift_per_unit", "leakage")


def dge_edit(G, oracle, data, heads: list[int], steps: int, seed: int, terms: str = "auto"):
    """DGE trained (library defaults, `steps`; `terms` 'off': the paper's code loss alone) on these heads of
    `data`, calibrated."""
    from edits.delta import DeltaTrainConfig, make_edit, train_delta

    sub = data.select(heads)
    net, _ = train_delta(sub, G, DeltaTrainConfig(steps=steps, seed=seed, terms=terms), progress=False)
    return make_edit(net, sub, G, oracle=oracle)


def ifg_edit(G, oracle, attribute: str, num_samples: int, seed: int):
    """InterFaceGAN on `num_samples` oracle-scored samples (halves with split=1 below 1 000; the library's
    2 % per class at and above), calibrated."""
    from edits.directions.interfacegan import interfacegan

    small = num_samples < 1000
    fraction = (num_samples // 2) / num_samples if small else 0.02
    return interfacegan(G, attribute, num_samples=num_samples, fraction=fraction, split=1.0 if small else 0.7,
                        seed=seed, oracle=oracle)


def measure(G, oracle, judge, edit, attribute: str, num: int) -> dict:
    rows = evaluate_edit(G, edit, bench_strengths(attribute), oracle=oracle, num=num, judge=judge)
    return {"rows": rows, "summary": summarise(rows)}


def aggregate(runs: list[dict]) -> dict:
    """Mean and std over repeats of each summary figure."""
    out = {}
    for k in KEYS:
        v = [r["summary"][k] for r in runs if k in r["summary"]]
        if v:
            out[k], out[k + "_std"] = float(np.mean(v)), float(np.std(v))
    return out


def draws(total: int, n: int, repeats: int, seed: int) -> list[list[int]]:
    """`repeats` sets of `n` heads out of `total`: disjoint while they fit, then seeded random draws."""
    out = [list(range(r * n, (r + 1) * n)) for r in range(min(repeats, total // n))]
    rng = np.random.default_rng(seed)
    while len(out) < repeats:
        out.append(sorted(rng.choice(total, n, replace=False).tolist()))
    return out


def figure(report: dict, path: Path) -> None:
    """Three panels against the count: relative error, judge identity drift, leakage (log x)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = [int(c) for c in report["counts"]]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    panels = [("mean_relative_error", "relative error"), ("judge_identity_drift", "identity drift (judge)"),
              ("leakage", "leakage (10° / 0.1 units)")]
    for ax, (key, label) in zip(axes, panels):
        for method, style in (("dge", "o-"), ("interfacegan", "s--")):
            m = [report["methods"][method][str(c)].get(key, np.nan) for c in counts]
            s = [report["methods"][method][str(c)].get(key + "_std", 0.0) for c in counts]
            x = [c * report["frames"] for c in counts]  # labelled images: heads × frames = scored samples
            ax.errorbar(x, m, yerr=s, fmt=style, capsize=3, label=method)
        ref = report.get("reference", {}).get("summary", {})
        if key in ref:
            ax.axhline(ref[key], color="gray", linestyle=":", label=f"interfacegan, {report['reference']['samples']}")
        ax.set_xscale("log")
        ax.set_xticks([c * report["frames"] for c in counts], [str(c * report["frames"]) for c in counts])
        ax.minorticks_off()
        ax.set_xlabel(f"labelled images (DGE: heads × {report['frames']} frames)")
        ax.set_title(label)
    axes[0].legend(fontsize=7)
    fig.suptitle(f"{report['attribute']} on {report['network']}: sample efficiency", fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--network", default=DEFAULT_GENERATOR)
    ap.add_argument("--attribute", default="yaw")
    ap.add_argument("--data", required=True, help="a DGE data file of --network (sgt train-delta writes one)")
    ap.add_argument("--counts", default="1,2,5,10,20", help="training heads per DGE run")
    ap.add_argument("--repeats", type=int, default=3, help="draws per count")
    ap.add_argument("--reference", type=int, default=10_000, help="InterFaceGAN's many-sample reference (0: skip)")
    ap.add_argument("--num", type=int, default=100, help="held-out samples each edit is measured on")
    ap.add_argument("--steps", type=int, default=None, help="DGE training steps (default: the library's)")
    ap.add_argument("--terms", choices=["auto", "off"], default="auto",
                    help="DGE's image-space terms: the library's (auto) or the paper's code loss alone (off)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=None)
    ap.add_argument("--figure", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from edits.delta import DeltaTrainConfig
    from edits.delta.data import load as load_data
    from synthetic import judge as judge_mod
    from synthetic import oracle as oracle_mod

    G = stylegan.load(args.network)
    oracle, judge = oracle_mod.load(), judge_mod.load()
    data = load_data(args.data, G)
    if data.attribute != args.attribute:
        raise SystemExit(f"{args.data} holds {data.attribute} sequences, not {args.attribute}")
    counts = [int(c) for c in args.counts.split(",")]
    if max(counts) > data.heads:
        raise SystemExit(f"{args.data} has {data.heads} heads; the counts ask for up to {max(counts)}")
    steps = args.steps or DeltaTrainConfig().steps
    frames = int(data.ws.shape[1])
    print(f"CPU: {cpu_description()}; {args.network}, {args.attribute}, {data.heads} heads × "
          f"{frames} frames; measured on {args.num} held-out samples", flush=True)
    report = {"cpu": cpu_description(), "network": args.network, "attribute": args.attribute, "frames": frames,
              "counts": counts, "repeats": args.repeats, "num": args.num, "dge_steps": steps,
              "methods": {"dge": {}, "interfacegan": {}}, "runs": {"dge": {}, "interfacegan": {}}}
    for n in counts:
        for method in ("dge", "interfacegan"):
            runs = []
            for r, heads in enumerate(draws(data.heads, n, args.repeats, seed=n)):
                t = time.perf_counter()
                try:
                    e = (dge_edit(G, oracle, data, heads, steps, seed=r, terms=args.terms) if method == "dge"
                         else ifg_edit(G, oracle, args.attribute, n * frames, seed=1000 * n + r))
                except ValueError as exc:  # e.g. an edit that does not move the attribute cannot be calibrated
                    runs.append({"failed": str(exc), "heads": heads})
                    print(f"{method} {n}: draw {r} failed: {exc}", flush=True)
                    continue
                res = measure(G, oracle, judge, e, args.attribute, args.num)
                res.update(heads=heads if method == "dge" else None, time=time.perf_counter() - t)
                runs.append(res)
            made = [x for x in runs if "failed" not in x]
            report["runs"][method][str(n)] = runs
            agg = report["methods"][method][str(n)] = {**aggregate(made), "made": len(made), "draws": len(runs)}
            if not made:
                continue
            print(f"{method:12s} {n:3d} {'heads' if method == 'dge' else f'× {frames} samples'} ({len(made)}/{len(runs)} made): rel.err "
                  f"{agg['mean_relative_error']:.2f}±{agg['mean_relative_error_std']:.2f} slope {agg['slope']:.2f} "
                  f"drift oracle {agg['identity_drift']:.3f} judge {agg['judge_identity_drift']:.3f} "
                  f"leak {agg['leakage']:.2f}", flush=True)
    if args.reference:
        t = time.perf_counter()
        e = ifg_edit(G, oracle, args.attribute, args.reference, seed=0)
        res = measure(G, oracle, judge, e, args.attribute, args.num)
        report["reference"] = {"samples": args.reference, "summary": res["summary"], "rows": res["rows"],
                               "time": time.perf_counter() - t}
        s = res["summary"]
        print(f"interfacegan {args.reference} samples: rel.err {s['mean_relative_error']:.2f} slope {s['slope']:.2f} "
              f"drift oracle {s['identity_drift']:.3f} judge {s['judge_identity_drift']:.3f} leak {s['leakage']:.2f}",
              flush=True)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=1))
    if args.figure:
        figure(report, Path(args.figure))


if __name__ == "__main__":
    main()
