"""Can the generator show an attribute at all? What an edit can reach is bounded by what G renders, so before
blaming an edit method this measures, by the oracle, for each attribute:

1. **spread**: the oracle's readings over G's own samples (truncation 1) beside its readings over renders of the
   distribution G was trained on (`synthetic.sample_params`): mean, std, 90th percentile, and the share of
   images where the attribute is clearly on (≥ 0.3 for expressions, |x| ≥ 10° for angles);
2. **linear in W**: R² of a ridge regression from G's w to the oracle's reading (fit on 3/4 of the samples,
   scored on the rest): what a linear direction (InterFaceGAN's assumption) can explain;
   and of a two-layer MLP (a nonlinear function of w; 3 000 Adam steps on the same split);
3. **noise**: correlation of the readings of the same latents under two draws of the noise inputs (1: the
   attribute is a property of w, not of the noise);
4. **smoothness in W**: each sample's w moved by a random step of 0.1 × the spread of w (one step for every
   ws row); the mean change of the reading over the population's std (small: a path in W can steer it);
5. **inversion reach**: `--heads` rendered heads set to both ends of the attribute's span (`Attribute.span`, all
   else kept), each inverted with the library default (as the DGE data builder's refined codes and `swap()`
   do); reach = mean change read on the reconstructions / mean change read on the truth renders (1: the
   inversion reproduces the change; ~0: G's W+ cannot show it).

    python bench/attribute_range.py --network synthheads128 --json runs/attribute_range_v2.json

Seeds: `default_rng([7_000_000, k])` for the renders and heads (no other benchmark's), G's samples from seed
7 000 000. Oracle only (no identity is read).
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
from edits.attributes import get
from sgtcore.machine import cpu_description

SEED = 7_000_000
DEFAULT_ATTRIBUTES = ("yaw", "pitch", "light_direction", "smile", "mouth_open", "eyes_closed")


def _on(values: np.ndarray, unit: str) -> float:
    """Share of images where the attribute is clearly on."""
    return float((np.abs(values) >= 10.0).mean() if unit == "deg" else (values >= 0.3).mean())


def _stats(values: np.ndarray, unit: str) -> dict:
    return {"mean": float(values.mean()), "std": float(values.std()), "p90": float(np.percentile(values, 90)),
            "on": _on(values, unit)}


def _read(oracle, images: torch.Tensor, batch: int = 64) -> dict[str, np.ndarray]:
    with torch.no_grad():
        return {k: v.numpy() for k, v in oracle.predict(images, batch=batch).items() if k != "identity"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--network", default="synthheads128")
    ap.add_argument("--attributes", default=",".join(DEFAULT_ATTRIBUTES))
    ap.add_argument("--samples", type=int, default=2000, help="G samples for the spread")
    ap.add_argument("--renders", type=int, default=400, help="renders of the training distribution")
    ap.add_argument("--heads", type=int, default=12, help="heads per attribute for the inversion reach (0: skip)")
    ap.add_argument("--steps", type=int, default=None, help="inversion steps for the reach (default: the library's)")
    ap.add_argument("--id-weight", type=float, default=None, help="the inversion's identity weight (default: the library's)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from edits.attributes import ATTRIBUTES
    from stylegan.images import from_uint8
    from synthetic import oracle as oracle_mod
    from synthetic import render, sample_params

    import inversion

    names = [a.strip() for a in args.attributes.split(",") if a.strip()]
    attrs = [get(n) for n in names]
    G = stylegan.load(args.network).eval()
    oracle = oracle_mod.load()
    res = int(G.img_resolution)
    t0 = time.time()
    print(f"CPU: {cpu_description()}; {args.network} ({res} px)", flush=True)
    with torch.no_grad():
        z = torch.from_numpy(np.random.RandomState(SEED).randn(args.samples, G.z_dim)).float()
        w = G.mapping(z, None)[:, 0]
        imgs = torch.cat([G.synthesis(G.mapping(z[k:k + 32], None), noise_mode="const") for k in range(0, len(z), 32)])
    g_read = _read(oracle, imgs)
    heads = [sample_params(np.random.default_rng([SEED, k])) for k in range(args.renders)]
    r_read = _read(oracle, torch.cat([from_uint8(render(h, res).image) for h in heads]))
    rows: dict[str, dict] = {}
    print("\nspread: oracle readings over G's samples vs renders of its training distribution")
    print(f"{'attribute':16} {'renders: mean std p90 on':>30} {'G samples: mean std p90 on':>32}")
    for a in attrs:
        g = np.mean([g_read[p] for p in a.params], 0)
        r = np.mean([r_read[p] for p in a.params], 0)
        rows[a.name] = {"unit": a.unit, "renders": _stats(r, a.unit), "samples": _stats(g, a.unit)}
        fr, fg = rows[a.name]["renders"], rows[a.name]["samples"]
        print(f"{a.name:16} {fr['mean']:7.3f} {fr['std']:6.3f} {fr['p90']:6.3f} {fr['on']:6.1%}"
              f"    {fg['mean']:7.3f} {fg['std']:6.3f} {fg['p90']:6.3f} {fg['on']:6.1%}", flush=True)
    print("\nlinear in W: ridge regression w -> oracle reading, R² on held-out samples")
    fit = len(w) * 3 // 4
    x = torch.cat([w, torch.ones(len(w), 1)], 1).double()
    for a in attrs:
        y = torch.from_numpy(np.mean([g_read[p] for p in a.params], 0)).double()
        coef = torch.linalg.solve(x[:fit].T @ x[:fit] + 1e-3 * torch.eye(x.shape[1], dtype=x.dtype), x[:fit].T @ y[:fit])
        resid = y[fit:] - x[fit:] @ coef
        r2 = float(1 - resid.pow(2).mean() / y[fit:].var(unbiased=False))
        rows[a.name]["linear_r2"] = r2
        print(f"{a.name:16} R² {r2:6.3f}", flush=True)
    torch.manual_seed(SEED)
    mlp = torch.nn.Sequential(torch.nn.Linear(G.w_dim, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256),
                              torch.nn.ReLU(), torch.nn.Linear(256, len(attrs)))
    xs = ((w - w[:fit].mean(0)) / w[:fit].std(0)).float()
    ys = torch.from_numpy(np.stack([np.mean([g_read[p] for p in a.params], 0) for a in attrs], 1)).float()
    ys = (ys - ys[:fit].mean(0)) / ys[:fit].std(0)
    opt = torch.optim.Adam(mlp.parameters(), 1e-3, weight_decay=1e-4)
    for _ in range(3000):
        b = torch.randint(0, fit, (128,))
        loss = (mlp(xs[b]) - ys[b]).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        r2_mlp = 1 - (mlp(xs[fit:]) - ys[fit:]).pow(2).mean(0) / ys[fit:].var(0, unbiased=False)
    print("\nMLP in W: R² on held-out samples; noise: correlation of the readings under two noise draws")
    reads = []
    for k in (1, 2):
        torch.manual_seed(SEED + k)
        with torch.no_grad():
            reads.append(_read(oracle, torch.cat([G.synthesis(G.mapping(z[i:i + 32], None), noise_mode="random")
                                                  for i in range(0, len(z), 32)])))
    for n, a in enumerate(attrs):
        pair = [np.mean([r[p] for p in a.params], 0) for r in reads]
        rows[a.name]["mlp_r2"] = float(r2_mlp[n])
        rows[a.name]["noise_correlation"] = float(np.corrcoef(*pair)[0, 1])
        print(f"{a.name:16} MLP R² {rows[a.name]['mlp_r2']:6.3f}   noise corr {rows[a.name]['noise_correlation']:6.3f}")
    print("\nsmoothness in W: |change of the reading| / population std after a random step of 0.1 x w's spread")
    gen = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        ws = G.mapping(z, None)
        step = torch.randn(len(ws), 1, ws.shape[2], generator=gen)
        step = step / step.norm(dim=2, keepdim=True) * 0.1 * float(ws[:, 0].std(0).norm())
        moved = torch.cat([G.synthesis(ws[k:k + 32] + step[k:k + 32], noise_mode="const")
                           for k in range(0, len(ws), 32)])
    m_read = _read(oracle, moved)
    for a in attrs:
        before = np.mean([g_read[p] for p in a.params], 0)
        after = np.mean([m_read[p] for p in a.params], 0)
        rows[a.name]["step_change"] = float(np.abs(after - before).mean() / before.std())
        print(f"{a.name:16} {rows[a.name]['step_change']:6.3f}", flush=True)
    if args.heads:
        print("\ninversion reach: heads rendered at both ends of the span, inverted with the library default")
        print(f"{'attribute':16} {'span':>14} {'truth change':>13} {'inverted change':>16} {'reach':>6}")
        for a in attrs:
            lo, hi = a.span
            truth, recon = [], []
            kw = {k: v for k, v in (("steps", args.steps), ("id_weight", args.id_weight)) if v is not None}
            for k in range(args.heads):
                base = sample_params(np.random.default_rng([SEED, 100_000 + k]))
                pair = [render(a.set(base, v), res).image for v in (lo, hi)]
                t_img = torch.cat([from_uint8(x) for x in pair])
                with torch.enable_grad():  # both ends in one batch (each as if alone)
                    r_img = inversion.project(G, t_img, progress=False, **kw).image
                t_s = a.score(oracle.predict(t_img)).numpy()
                r_s = a.score(oracle.predict(r_img.detach())).numpy()
                truth.append(t_s[1] - t_s[0])
                recon.append(r_s[1] - r_s[0])
            t_m, r_m = float(np.mean(truth)), float(np.mean(recon))
            rows[a.name]["reach"] = {"heads": args.heads, "truth_change": t_m, "inverted_change": r_m,
                                     "reach": r_m / t_m if abs(t_m) > 1e-9 else float("nan")}
            print(f"{a.name:16} {lo:6.1f}..{hi:<6.1f} {t_m:13.3f} {r_m:16.3f} {r_m / t_m:6.2f}", flush=True)
    print(f"\n{time.time() - t0:.0f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"network": args.network, "cpu": cpu_description(), "samples": args.samples,
                                         "renders": args.renders, "steps": args.steps, "id_weight": args.id_weight,
                                         "attributes": rows}, indent=1))


if __name__ == "__main__":
    main()
