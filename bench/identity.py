"""Where identity goes in inversion: identity retrieval (oracle and judge), PSNR/SSIM and time per head
for the encoder alone, the library default, longer W+ optimisation and pivotal tuning, on the swap
protocol's held-out identity heads.

    nice -n 5 python bench/identity.py --network synthheads --heads 100 --long-heads 20 \
        --json runs/identity_synthheads.json

Targets: the protocol's identity heads A_i (`edits.swap.evaluate.protocol_params`, seeds no training
uses) rendered at 4x G's resolution and aligned by the library (`inversion.align` with the renders'
exact landmarks). Retrieval: the reconstruction of head i, embedded, is a hit when its nearest
(cosine) target among all `--heads` targets is target i. The ceiling: the same retrieval for
renders of each head under another head's pose, expression and lighting (`swap_truth(A_i, B_j)`,
`--ceiling-att` of them), i.e. what each identity network can tell apart at all. Every method is a
plain `inversion.project` call (the policy under test is the library's); PTI tunes G around the
default's result (`inversion.pivotal_tuning`, 350 steps). The costly methods run on the first
`--long-heads` heads only, still retrieved against the whole gallery. Results accumulate in `--json`
(re-running skips the (method, head) pairs it already has, so a stopped run resumes).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE] + [str(_HERE.parent)]

import numpy as np
import torch

import stylegan
from inversion.losses import make_loss, psnr, ssim
from inversion.projection import project, w_stats
from sgtcore.images import from_uint8, to_uint8
from sgtcore.machine import cpu_description
from sgtcore.registry import DEFAULT_GENERATOR

#: name -> (project() keyword arguments, runs on every head (False: only the first --long-heads))
METHODS: dict[str, tuple[dict, bool]] = {
    "encoder": (dict(steps=0), True),
    "w+25": (dict(steps=25), True),
    "w+40": (dict(steps=40), True),
    "w+50": (dict(steps=50), True),
    "w+100": (dict(steps=100), True),
    # the <= 1 s recipe (25 steps) with other weights of the identity term (the default's is 0.1)
    "w+25id0": (dict(steps=25, id_weight=0.0), True),
    "w+25id0.1": (dict(steps=25, id_weight=0.1), True),
    "w+25id0.6": (dict(steps=25, id_weight=0.6), True),
    "w+25id1": (dict(steps=25, id_weight=1.0), True),
    "w+50id0.1": (dict(steps=50, id_weight=0.1), True),
    "default": (dict(), True),
    "default-nomirror": (dict(identity="oracle-nomirror"), True),  # the identity term without the mirror pass
    "w+1000": (dict(steps=1000), False),
    "w+3000": (dict(steps=3000), False),
    "pti": (dict(), False),  # pivotal tuning around the default's result
}
#: Seed of the validation heads (`--validation`): neither the protocol's (held out for testing) nor the
#: training renders' (data/heads128, seed 100).
VALIDATION_SEED = 20261206
PTI_STEPS = [350]  # PTI's own count (Roich et al. 2022); the library's `pivotal_tuning` default


def aligned_renders(params: list, res: int) -> torch.Tensor:
    """Renders of `params` at 4x `res`, FFHQ-aligned by the library from exact landmarks -> `[N, 3, res, res]`."""
    from inversion import align
    from synthetic.batch import render_many

    out = []
    for r in render_many(params, size=4 * res, workers=2):  # spawned: OpenGL apart from torch
        out.append(stylegan.images.from_uint8(align(r.image, landmarks=r.landmarks, output_size=res).image))
    return torch.cat(out)


@torch.no_grad()
def embeddings(images: torch.Tensor, oracle, judge) -> dict[str, torch.Tensor]:
    """`{"oracle": [N, 128], "judge": [N, D]}` identity embeddings of `images [N, 3, R, R]` (no judge: the
    oracle's only)."""
    orc = torch.cat([oracle.predict(images[i:i + 128])["identity"] for i in range(0, len(images), 128)])
    return {"oracle": orc} if judge is None else {"oracle": orc, "judge": judge.embed(images)}


def retrieval(query: dict, gallery: dict, labels: torch.Tensor) -> dict[str, float]:
    from synthetic.retrieval import top1

    return {k: top1(query[k], gallery[k], labels) for k in gallery}


def run_method(G, name: str, target: torch.Tensor, loss, seed: int, pivot=None, encoder=None):
    """Reconstruction `[1, 3, R, R]`, wall seconds and the projection result of one method on one target.

    `pivot`: `(default's ProjectionResult, its seconds)` for PTI, which is charged both.
    """
    from inversion.pti import apply_delta, pivotal_tuning

    if name == "pti":
        if pivot is None:
            pivot = run_method(G, "default", target, loss, seed, encoder=encoder)[1:]
        r, before = pivot
        t0 = time.perf_counter()
        delta = pivotal_tuning(G, target, r.ws, r.noise, steps=PTI_STEPS[0], loss=loss, seed=seed, progress=False)
        with torch.no_grad():
            img = apply_delta(G, delta).synthesis(r.ws, noise=r.noise or None)
        return img, before + time.perf_counter() - t0, r
    t0 = time.perf_counter()
    kw = dict(METHODS[name][0])
    if kw.get("identity") == "oracle-nomirror":
        from inversion.identity_term import oracle_identity

        kw["identity"] = oracle_identity(target.device)
        kw["identity"].mirror = False
    r = project(G, target, loss=loss, seed=seed, progress=False, encoder=encoder, **kw)
    return r.image.detach(), time.perf_counter() - t0, r


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--network", default=DEFAULT_GENERATOR)
    p.add_argument("--heads", type=int, default=100)
    p.add_argument("--long-heads", type=int, default=20)
    p.add_argument("--ceiling-att", type=int, default=5, help="attribute heads per identity for the ceiling")
    p.add_argument("--validation", action="store_true",
                   help="heads of the validation seed (VALIDATION_SEED) instead of the protocol's held-out ones: for "
                        "choosing settings by the oracle and PSNR, never by the judge, before testing on the protocol")
    p.add_argument("--only", default=None, help="comma-separated method names")
    p.add_argument("--json", default="runs/identity.json")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--judge", default=None, help="a judge folder (default: the registered judge)")
    p.add_argument("--encoder", default=None,
                   help="start every method from this encoder folder (default: the one registered for the network)")
    p.add_argument("--loss", default="auto", help="projection loss (default: the library's 'auto')")
    p.add_argument("--rescore", action="store_true",
                   help="recompute every stored row's retrieval from its saved reconstruction with today's oracle and "
                        "judge (e.g. after a better judge shipped), then print the table; nothing is inverted")
    p.add_argument("--quick", action="store_true", help="every step count / 100: checks the script, measures nothing")
    p.add_argument("--merge", nargs="+", default=None,
                   help="only print the table of these result JSONs (runs of the same network and heads, e.g. "
                        "methods split over two processes with --only)")
    args = p.parse_args()
    if args.merge:
        print(table(merge([json.loads(Path(f).read_text()) for f in args.merge])))
        return
    torch.set_num_threads(args.threads)
    if args.quick:
        for name, (kw, _) in METHODS.items():
            kw["steps"] = max(1, kw.get("steps", 200) // 100)
        PTI_STEPS[0] = 4

    from edits.swap.evaluate import protocol_params
    from synthetic import judge as judge_mod
    from synthetic import oracle as oracle_mod
    from synthetic import swap_truth

    G = stylegan.load(args.network)
    try:
        D = stylegan.load_discriminator(args.network)
    except (stylegan.CheckpointError, FileNotFoundError):
        D = None
    loss = make_loss(args.loss, D=D)
    encoder = None
    if args.encoder:
        from inversion.encoder import load_encoder

        encoder = load_encoder(args.encoder, G)
    # validation heads choose settings: the judge is not even read there (it only ever tests)
    oracle, judge = oracle_mod.load(), None if args.validation else judge_mod.load(args.judge)
    res = G.img_resolution
    out_path = Path(args.json)
    state = json.loads(out_path.read_text()) if out_path.is_file() else {}
    if state and (state.get("network"), state.get("heads"), state.get("encoder", "registered"),
                  state.get("validation", False)) != (args.network, args.heads, args.encoder or "registered",
                                                      args.validation):
        raise SystemExit(f"{out_path} holds another run ({state.get('network')}, {state.get('heads')} heads, "
                         f"encoder {state.get('encoder', 'registered')})")
    ids, atts = protocol_params(args.heads, args.ceiling_att, **({"seed": VALIDATION_SEED} if args.validation else {}))
    targets = aligned_renders(ids, res)
    gallery = embeddings(targets, oracle, judge)
    labels = torch.arange(args.heads)
    if "ceiling" not in state or args.rescore:
        truths = aligned_renders([swap_truth(a, b) for a in ids for b in atts], res)
        state["ceiling"] = retrieval(embeddings(truths, oracle, judge), gallery,
                                     labels.repeat_interleave(args.ceiling_att))
    state.update(validation=args.validation)
    state.update(network=args.network, heads=args.heads, long_heads=args.long_heads, cpu=cpu_description(),
                 loss=loss.name, resolution=res, encoder=args.encoder or "registered", threads=args.threads)
    rows = state.setdefault("rows", {})
    recon_cache = out_path.with_suffix(".npz")
    recons = dict(np.load(recon_cache)) if recon_cache.is_file() else {}
    if args.rescore:
        for name, rs in rows.items():
            for r in rs:
                img = from_uint8(recons[f"{name}/{r['head']}"])
                hit = retrieval(embeddings(img, oracle, judge), gallery, labels[r["head"]:r["head"] + 1])
                r["oracle_hit"], r["judge_hit"] = hit["oracle"], hit.get("judge")
        state["judge_path"] = args.judge or "registered"
        state["summary"] = summarize(rows)
        out_path.write_text(json.dumps(state, indent=1))
        print(table(state))
        return
    w_stats(G)  # once per G, charged to no method
    todo = [m for m in METHODS if not args.only or m in args.only.split(",")]
    for i in range(args.heads):
        pivot = None
        for name in todo:
            if not METHODS[name][1] and i >= args.long_heads:
                continue
            key = f"{name}/{i}"
            if key in recons:
                continue
            img, wall, result = run_method(G, name, targets[i:i + 1], loss, seed=i, pivot=pivot, encoder=encoder)
            if name == "default":
                pivot = (result, wall)
            emb = embeddings(img, oracle, judge)
            hit = retrieval(emb, gallery, labels[i:i + 1])
            rows.setdefault(name, []).append({"head": i, "wall_s": wall, "psnr": float(psnr(img, targets[i:i + 1])),
                                              "ssim": float(ssim(img, targets[i:i + 1])), "oracle_hit": hit["oracle"],
                                              "judge_hit": hit.get("judge")})
            recons[key] = to_uint8(img)[0]
            print(f"head {i:3d} {name:8s} {wall:7.1f}s PSNR {rows[name][-1]['psnr']:6.2f} "
                  f"oracle {hit['oracle']:.0f}" + (f" judge {hit['judge']:.0f}" if "judge" in hit else ""), flush=True)
            out_path.parent.mkdir(parents=True, exist_ok=True)
            state["summary"] = summarize(rows)
            out_path.write_text(json.dumps(state, indent=1))
            np.savez(recon_cache, **recons)
    state["summary"] = summarize(rows)
    out_path.write_text(json.dumps(state, indent=1))
    print(table(state))


def merge(states: list[dict]) -> dict:
    """One state from runs of the same network and heads (rows per method; the first run's ceiling and CPU)."""
    first = states[0]
    for st in states[1:]:
        if (st["network"], st["heads"]) != (first["network"], first["heads"]):
            raise SystemExit("--merge: runs of different networks or head counts")
    rows: dict[str, list[dict]] = {}
    for st in states:
        for name, rs in st["rows"].items():
            have = {r["head"] for r in rows.get(name, [])}
            rows.setdefault(name, []).extend(r for r in rs if r["head"] not in have)
    return {**first, "rows": rows, "summary": summarize({k: rows[k] for k in METHODS if k in rows})}


def summarize(rows: dict[str, list[dict]]) -> dict[str, dict]:
    return {name: {"n": len(rs), "oracle_top1": statistics.mean(r["oracle_hit"] for r in rs),
                   "judge_top1": statistics.mean(r["judge_hit"] for r in rs) if rs[0]["judge_hit"] is not None else None,
                   "psnr": statistics.mean(r["psnr"] for r in rs), "ssim": statistics.mean(r["ssim"] for r in rs),
                   "wall_s": statistics.mean(r["wall_s"] for r in rs)} for name, rs in rows.items() if rs}


def table(state: dict) -> str:
    c = state["ceiling"]

    def pct(v):
        return "–" if v is None else f"{100 * v:.1f} %"
    lines = [f"{state['network']} ({state['resolution']} px), {state['heads']} "
             f"{'validation' if state.get('validation') else 'held-out'} heads, encoder "
             f"{state.get('encoder', 'registered')}, loss {state['loss']}; CPU: {state['cpu']}",
             f"ceiling (truth renders, other pose/expression/light): oracle {pct(c['oracle'])}, "
             f"judge {pct(c.get('judge'))}", "",
             "| method | heads | ID top-1 oracle | ID top-1 judge | PSNR | SSIM | s/head |", "|---|---|---|---|---|---|---|"]
    for name, s in state["summary"].items():
        lines.append(f"| {name} | {s['n']} | {pct(s['oracle_top1'])} | {pct(s['judge_top1'])} | "
                     f"{s['psnr']:.2f} | {s['ssim']:.3f} | {s['wall_s']:.1f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
