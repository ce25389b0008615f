"""Training the Delta-GAN encoder on inverted one-attribute sequences (`edits.delta.data`).

Each step draws pairs of distinct training heads (A, B) and two different frames (i, j) of their
shared sequence, and minimises λ1‖a_j − â_j‖² + λ2‖b_j − b̂_j‖² (in units of the generator's w
scale): the first term reconstructs the change on the head it was read from, the second transfers it
to another head. Runs as one process or under torchrun (DistributedDataParallel; ranks draw different
pairs). Minutes on a laptop CPU: the networks are small MLPs over codes, no image is rendered, unless
the image-space terms are on (`image_weight`, `id_weight`, `leak_weight`; `edits.delta.image_terms`),
which render a few transferred codes per step and hold them to the exact render of head B at frame j.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from .data import DeltaData
from .model import DeltaConfig, DeltaNet


@dataclass
class DeltaTrainConfig:
    """Options of `train_delta` (defaults chosen by the ablation in the README's Delta-GAN section)."""

    steps: int = 2000
    batch: int = 32
    lr: float = 1e-3
    noise: float = 1.0           # std of the input-code noise, in units of the per-coordinate w std
    lambda_same: float = 1.0     # λ1: reconstruct a_j from (a_i, Δ)
    lambda_transfer: float = 1.0  # λ2: transfer Δ to another head
    delta_dim: int = 8
    hidden: int = 128
    decoder: str = "code"        # DeltaConfig.decoder: 'shift' = one change per Δ for every head
    val_heads: int = 0           # the last heads kept out of training, to measure transfer
    seed: int = 0
    log_every: int = 100
    # image-space terms on the transferred code (edits.delta.image_terms; 0: off, the paper's loss alone),
    # on the first `image_batch` tuples of each batch: G renders them, the oracle reads them. None: the
    # library's choice, `TERMS_AUTO` for a shipped synthetic-head generator (the oracle reads its images) when
    # `terms` is 'auto', else 0.
    image_weight: float | None = None  # reconstruction distance to the exact render of B at frame j
    id_weight: float | None = None     # 1 - cos of the oracle's identity embeddings
    leak_weight: float | None = None   # |other attributes' change|, in units of their noticeable change
    attr_weight: float | None = None   # |the edited attribute's reading - the exact change|, in noticeable units
    image_batch: int = 4
    term_reference: str | None = None  # identity/leakage/attribute against the exact render ('truth') or G(b_i)
    terms: str = "auto"                # 'auto' (see above) or 'off' (every weight not given is 0)


#: The image-space terms `terms='auto'` turns on for shipped synthetic-head generators, by the attribute's unit,
#: chosen by bench/dge_ablation.py on yaw, synthheads128 (bench/RESULTS.md, "Delta-GAN's loss terms"): the
#: attribute term makes the change happen, the identity term (against G's render of the source code) then keeps
#: who the head is; the image term bought nothing, a leakage term or a 'source' identity term without the
#: attribute term made the edit collapse (not moving at all keeps them at 0). Expressions ('0-1'): with identity
#: 5, smile and mouth_open collapsed on v2, so the attribute term alone is their default (an identity term can
#: only add to the pull towards not moving). What an expression edit needs first is data whose codes carry the
#: expression: the default inversion reproduces 16-36 % of a rendered expression change, 200 steps without the
#: identity term 42-68 % (`sgt train-delta --refine-steps 200 --refine-id-weight 0`, bench/attribute_range.py);
#: on such data mouth_open trains with these terms, smile and eyes_closed cannot be calibrated with them. v2's three
#: expression edits ship with the shift decoder and the paper's loss alone (`decoder='shift'`, `terms='off'`), better
#: on every validation measure; with the shift decoder these terms bring the failure back (RESULTS). The default
#: stays as is: the shift decoder was measured on v2's expressions only.
TERMS_AUTO: dict[str, dict[str, Any]] = {
    "deg": {"image_weight": 0.0, "id_weight": 5.0, "leak_weight": 0.0, "attr_weight": 0.1, "term_reference": "source"},
    "0-1": {"image_weight": 0.0, "id_weight": 0.0, "leak_weight": 0.0, "attr_weight": 0.1, "term_reference": "source"},
}


def resolve_terms(cfg: DeltaTrainConfig, G: Any, attribute: str = "yaw") -> DeltaTrainConfig:
    """`cfg` with every term setting left at None filled in: `TERMS_AUTO` for `attribute`'s unit when `cfg.terms`
    is 'auto' and `G` is a shipped synthetic-head generator (`stylegan.is_shipped`), else 0 / 'truth'.

    Raises:
        ValueError: `terms` other than 'auto' / 'off', or an unknown `term_reference`.
    """
    from dataclasses import replace

    from .image_terms import REFERENCES

    if cfg.terms not in ("auto", "off"):
        raise ValueError(f"terms must be 'auto' or 'off', got {cfg.terms!r}")
    auto = False
    if cfg.terms == "auto":
        import stylegan

        try:
            auto = stylegan.is_shipped(G)
        except (AttributeError, TypeError):  # not a stylegan Generator (a stand-in with w_avg only)
            auto = False
    from ..attributes import get

    off = {"image_weight": 0.0, "id_weight": 0.0, "leak_weight": 0.0, "attr_weight": 0.0, "term_reference": "truth"}
    fill = TERMS_AUTO[get(attribute).unit] if auto else off
    out = replace(cfg, **{k: v for k, v in fill.items() if getattr(cfg, k) is None})
    if out.term_reference not in REFERENCES:
        raise ValueError(f"term_reference must be one of {', '.join(REFERENCES)}, got {out.term_reference!r}")
    return out


def w_scale(G: Any, num_samples: int = 10_000) -> float:
    """Per-coordinate std of G's mapped w (NVlabs' σ_w / sqrt(w_dim))."""
    from inversion.projection import w_stats

    _, std = w_stats(G, num_samples)
    return float(std) / G.w_dim ** 0.5


def sample_indices(data: DeltaData, heads: list[int], n: int,
                   gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """`n` training index tuples `(A, B, i, j)`, each `[n]`: heads A != B drawn from `heads`, frames i != j.

    With a single head, B = A: the change is learnt on that head alone (the transfer term then repeats the
    reconstruction term) — the one-pair end of the sample-efficiency study (bench/edit_efficiency.py).
    """
    if len(heads) < 1:
        raise ValueError("training needs at least 1 head, got none")
    frames = data.ws.shape[1]
    h = torch.tensor(heads)
    ia = torch.randint(len(heads), (n,), generator=gen)
    ib = ia if len(heads) == 1 else (ia + torch.randint(1, len(heads), (n,), generator=gen)) % len(heads)
    i = torch.randint(frames, (n,), generator=gen)
    j = (i + torch.randint(1, frames, (n,), generator=gen)) % frames
    return h[ia], h[ib], i, j


def sample_batch(data: DeltaData, heads: list[int], n: int, gen: torch.Generator) -> tuple[torch.Tensor, ...]:
    """`n` training tuples (a_i, a_j, b_i, b_j), each `[n, num_ws, w_dim]`: heads A != B, frames i != j."""
    A, B, i, j = sample_indices(data, heads, n, gen)
    return data.ws[A, i], data.ws[A, j], data.ws[B, i], data.ws[B, j]


@torch.no_grad()
def transfer_error(net: DeltaNet, data: DeltaData, sources: list[int], targets: list[int]) -> dict[str, float]:
    """How well a change read off source heads lands on target heads, over every frame pair i != j.

    Returns `{"dge": mse, "mean_shift": mse, "ratio": dge / mean_shift}`: mean squared error of b̂_j
    against the inverted b_j (per coordinate, in units of w_scale²), for the network and for the
    linear baseline b_i + mean over sources of (a_j − a_i).
    """
    t = data.ws.shape[1]
    scale2 = float(net.w_scale) ** 2
    err, base = [], []
    for i in range(t):
        for j in range(t):
            if i == j:
                continue
            mean_shift = (data.ws[sources, j] - data.ws[sources, i]).mean(0)
            for b in targets:
                a = [s for s in sources if s != b]
                a_i, a_j = data.ws[a, i], data.ws[a, j]
                b_i = data.ws[b, i].expand_as(a_i)
                pred = b_i + net.residual(b_i, net.encode(a_i, a_j))
                err.append(float((pred - data.ws[b, j]).square().mean()) / scale2)
                base.append(float((data.ws[b, i] + mean_shift - data.ws[b, j]).square().mean()) / scale2)
    e, m = sum(err) / len(err), sum(base) / len(base)
    return {"dge": e, "mean_shift": m, "ratio": e / m}


def train_delta(data: DeltaData, G: Any, cfg: DeltaTrainConfig | None = None, outdir: str | os.PathLike | None = None,
                progress: bool = True, oracle: Any = None, D: Any = None) -> tuple[DeltaNet, dict[str, Any]]:
    """Train E and D on `data` (codes inverted into `G`).

    Args:
        data: `DeltaData` with at least 1 training head (2 or more: the change is transferred between heads).
        G: the generator the codes belong to (for w_avg and the w scale; it renders for the image terms).
        cfg: `DeltaTrainConfig`.
        oracle: for the image terms (default `synthetic.oracle.load()` when one is on).
        D: G's discriminator: the image term's D-feature loss (None: l2 + MS-SSIM).
        outdir: where rank 0 appends `log.jsonl` (None: no log).
        progress: tqdm bar (rank 0).

    Returns:
        `(net, report)`: the trained `DeltaNet` (eval mode, no grad) and a report with the final losses
        and, when `cfg.val_heads` > 0, the held-out transfer error (`transfer_error`).
    """
    from stylegan.train import all_mean, close_distributed, init_distributed, wrap_ddp

    cfg = resolve_terms(cfg or DeltaTrainConfig(), G, data.attribute)
    if not 0 <= cfg.val_heads <= data.heads - 1:
        raise ValueError(f"val_heads = {cfg.val_heads} leaves no head of {data.heads} to train on")
    train_heads = list(range(data.heads - cfg.val_heads))
    info = init_distributed("cpu" if G.w_avg.device.type == "cpu" else "auto")
    try:
        torch.manual_seed(cfg.seed)  # identical initial weights on every rank
        net = DeltaNet(DeltaConfig(G.num_ws, G.w_dim, delta_dim=cfg.delta_dim, hidden=cfg.hidden,
                                   decoder=cfg.decoder),
                       G.w_avg.detach().cpu(), w_scale(G)).train()
        model = wrap_ddp(net, info)
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        gen = torch.Generator().manual_seed(cfg.seed * 1000 + info.rank + 1)
        scale2 = float(net.w_scale) ** 2
        weights = {"image": cfg.image_weight, "identity": cfg.id_weight, "leakage": cfg.leak_weight,
                   "attribute": cfg.attr_weight}
        terms = None
        if any(w > 0 for w in weights.values()):
            from .image_terms import ImageTerms

            if oracle is None:
                from synthetic import oracle as oracle_mod

                oracle = oracle_mod.load(device=G.w_avg.device)
            G.requires_grad_(False)
            terms = ImageTerms(G, data, oracle, weights, D=D, reference=cfg.term_reference)
        log = None
        if outdir is not None and info.is_main:
            Path(outdir).mkdir(parents=True, exist_ok=True)
            log = open(Path(outdir) / "log.jsonl", "a")
        t0 = time.perf_counter()
        bar = tqdm(range(cfg.steps), desc=f"train delta {data.attribute}", unit="step",
                   disable=not (progress and info.is_main))
        row: dict[str, Any] = {}
        for step in bar:
            for g in opt.param_groups:  # linear decay over the last 30 %
                g["lr"] = cfg.lr * min(1.0, (1.0 - step / cfg.steps) / 0.3)
            A, B, i, j = sample_indices(data, train_heads, cfg.batch, gen)
            a_i, a_j, b_i, b_j = data.ws[A, i], data.ws[A, j], data.ws[B, i], data.ws[B, j]
            a_hat, b_hat = model(a_i, a_j, b_i, noise=cfg.noise)
            same = (a_hat - a_j).square().mean() / scale2
            transfer = (b_hat - b_j).square().mean() / scale2
            loss = cfg.lambda_same * same + cfg.lambda_transfer * transfer
            k = cfg.image_batch
            extra = {} if terms is None else terms(b_hat[:k], B[:k], j[:k], source=b_i[:k], source_frames=i[:k])
            loss = loss + sum(extra.values())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if step % cfg.log_every == 0 or step == cfg.steps - 1:
                same_m, transfer_m = (float(all_mean(x.detach(), info)) for x in (same, transfer))
                row = {"step": step, "same": same_m, "transfer": transfer_m, "time": time.perf_counter() - t0,
                       **{k: float(all_mean(v.detach(), info)) for k, v in extra.items()}}
                if log:
                    log.write(json.dumps(row) + "\n")
                    log.flush()
                bar.set_postfix(same=f"{same_m:.3f}", transfer=f"{transfer_m:.3f}")
        net.eval().requires_grad_(False)
        report: dict[str, Any] = {"train": asdict(cfg), "final": row, "heads": data.heads,
                                  "frames": data.ws.shape[1], "world_size": info.world_size,
                                  "time": time.perf_counter() - t0}
        if cfg.val_heads:
            val = list(range(data.heads - cfg.val_heads, data.heads))
            report["validation"] = transfer_error(net, data, train_heads, val)
        if log:
            log.write(json.dumps({"report": report}) + "\n")
            log.close()
        return net, report
    finally:
        close_distributed(info)


__all__ = ["DeltaTrainConfig", "TERMS_AUTO", "resolve_terms", "train_delta", "transfer_error", "sample_batch",
           "sample_indices", "w_scale"]
