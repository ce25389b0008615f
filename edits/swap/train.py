"""Training of the swap networks (`ftm`, `blend`, `inject`) behind `sgt train-swap`; torchrun-capable (DDP).

Synthetic data (exact truth, `edits.swap.data.build`): each pair (identity i, attribute j) is trained
against `render(swap_truth(i, j))`:

- reconstruction: `inversion.losses` D-feature distance + L2 + MS-SSIM to the truth (the generator's own
  discriminator stands in for LPIPS, whose VGG weights cannot be downloaded here);
- blend only: binary cross-entropy of the mask against the region where the truth differs from the
  attribute image (the union of both head masks; outside it the truth *is* the attribute's background).

No identity or pose network is in the synthetic loss by default: the protocol measures identity and pose
with the oracle, and a network trained against its judge would flatter itself (`id_weight` adds the
oracle's identity distance for those who want it; the README reports what was used).

A user's photo folder (no truth, `data.from_folder`): half the pairs are self-swaps (i, i), trained to
reconstruct image i; the other half are cross pairs, trained with an identity loss (1 - cos of the
oracle's identity embeddings of the swap and image i -- the only differentiable identity network that
exists here without downloads) and a landmark loss (the oracle's landmarks of the swap vs. the
attribute's 68 landmarks, in units of the image size), as MegaFS/FSLSD train with ArcFace and a
landmark network. Blend on photos learns its mask against the attribute's landmark face mask.

    >>> net = train(G, data, "ftm", steps=3000, out="runs/ftm")        # doctest: +SKIP
"""
from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .data import SwapTrainData

STATE = "train_state.pt"


@dataclass
class SwapTrainConfig:
    """Settings of one training run (recorded in the model's metadata).

    Attributes:
        method: 'ftm', 'blend' or 'inject'.
        steps, batch, lr: optimisation (Adam, betas 0.9/0.99).
        feature_weight: weight of the D-feature term (pixel L2 1, MS-SSIM 0.5 alongside it).
        mask_weight: blend: mask BCE weight.
        id_weight: oracle identity loss weight (synthetic data; 0 by default, see the module docstring).
        photo_id_weight, landmark_weight: photo folders: identity and landmark loss weights.
        noise: std of Gaussian noise on the input codes, in units of the codes' spread (against
            over-fitting to the training heads' particular inversions).
        seed: sampling seed (each rank adds its rank).
        save_every: steps between resumable checkpoints.
    """

    method: str = "ftm"
    steps: int = 3000
    batch: int = 16
    lr: float = 1e-3
    feature_weight: float = 1.0
    mask_weight: float = 1.0
    id_weight: float = 0.0
    photo_id_weight: float = 1.0
    landmark_weight: float = 10.0
    noise: float = 0.05
    seed: int = 0
    save_every: int = 200


TRAINED = ("ftm", "blend", "inject")


def new_network(G: Any, data: SwapTrainData, method: str, base: str = "ftm", embed_dim: int | None = None,
                embedder: str = "oracle") -> torch.nn.Module:
    """A fresh network for `method`, sized for G (FTM's and inject's code normalisation from the data's
    codes; inject: `embed_dim`, the size of `embedder`'s identity embeddings)."""
    w_avg = G.w_avg.detach().float().cpu()
    scale = float((data.ws - w_avg).std()) if len(data.ws) else 1.0
    if method == "ftm":
        from .ftm import FTMConfig, TransferNet

        return TransferNet(FTMConfig(int(G.num_ws), int(G.w_dim)), w_avg=w_avg, w_scale=scale)
    if method == "blend":
        from .blend import BlendConfig, BlendNet

        return BlendNet(BlendConfig.for_generator(G, base=base))
    if method == "inject":
        from .inject import InjectConfig, InjectNet

        if embed_dim is None:
            raise ValueError("inject needs embed_dim, the size of the identity embeddings it is trained on")
        return InjectNet(InjectConfig(int(G.num_ws), int(G.w_dim), int(embed_dim), embedder=embedder),
                         w_avg=w_avg, w_scale=scale)
    raise ValueError(f"train-swap trains one of {', '.join(TRAINED)}, got {method!r} ('lcr' needs no training)")


@torch.no_grad()
def head_embeddings(data: SwapTrainData, embedder: Any, batch: int = 64) -> torch.Tensor:
    """Unit identity embeddings `[H, E]` of every head's aligned image (what `inject` is conditioned on)."""
    from stylegan.images import from_uint8

    return torch.cat([embedder.embed(torch.cat([from_uint8(np.ascontiguousarray(x)) for x in data.images[k:k + batch]]))
                      for k in range(0, data.heads, batch)])


