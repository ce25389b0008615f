"""Swap quality against the number of training identities (issue 20): one swap method trained on the first
600, 2 000 and 5 000 heads of one data build, each measured on the validation split (oracle only) and on the
held-out protocol (oracle and judge).

    nohup python bench/swap_identities.py --network synthheads128 --big runs/swap128/data2000.npz \
        --counts 600,2000,5000 --net 5000=edits/weights/synthheads128_swap_ftm --pairs 40000 --method ftm \
        --id-weight 1 --steps 3000 --out runs/swap128/curve --json runs/swap128/curve.json > runs/swap128/curve.log &

Every step is a plain library command run as a subprocess (`sgt train-swap` under torchrun with `--ranks`
ranks, `sgt eval-swap`), so the curve measures exactly what users run. A count's smaller data set takes its
inverted heads from `--big` (`--heads-from`: only the truths of its own pairs are rendered); the pair count and
training settings are the same at every count, so only the number of identities changes. A count trained
elsewhere with the same settings (the shipped 5 000-head network) is evaluated, not retrained: `--net
5000=edits/weights/synthheads128_swap_ftm`. Re-running resumes: a finished network or evaluation (its JSON under
`--out`) is skipped, an interrupted training continues from its state.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

_HERE = Path(__file__).resolve().parent
_ROOT = _HERE.parent


def _run(args: list[str], threads: int) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    print("+", " ".join(args), flush=True)
    subprocess.run(args, check=True, env=env, cwd=_ROOT)


def _sgt(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("sgt")), *args]


def _given_nets(specs: list[str], method: str, pairs: int, train: dict[str, float]) -> dict[int, Path]:
    """`--net N=DIR` options -> {N: DIR}. Refused unless DIR is a trained `method` network whose recorded data
    is N heads and `pairs` pairs and whose recorded training settings match `train` (those given here, e.g.
    {"steps": 3000, "id_weight": 1.0}), so a curve point cannot be mislabelled."""
    nets = {}
    for spec in specs:
        n, sep, folder = spec.partition("=")
        if not sep or not n.strip().isdigit():
            raise SystemExit(f"--net {spec!r}: expected N=DIR, e.g. 5000=edits/weights/synthheads128_swap_ftm")
        cfg = Path(folder) / "config.json"
        if not cfg.is_file():
            raise SystemExit(f"--net {spec!r}: {folder} holds no trained swap network (no config.json)")
        meta = json.loads(cfg.read_text()).get("metadata", {})
        data, trained = meta.get("data", {}), meta.get("train", {})
        got = (trained.get("method"), data.get("heads"), data.get("pairs"))
        if got != (method, int(n), pairs):
            raise SystemExit(f"--net {spec!r}: {folder} is {got[0]} on {got[1]} heads / {got[2]} pairs, "
                             f"not {method} on {int(n)} / {pairs}")
        other = {k: trained.get(k) for k, v in train.items() if trained.get(k) != v}
        if other:
            raise SystemExit(f"--net {spec!r}: {folder} was trained with {other}, not {train}")
        nets[int(n)] = Path(folder)
    return nets


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--network", default="synthheads128")
    ap.add_argument("--big", type=Path, required=True, help="the data build every count takes its heads from")
    ap.add_argument("--counts", default="600,2000,5000")
    ap.add_argument("--pairs", type=int, default=40000)
    ap.add_argument("--method", default="ftm", choices=["ftm", "blend", "inject"])
    ap.add_argument("--id-weight", default=None, help="sgt train-swap --id-weight")
    ap.add_argument("--steps", default=None, help="sgt train-swap --steps")
    ap.add_argument("--batch", default=None, help="sgt train-swap --batch")
    ap.add_argument("--invert-steps", default=None, help="inversion steps (default: the library's; as --big was built)")
    ap.add_argument("--ranks", type=int, default=2, help="torchrun ranks for training (1 thread each)")
    ap.add_argument("--ids", type=int, default=100)
    ap.add_argument("--attributes", type=int, default=10)
    ap.add_argument("--net", action="append", default=[], metavar="N=DIR",
                    help="count N is this trained network (not retrained here; repeatable)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--json", type=Path, required=True)
    args = ap.parse_args()
    given = _given_nets(args.net, args.method, args.pairs, {k: float(v) for k, v in (
        ("steps", args.steps), ("id_weight", args.id_weight), ("batch", args.batch)) if v is not None})
    big = json.loads(str(__import__("numpy").load(args.big)["meta"]))
    args.out.mkdir(parents=True, exist_ok=True)
    result = json.loads(args.json.read_text()) if args.json.is_file() else {"rows": {}}
    inv = [] if args.invert_steps is None else ["--invert-steps", str(args.invert_steps)]
    extra = [x for k, v in (("--id-weight", args.id_weight), ("--steps", args.steps), ("--batch", args.batch))
             if v is not None for x in (k, str(v))] + inv
    for n in [int(c) for c in args.counts.split(",")]:
        if n > big["heads"] and n not in given:
            raise SystemExit(f"--big holds {big['heads']} heads; cannot train on {n} (or name its network: --net)")
        net = given.get(n, args.out / f"{args.method}{n}")
        t0 = time.time()
        if n not in given and not (net / "config.json").is_file():
            data = args.big if n == big["heads"] and args.pairs == big["pairs"] else args.out / f"data{n}.npz"
            train = ["-m", "edits.swap.train_cli", "--method", args.method, "--network", args.network, "--seed",
                     str(big["seed"]), "--heads", str(n), "--pairs", str(args.pairs), "--data", str(data),
                     "--out", str(net), *extra]
            if data != args.big:
                train += ["--heads-from", str(args.big)]
            _run([sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={args.ranks}",
                  *train] if args.ranks > 1 else [sys.executable, *train], 1)
        row = result["rows"].setdefault(str(n), {"heads": n, "pairs": args.pairs})
        row.setdefault("net", str(net))
        if n not in given:
            row.setdefault("train_s", round(time.time() - t0, 1))
        for split, flag in (("validation", ["--validation"]), ("protocol", [])):
            if split in row:
                continue
            out = args.out / f"eval_{split}_{n}.json"
            cache = args.out.parent / f"{split}_{args.ids}x{args.attributes}.npz"
            if not out.is_file():  # an evaluation finished before an interruption is read, not rerun
                _run(_sgt("eval-swap", "--network", args.network, "--ids", str(args.ids), "--attributes",
                          str(args.attributes), "--method", args.method, "--swap-net", str(net), "--cache",
                          str(cache), "--out", str(out), *inv, *flag), 2)
            r = json.loads(out.read_text())
            row[split] = {"ceiling": r["ceiling"], **r["trained"][0]}
            args.json.write_text(json.dumps({**result, "network": args.network, "method": args.method}, indent=1))
    print(f"\n{args.method} on {args.network}, {args.pairs} pairs; ID top-1 by the oracle (validation, protocol) "
          "and the judge (protocol)")
    print(f"{'identities':>10} {'validation oracle':>18} {'protocol oracle':>16} {'protocol judge':>15} "
          f"{'pose':>6} {'PSNR':>6}")
    for n, row in sorted(result["rows"].items(), key=lambda kv: int(kv[0])):
        v, p = row.get("validation", {}), row.get("protocol", {})
        print(f"{n:>10} {v.get('id_top1', float('nan')):18.3f} {p.get('id_top1', float('nan')):16.3f} "
              f"{p.get('judge_id_top1', float('nan')):15.3f} {p.get('pose_error', float('nan')):6.2f} "
              f"{p.get('psnr', float('nan')):6.2f}")
    for split in ("validation", "protocol"):
        c = next((r[split]["ceiling"] for r in result["rows"].values() if split in r), None)
        if c is not None:
            print(f"{split}: reconstruction alone keeps {c['recon_id_top1']:.3f} (oracle)"
                  + (f" / {c['judge_recon_id_top1']:.3f} (judge)" if "judge_recon_id_top1" in c else "")
                  + f"; truth renders {c['id_top1']:.3f}")


if __name__ == "__main__":
    main()
