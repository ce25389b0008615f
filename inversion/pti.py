"""Pivotal tuning (Roich et al. 2021, PTI): after projecting an image to a pivot ws, tune the
synthesis network around that pivot so that G(pivot) reproduces the image faithfully.

PTI tunes every synthesis weight and so stores a whole generator per image. Here the change is
low-rank (LoRA-style, Hu et al. 2021): each conv / ToRGB weight `[O, I, k, k]` gets `A @ B` with
`A [O, r]`, `B [r, I*k*k]`, and each bias a full (tiny) delta. Only these factors are saved
in the toolkit's model format (`sgtcore.modelio`, kind `pti_delta`), with the fingerprint of the
base G (`stylegan.fingerprint`) so a delta is never applied to the wrong model.
"""
from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.func import functional_call
from tqdm.auto import tqdm

from sgtcore import modelio
from sgtcore.errors import ArchitectureMismatchError, CorruptCheckpointError, UnknownFormatError
from stylegan import Discriminator, Generator, fingerprint
from stylegan.utils import assert_shape

from .losses import ReconstructionLoss, make_loss, psnr
from .projection import TargetLike, check_finite, frozen, prepare_target

LEGACY_FORMAT = "sgt-pti-delta"  # the first layout: one safetensors file, settings in its header
LEGACY_VERSION = 1


class DeltaMismatchError(ArchitectureMismatchError, ValueError):
    """A PTI delta was made for a different base generator (a ValueError too, as it was first)."""


def tunable_weights(G: Generator) -> dict[str, torch.Tensor]:
    """Synthesis conv and ToRGB weights `{name: [O, I, k, k]}` (names relative to `G.synthesis`)."""
    return {n: p for n, p in G.synthesis.named_parameters() if n.endswith(".weight") and p.ndim == 4}


def tunable_biases(G: Generator) -> dict[str, torch.Tensor]:
    """Biases of the same layers `{name: [O]}`."""
    return {n[:-len("weight")] + "bias": dict(G.synthesis.named_parameters())[n[:-len("weight")] + "bias"]
            for n in tunable_weights(G)}


@dataclass
class PTIDelta:
    """Low-rank change of G's synthesis weights found by `pivotal_tuning`.

    Attributes:
        factors: `{weight name: (A [O, r], B [r, I*k*k])}`.
        biases: `{bias name: delta [O]}`.
        pivot: ws `[1, num_ws, w_dim]` the tuning used.
        noise: noise maps used (names as in `ProjectionResult.noise`).
        base: `fingerprint` of the base G.
        history: per-step 'loss' and 'psnr', and 'loss_name'.
        image: the tuned reconstruction `[1, 3, R, R]` (not saved).
    """

    factors: dict[str, tuple[torch.Tensor, torch.Tensor]]
    biases: dict[str, torch.Tensor]
    pivot: torch.Tensor
    noise: dict[str, torch.Tensor]
    base: str
    history: dict
    image: torch.Tensor | None = None

    def overrides(self, G: Generator) -> dict[str, torch.Tensor]:
        """`{name: tuned tensor}` for `functional_call(G.synthesis, ...)` (differentiable in the factors)."""
        params = dict(G.synthesis.named_parameters())
        out = {n: params[n] + (a @ b).view_as(params[n]) for n, (a, b) in self.factors.items()}
        out.update({n: params[n] + d for n, d in self.biases.items()})
        return out

    def save(self, path: str | os.PathLike) -> Path:
        """Write the factors, biases, pivot and noise as a model folder at `path`, atomically."""
        tensors = {"pivot": self.pivot}
        for n, (a, b) in self.factors.items():
            tensors[f"A/{n}"], tensors[f"B/{n}"] = a, b
        tensors.update({f"bias/{n}": d for n, d in self.biases.items()})
        tensors.update({f"noise/{n}": v for n, v in self.noise.items()})
        config = {"loss_name": str(self.history.get("loss_name", ""))}
        return modelio.save(modelio.Bundle("PTIDelta", "pti_delta", tensors, config), path, generator=self.base)


def _from_tensors(t: dict[str, torch.Tensor], base: str, loss_name: str) -> PTIDelta:
    factors = {k[2:]: (t[k], t["B/" + k[2:]]) for k in t if k.startswith("A/")}
    biases = {k[5:]: v for k, v in t.items() if k.startswith("bias/")}
    noise = {k[6:]: v for k, v in t.items() if k.startswith("noise/")}
    return PTIDelta(factors, biases, t["pivot"], noise, base, {"loss_name": loss_name})