class _Batches:
    """Random training pairs: `(identity idx, attribute idx, truth idx or -1)` per row."""

    def __init__(self, data: SwapTrainData, seed: int):
        self.data, self.rng = data, np.random.default_rng(seed)

    def draw(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        d = self.data
        if d.synthetic:
            p = self.rng.integers(0, len(d.pairs), n)
            return d.pairs[p, 0], d.pairs[p, 1], p
        i = self.rng.integers(0, d.heads, n)
        j = np.where(self.rng.random(n) < 0.5, i, self.rng.integers(0, d.heads, n))
        return i, j, np.full(n, -1)


def train(G: Any, data: SwapTrainData, config: SwapTrainConfig, out: str | os.PathLike | None = None, *,
          D: Any = None, base: Any = None, init: torch.nn.Module | None = None, resume: bool = True,
          oracle: Any = None, identity_net: Any = None, progress: bool = True) -> torch.nn.Module:
    """Train an FTM, blend or inject network for G on `data`; DDP when torch.distributed is initialised.

    Args:
        G: the (frozen) generator.
        data: `SwapTrainData` (synthetic with truths, or a photo folder's heads).
        config: `SwapTrainConfig`.
        out: folder for the resumable state (`train_state.pt`, every `save_every` steps, rank 0);
            `resume` continues from it.
        D: G's discriminator, for the D-feature loss (None: pixel losses only).
        base: blend: the code mixer it sits on, `(id_ws, att_ws) -> ws` (a trained TransferNet, or None for LCR).
        init: start from these weights (`--init-from`), e.g. the shipped network when fine-tuning.
        oracle: identity/landmark network (default `synthetic.oracle.load()` when a loss needs it).
        identity_net: an identity network for the identity terms instead of the oracle's (`--identity-net`:
            ArcFace, `inversion.identity.load_identity_net`; `distance(a, b) -> [N]` and `embed`); the
            oracle still gives the landmarks; `inject` is conditioned on its embeddings too (else the oracle's).
        progress: tqdm bar (rank 0).

    Returns:
        The trained network (eval mode, CPU).
    """
    import torch.distributed as dist

    from inversion.losses import make_loss
    from stylegan.images import from_uint8
    from stylegan.train import rank_world

    from .latent import lcr

    rank, world = rank_world()
    method = config.method
    embeddings = None
    if method == "inject":  # conditioned on the oracle's embedding, or the user's identity network's
        from inversion.identity_term import IdentityTerm, oracle_identity

        embedder = IdentityTerm(identity_net, "identity_net") if identity_net is not None else oracle_identity()
        embeddings = head_embeddings(data, embedder)
    net = new_network(G, data, method, "ftm" if base is not None else "lcr",
                      embed_dim=None if embeddings is None else embeddings.shape[1],
                      embedder="oracle" if identity_net is None else "identity_net")
    if init is not None:
        net.load_state_dict(init.state_dict())
    opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=config.lr, betas=(0.9, 0.99))
    step = 0
    state_path = None if out is None else Path(out) / STATE
    if resume and state_path is not None and state_path.exists():
        st = torch.load(state_path, map_location="cpu", weights_only=True)
        net.load_state_dict(st["net"])
        opt.load_state_dict(st["opt"])
        step = int(st["step"])
    model = torch.nn.parallel.DistributedDataParallel(net) if world > 1 else net
    G = G.eval().requires_grad_(False)
    rec = make_loss("dfeat+l2+msssim", D=D) if D is not None and config.feature_weight > 0 else make_loss("l2+msssim")
    if D is not None and hasattr(rec, "feature_weight"):
        rec.feature_weight = config.feature_weight
    need_oracle = (data.synthetic and config.id_weight > 0) or not data.synthetic
    if need_oracle and oracle is None:
        from synthetic import oracle as oracle_mod

        oracle = oracle_mod.load()
    if oracle is not None:
        oracle = oracle.eval().requires_grad_(False)
    if identity_net is not None:
        identity_net = identity_net.eval().requires_grad_(False)
    res = int(G.img_resolution)
    face_masks = None if data.synthetic else _landmark_masks(data, res)
    spread = float(data.ws.std())
    batches = _Batches(data, config.seed * 1000 + rank * 7919 + step)
    bar = tqdm(total=config.steps, initial=step, desc=f"train {method}", unit="step", disable=not (progress and rank == 0))
    t0 = time.perf_counter()
    while step < config.steps:
        i, j, p = batches.draw(config.batch)
        id_ws, att_ws = data.ws[i], data.ws[j]
        if config.noise > 0:
            id_ws = id_ws + config.noise * spread * torch.randn_like(id_ws)
            att_ws = att_ws + config.noise * spread * torch.randn_like(att_ws)
        noise = {k: v[j] for k, v in data.noise.items()} or None
        att_img = from_uint8(data.images[j])
        if data.synthetic:
            target = from_uint8(data.truth[p])
            region = torch.from_numpy(data.truth_masks[p] | data.masks[j]).float()[:, None]
        else:
            self_swap = torch.from_numpy(i == j)
            target = from_uint8(data.images[i])
            region = face_masks[j]
        if method == "ftm":
            img = G.synthesis(model(id_ws, att_ws), noise=noise)
            mask = None
        elif method == "inject":
            e = embeddings[torch.from_numpy(np.asarray(i))]
            if config.noise > 0:  # about `noise` in norm on the unit sphere, as the codes get theirs
                e = F.normalize(e + config.noise * torch.randn_like(e) / e.shape[1] ** 0.5, dim=1)
            img = G.synthesis(model(e, att_ws), noise=noise)
            mask = None
        else:
            with torch.no_grad():
                ws = base(id_ws, att_ws) if base is not None else lcr(id_ws, att_ws)
            img, mask = model(G, ws, att_img, noise)
        losses = {}
        if data.synthetic:
            losses["rec"] = rec(img, target).mean()
            if config.id_weight > 0:
                # the oracle's (or the user's network's) distance, never the judge's: the judge trains nothing
                id_distance = identity_net.distance if identity_net is not None else oracle.identity_distance
                losses["id"] = config.id_weight * id_distance(img, target).mean()
        else:
            losses.update(_photo_losses(img, target, self_swap, data.landmarks[j], rec, oracle, config, res,
                                        identity_net))
        if mask is not None:
            losses["mask"] = config.mask_weight * F.binary_cross_entropy(mask.clamp(1e-5, 1 - 1e-5), region)
        loss = sum(losses.values())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        bar.update(1)
        bar.set_postfix({k: f"{float(v.detach()):.3f}" for k, v in losses.items()})
        if state_path is not None and rank == 0 and (step % config.save_every == 0 or step == config.steps):
            _save_state(state_path, net, opt, step, config)
    bar.close()
    if world > 1:
        dist.barrier()
    net.train_seconds = time.perf_counter() - t0  # type: ignore[attr-defined]
    return net.eval().requires_grad_(False)


