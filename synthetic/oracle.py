"""The attribute oracle: a small CNN that reads pose, expression, light direction, a 68-point
landmark set and an identity embedding off a synthetic-head render.

It is the measuring instrument for edits and swaps on the synthetic domain, and doubles as a
differentiable identity loss there (``1 - cos`` of :func:`Oracle.predict` embeddings).

The network sees the central ``CROP`` share of the FFHQ-aligned frame (the face; hair top, neck
and background corners cut) at ``INPUT_SIZE`` px, so a 128 px render enters unresampled and the
face is twice as large as in a 64 px full frame. Landmarks are still predicted in full-frame
coordinates.

    >>> from synthetic import oracle
    >>> net = oracle.load()                      # shipped weights
    >>> out = net.predict(images)                # images [N, 3, H, W] in [-1, 1], any H, W
    >>> out["yaw"], out["identity"].shape        # degrees [N], [N, 128] unit vectors
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from sgtcore import modelio, registry
from sgtcore.errors import CorruptCheckpointError, UnknownFormatError

from .params import Expression, fields_of

INPUT_SIZE = 96
CROP = 0.75  # central share of each side of the aligned frame the network sees
WEIGHTS = Path(__file__).parent / "weights" / "oracle"  # where `oracle_train` writes by default
LEGACY_VERSION = 2  # of the first layout (`oracle.safetensors` + `oracle.json`, the shipped weights)

POSE = ("yaw", "pitch", "roll")
POSE_SCALE = (70.0, 35.0, 25.0)  # degrees; outputs are trained in units of these
EXPRESSION = fields_of(Expression)
LIGHT = ("light_azimuth", "light_elevation")
LIGHT_SCALE = (80.0, 70.0)


def preprocess(images: torch.Tensor, size: int = INPUT_SIZE, crop: float = CROP) -> torch.Tensor:
    """Central ``crop`` of ``[N, 3, H, W]`` images in [-1, 1], resized to ``[N, 3, size, size]``.

    Antialiased and differentiable; a 128 px frame with the default crop is sliced, not resampled.
    """
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"expected images [N, 3, H, W], got {tuple(images.shape)}")
    h, w = images.shape[-2:]
    ch, cw = max(1, round(h * crop)), max(1, round(w * crop))
    top, left = (h - ch) // 2, (w - cw) // 2
    x = images[..., top : top + ch, left : left + cw]
    if (ch, cw) == (size, size):
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class Oracle(nn.Module):
    """Shared conv trunk (``input_size`` -> ``input_size / 16`` px), a 512-d feature and one head per quantity.

    Args:
        width: channels of the first stage (doubled per stage, 4 stages).
        embed_dim: identity embedding size.
        n_identity: number of identity parameters regressed as an auxiliary target.
        input_size: side of the network input (a multiple of 16).
        crop: central share of the frame that is resized to ``input_size`` (see :func:`preprocess`).
    """

    def __init__(
        self,
        width: int = 24,
        embed_dim: int = 128,
        n_identity: int = 24,
        input_size: int = INPUT_SIZE,
        crop: float = CROP,
    ):
        super().__init__()
        if input_size % 16:
            raise ValueError(f"input_size = {input_size} must be a multiple of 16 (four stride-2 stages)")
        self.config = {
            "width": width, "embed_dim": embed_dim, "n_identity": n_identity, "input_size": input_size, "crop": crop
        }
        w, s = width, input_size // 16
        self.trunk = nn.Sequential(_block(3, w), _block(w, 2 * w), _block(2 * w, 4 * w), _block(4 * w, 8 * w))
        # keep the s x s layout (squeezed to 64 channels): landmarks and pose need where, not just what
        self.fc = nn.Sequential(
            nn.Conv2d(8 * w, 64, 1, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
            nn.Flatten(),
            nn.Linear(64 * s * s, 512),
            nn.ReLU(inplace=True),
        )
        self.heads = nn.ModuleDict(
            {
                "pose": nn.Linear(512, len(POSE)),
                "expression": nn.Linear(512, len(EXPRESSION)),  # logits
                "light": nn.Linear(512, len(LIGHT)),
                "landmarks": nn.Linear(512, 136),
                # a projection MLP (as in SimCLR) keeps the contrastive invariance out of the shared feature
                "identity": nn.Sequential(nn.Linear(512, 512), nn.ReLU(inplace=True), nn.Linear(512, embed_dim)),
                "identity_params": nn.Linear(512, n_identity),
            }
        )

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Raw outputs for preprocessed input ``[N, 3, input_size, input_size]``.

        Normalised units (see :meth:`predict`); ``expression`` are logits.
        """
        h = self.fc(self.trunk(x))
        out = {k: head(h) for k, head in self.heads.items()}
        out["identity"] = F.normalize(out["identity"], dim=1)
        return out

    def predict(self, images: torch.Tensor, mirror_identity: bool = True,
                batch: int | None = None) -> dict[str, torch.Tensor]:
        """Named predictions for renders ``[N, 3, H, W]`` in [-1, 1] (any resolution, FFHQ-aligned frame).

        Args:
            mirror_identity: embed the left-right mirror image too and average the two identity
                embeddings (the heads are mirror-symmetric, so a mirrored render shows the same
                identity; this costs a second forward pass and lifts retrieval, see the README).
            batch: read at most this many images per pass (bounds memory for thousands of images;
                the results are concatenated). None: all at once.

        Returns:
            ``yaw, pitch, roll`` (degrees, [N]); one entry per expression parameter ([N], 0-1);
            ``light_azimuth, light_elevation`` (degrees, [N]); ``landmarks`` ([N, 68, 2] pixels of
            the input resolution); ``identity`` ([N, embed_dim] unit vectors); ``identity_params``
            ([N, n_identity], normalised). Differentiable; call under ``torch.no_grad()`` when
            only measuring.
        """
        if batch is not None and len(images) > batch:
            parts = [self.predict(images[i:i + batch], mirror_identity) for i in range(0, len(images), batch)]
            return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
        h, w = images.shape[-2:]
        x = preprocess(images, self.config["input_size"], self.config["crop"])
        n = len(x)
        if mirror_identity:
            x = torch.cat([x, x.flip(-1)])
        out = self(x)
        identity = out["identity"][:n]
        if mirror_identity:
            identity = F.normalize(identity + out["identity"][n:], dim=1)
            out = {k: v[:n] for k, v in out.items()}
        res: dict[str, torch.Tensor] = {}
        for i, (k, s) in enumerate(zip(POSE, POSE_SCALE)):
            res[k] = out["pose"][:, i] * s
        expr = torch.sigmoid(out["expression"])
        for i, k in enumerate(EXPRESSION):
            res[k] = expr[:, i]
        for i, (k, s) in enumerate(zip(LIGHT, LIGHT_SCALE)):
            res[k] = out["light"][:, i] * s
        lm = out["landmarks"].view(-1, 68, 2)
        res["landmarks"] = lm * torch.tensor([w, h], dtype=lm.dtype, device=lm.device)
        res["identity"] = identity
        res["identity_params"] = out["identity_params"]
        return res

    def identity_distance(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """``1 - cos`` between the identity embeddings of two image batches ``[N, 3, H, W]`` -> ``[N]``.

        Usable as a differentiable identity loss on synthetic renders.
        """
        return 1 - (self.predict(a)["identity"] * self.predict(b)["identity"]).sum(1)

    def save_pretrained(self, directory: str | os.PathLike = WEIGHTS, extra: dict[str, Any] | None = None,
                        half: bool = True) -> Path:
        """Write the oracle as a model folder (`sgtcore.modelio`), atomically; `extra` goes into its metadata.

        fp16 storage (the default) keeps the shipped file small; loading casts back to fp32.
        """
        return modelio.save(self, directory, metadata=extra, half=half)


def _load_legacy(path: Path) -> Oracle:
    """The first layout: ``oracle.safetensors`` + ``oracle.json`` (``class``, ``format_version`` 2, init args)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        cfg = json.loads(path.with_suffix(".json").read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CorruptCheckpointError(f"{path.with_suffix('.json')}: unreadable oracle config ({exc})") from exc
    if cfg.get("class") != "Oracle" or cfg.get("format_version") != LEGACY_VERSION:
        raise UnknownFormatError(
            f"{path}: oracle format {cfg.get('format_version')} is not {LEGACY_VERSION}; "
            "retrain with `python -m synthetic.oracle_train` or check out matching weights"
        )
    net = Oracle(**{k: cfg[k] for k in ("width", "embed_dim", "n_identity", "input_size", "crop")})
    try:
        state = load_file(str(path))
    except (OSError, SafetensorError) as exc:
        raise CorruptCheckpointError(f"{path}: cannot read oracle weights ({str(exc)[:200]})") from exc
    net.load_state_dict(state)  # float16 storage is cast back on copy
    return net


def load(path: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> Oracle:
    """Load the oracle (the registered one, i.e. the shipped weights, by default), in eval mode with its
    weights frozen (gradients still flow to the input images).

    Args:
        path: a model folder, or a ``.safetensors`` file of the first layout (with its ``.json`` beside).

    Raises:
        FileNotFoundError: with the command that trains the weights.
        UnknownFormatError, CorruptCheckpointError, ArchitectureMismatchError: see ``sgtcore.modelio.load``.
    """
    path = registry.locate("oracle", "oracle", path, hint="train them with `python -m synthetic.oracle_train`")
    net = _load_legacy(path) if path.is_file() else modelio.load(path, expect="Oracle")
    return net.to(device).eval().requires_grad_(False)