def _load_legacy(path: Path) -> PTIDelta:
    """The first layout: one safetensors file whose header holds format, version, base and loss_name."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            if meta.get("format") != LEGACY_FORMAT:
                raise UnknownFormatError(f"{path}: not a PTI delta (format {meta.get('format')!r}); write one with "
                                         "`sgt project --pti-steps`")
            if int(meta.get("version", 0)) > LEGACY_VERSION:
                raise UnknownFormatError(f"{path}: delta format version {meta['version']} is newer than this code "
                                         f"({LEGACY_VERSION}); upgrade")
            t = {k: f.get_tensor(k) for k in f.keys()}
    except (OSError, SafetensorError) as exc:
        raise CorruptCheckpointError(f"{path}: cannot read a PTI delta ({str(exc)[:200]})") from exc
    return _from_tensors(t, meta["base"], meta.get("loss_name", ""))


def load_delta(path: str | os.PathLike) -> PTIDelta:
    """Read a delta written by `PTIDelta.save` (a model folder) or by its first version (one file).

    Raises:
        FileNotFoundError. UnknownFormatError: not a PTI delta (or a newer version).
        ArchitectureMismatchError: a model folder holding something else. CorruptCheckpointError.
    """
    path = Path(path)
    if path.is_file():
        return _load_legacy(path)
    bundle = modelio.load(path, expect="PTIDelta")
    if bundle.generator is None:
        raise CorruptCheckpointError(f"{path}: a PTI delta without the fingerprint of its base generator")
    return _from_tensors(bundle.tensors, bundle.generator, bundle.config.get("loss_name", ""))


def apply_delta(G: Generator, delta: PTIDelta | str | os.PathLike) -> Generator:
    """A copy of G with the delta merged into its synthesis weights (G itself is unchanged).

    Raises:
        DeltaMismatchError: the delta was made for another generator.
    """
    if not isinstance(delta, PTIDelta):
        delta = load_delta(delta)
    if delta.base != fingerprint(G):
        raise DeltaMismatchError(f"this PTI delta was tuned on generator {delta.base}, not on this one "
                                 f"({fingerprint(G)}); load the same --network it was made with")
    tuned = copy.deepcopy(G)
    with torch.no_grad():
        params = dict(tuned.synthesis.named_parameters())
        for name, value in delta.overrides(G).items():
            params[name].copy_(value)
    return tuned


def pivotal_tuning(
    G: Generator,
    target: TargetLike,
    pivot: torch.Tensor,
    noise: dict[str, torch.Tensor] | None = None,
    steps: int = 350,
    lr: float = 1e-2,
    rank: int = 4,
    loss: str | ReconstructionLoss = "auto",
    D: Discriminator | None = None,
    seed: int = 0,
    progress: bool = True,
) -> PTIDelta:
    """Tune low-rank changes of G's synthesis weights so that `G.synthesis(pivot)` matches `target`.

    Args:
        G: generator; not modified.
        target: the image (see `project.prepare_target`).
        pivot: ws `[1, num_ws, w_dim]`, usually `project(...).ws` (PTI: 450 W steps).
        noise: noise maps from the projection (kept fixed).
        steps: Adam steps (PTI: 350).
        lr: Adam learning rate of the factors (the low-rank factors need more than PTI's 3e-4).
        rank: rank r of each weight delta.
        loss: as in `project`.
        D: discriminator for the D-feature fallback loss.
        seed: seeds the factors' initialisation.
        progress: show a tqdm bar.

    Returns:
        `PTIDelta`; `apply_delta(G, delta)` gives the tuned generator.
    """
    device = G.w_avg.device
    target_t = prepare_target(target, G.img_resolution).to(device)
    pivot = pivot.detach().to(device)
    assert_shape(pivot, [1, G.num_ws, G.w_dim], "pivot")
    check_finite(pivot, "pivot")
    noise = {k: v.detach().to(device) for k, v in (noise or {}).items()}
    loss_fn = loss if isinstance(loss, ReconstructionLoss) else make_loss(loss, D=D)
    gen = torch.Generator().manual_seed(seed)
    factors = {}
    for n, w in tunable_weights(G).items():
        fan_in = w[0].numel()
        # LoRA init: A = 0 so tuning starts exactly at G; B random so A gets gradients.
        factors[n] = (torch.zeros(w.shape[0], rank, device=device, requires_grad=True),
                      (torch.randn(rank, fan_in, generator=gen) / fan_in ** 0.5).to(device).requires_grad_(True))
    biases = {n: torch.zeros_like(b, requires_grad=True) for n, b in tunable_biases(G).items()}
    delta = PTIDelta(factors, biases, pivot, noise, fingerprint(G), {"loss": [], "psnr": [], "loss_name": loss_fn.name})
    opt = torch.optim.Adam([t for ab in factors.values() for t in ab] + list(biases.values()), lr=lr)
    with frozen(G, loss_fn):
        for _ in tqdm(range(steps), desc="pivotal tuning", unit="step", disable=not progress, leave=False):
            # functional_call only for the tuned weights; the fixed noise maps go in through `noise=`.
            img = functional_call(G.synthesis, delta.overrides(G), (pivot,), {"noise_mode": "const", "noise": noise})
            value = loss_fn(img, target_t).sum()
            opt.zero_grad(set_to_none=True)
            value.backward()
            opt.step()
            delta.history["loss"].append(value.item())
            delta.history["psnr"].append(float(psnr(img.detach(), target_t)))
        with torch.no_grad():
            delta.image = functional_call(G.synthesis, delta.overrides(G), (pivot,), {"noise_mode": "const", "noise": noise})
    delta.factors = {n: (a.detach(), b.detach()) for n, (a, b) in factors.items()}
    delta.biases = {n: d.detach() for n, d in biases.items()}
    return delta