def _landmark_masks(data: SwapTrainData, res: int) -> torch.Tensor:
    """`[H, 1, R, R]` face masks from each head's landmarks (`inversion.face_mask`, dilated), the stored mask
    where the landmarks are unknown."""
    from inversion.paste import face_mask

    out = []
    for h in range(data.heads):
        lm = data.landmarks[h]
        m = face_mask(lm, res) if np.isfinite(lm).all() else data.masks[h].astype(np.float32)
        out.append(torch.from_numpy(np.asarray(m, np.float32)))
    return torch.stack(out)[:, None]


def _photo_losses(img: torch.Tensor, target: torch.Tensor, self_swap: torch.Tensor, landmarks: np.ndarray,
                  rec: Any, oracle: Any, config: SwapTrainConfig, res: int,
                  identity_net: Any = None) -> dict[str, torch.Tensor]:
    """Losses without truth: reconstruction on self-swaps, identity and landmarks on cross pairs."""
    out = {}
    r = rec(img, target)
    out["self"] = (r * self_swap.float()).sum() / self_swap.float().sum().clamp(min=1)
    cross = ~self_swap
    if cross.any():
        pred = oracle.predict(img[cross])
        with torch.no_grad():
            ref = (identity_net.embed if identity_net is not None else
                   lambda x: oracle.predict(x)["identity"])(target[cross])
        emb = identity_net.embed(img[cross]) if identity_net is not None else pred["identity"]
        out["id"] = config.photo_id_weight * (1 - (emb * ref).sum(1)).mean()
        lm = torch.from_numpy(landmarks[cross.numpy()]).float()
        ok = torch.isfinite(lm).all(dim=2).all(dim=1)
        if ok.any():
            out["landmark"] = config.landmark_weight * ((pred["landmarks"][ok] - lm[ok]) / res).square().mean()
    return out


def _save_state(path: Path, net: torch.nn.Module, opt: Any, step: int, config: SwapTrainConfig) -> None:
    from sgtcore.atomic import atomic_file

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as tmp:
        torch.save({"net": net.state_dict(), "opt": opt.state_dict(), "step": step, "config": asdict(config)}, tmp)


__all__ = ["SwapTrainConfig", "TRAINED", "train", "new_network", "head_embeddings", "STATE"]
