"""Image-space terms for Delta-GAN training: hold the transferred edit to what the synthetic world knows.

The paper's loss (Diamant et al. 2021) compares codes only: ‖b_j − b̂_j‖², and both sides carry the
inversion's error, so an edit can match the inverted target code and still change who the head is. Here
the exact render of head B at frame j and the head's identity are known; each term renders the transferred
code b̂_j with G (const noise) and compares it with `render(params of B at frame j)`:

- image: the reconstruction distance (`inversion.losses`: l2 + MS-SSIM, or the D-feature loss with a
  discriminator) to that render;
- identity: 1 − cos of the oracle's identity embeddings of the two (the head is the same person at every
  frame, so the edit must not move it);
- leakage: mean over the other attributes of |oracle reading of G(b̂_j) − of the render|, each in units of
  the attribute's noticeable change (`Attribute.noticeable`: 3°, 0.05), so degrees and 0-1 units weigh alike;
- attribute: |the oracle's reading of the edited attribute in G(b̂_j) − its exact value at frame j|, in the
  same units: the change must happen. It keeps the identity and leakage terms from being paid by not moving
  at all (measured: with 'source' references and no attribute term the edit collapsed, bench/RESULTS.md).

`reference='source'` reads identity and leakage against G's render of the code the change starts from
(b_i) instead of the exact render: preservation (what an edit's identity drift and leakage measure), where
'truth' also asks the edit to undo the inversion's own error in who the head is, an error no other head
shares; the attribute term then asks for the exact change from frame i to j read off G(b_i), not the exact
value. The image term always compares with the exact render.

All read by the attribute oracle, the training signal; the identity judge never (it measures the result).
The renders and the oracle's readings of them are made once, when training starts.

    >>> terms = ImageTerms(G, data, oracle, weights={"image": 1.0, "identity": 0.5, "leakage": 0.1})  # doctest: +SKIP
    >>> losses = terms(b_hat, B, j)          # {"image": ..., "identity": ..., "leakage": ...} weighted, scalars
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F

from ..attributes import ATTRIBUTES
from .data import DeltaData

TERMS = ("image", "identity", "leakage", "attribute")
REFERENCES = ("truth", "source")


class ImageTerms:
    """The weighted image-space terms for transferred codes `b̂ [K, num_ws, w_dim]` of heads `B [K]` at frames `j [K]`.

    Args:
        G: the (frozen) generator the codes belong to.
        data: the training data (its `params` give the exact renders).
        oracle: `synthetic.oracle.load()`.
        weights: `{term: weight}` for terms of `TERMS` (missing or 0: not computed).
        D: G's discriminator, for the D-feature image loss (None: l2 + MS-SSIM).
        reference: what identity, leakage and attribute compare with: 'truth' (the exact render of B at frame
            j) or 'source' (G's render of the source code b_i, passed to the call, and the exact change i -> j).

    Raises:
        ValueError: an unknown term or reference, a negative weight, or data without the per-frame parameters.
    """

    def __init__(self, G: Any, data: DeltaData, oracle: Any, weights: Mapping[str, float], D: Any = None,
                 reference: str = "truth"):
        from inversion.losses import make_loss
        from stylegan.images import from_uint8
        from synthetic import HeadParams, render

        unknown = set(weights) - set(TERMS)
        if unknown:
            raise ValueError(f"unknown image term(s) {sorted(unknown)}; known: {', '.join(TERMS)}")
        if any(float(w) < 0 for w in weights.values()):
            raise ValueError(f"image-term weights must be >= 0, got {dict(weights)}")
        if reference not in REFERENCES:
            raise ValueError(f"reference must be one of {', '.join(REFERENCES)}, got {reference!r}")
        self.reference = reference
        self.weights = {k: float(v) for k, v in weights.items() if float(v) > 0}
        if not data.params or len(data.params) != data.heads:
            raise ValueError("the data has no per-frame head parameters, so the exact renders are unknown; build "
                             "it again with edits.delta.data.build")
        self.G, self.oracle = G, oracle
        self.others = [n for n in ATTRIBUTES if n != data.attribute]
        self.attribute = ATTRIBUTES[data.attribute]
        self.values = torch.tensor(data.values, dtype=torch.float32, device=G.w_avg.device)
        res = G.img_resolution
        truth = [[from_uint8(render(HeadParams.from_dict(p), res).image) for p in head] for head in data.params]
        self.truth = torch.stack([torch.cat(frames) for frames in truth]).to(G.w_avg.device)  # [H, T, 3, R, R]
        with torch.no_grad():
            flat = self.truth.flatten(0, 1)
            pred = oracle.predict(flat)
            h, t = self.truth.shape[:2]
            self.truth_identity = pred["identity"].reshape(h, t, -1)
            self.truth_scores = self._scores(pred).reshape(h, t, -1)
        self.rec = make_loss("dfeat+l2+msssim", D=D) if D is not None else make_loss("l2+msssim")

    def _scores(self, pred: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """`[N, A]` readings of the other attributes, each divided by its noticeable change."""
        return torch.stack([ATTRIBUTES[n].score(pred) / ATTRIBUTES[n].noticeable for n in self.others], dim=1)

    def __call__(self, b_hat: torch.Tensor, heads: torch.Tensor, frames: torch.Tensor,
                 source: torch.Tensor | None = None, source_frames: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Weighted terms (scalars, differentiable in `b_hat`) for `b_hat [K, num_ws, w_dim]`, `heads [K]`, `frames [K]`;
        with reference 'source': `source [K, num_ws, w_dim]`, the codes the change starts from, at `source_frames [K]`."""
        if not self.weights:
            return {}
        img = self.G.synthesis(b_hat, noise_mode="const")
        target = self.truth[heads, frames]
        out = {}
        if "image" in self.weights:
            out["image"] = self.weights["image"] * self.rec(img, target).mean()
        if not {"identity", "leakage", "attribute"} & set(self.weights):
            return out
        pred = self.oracle.predict(img)
        if self.reference == "source":
            if source is None or source.shape != b_hat.shape or source_frames is None:
                raise ValueError("reference 'source' needs the source codes and frames (source=, shaped like b_hat, "
                                 "and source_frames=)")
            with torch.no_grad():
                ref = self.oracle.predict(self.G.synthesis(source, noise_mode="const"))
            ref_identity, ref_scores = F.normalize(ref["identity"], dim=1), self._scores(ref)
            # the exact change from frame i to frame j, read from where G(b_i) stands
            want = self.attribute.score(ref) + self.values[frames] - self.values[source_frames]
        else:
            ref_identity, ref_scores = self.truth_identity[heads, frames], self.truth_scores[heads, frames]
            want = self.values[frames]
        if "identity" in self.weights:
            cos = F.cosine_similarity(pred["identity"], ref_identity, dim=1)
            out["identity"] = self.weights["identity"] * (1 - cos).mean()
        if "leakage" in self.weights:
            out["leakage"] = self.weights["leakage"] * (self._scores(pred) - ref_scores).abs().mean()
        if "attribute" in self.weights:
            miss = (self.attribute.score(pred) - want).abs() / self.attribute.noticeable
            out["attribute"] = self.weights["attribute"] * miss.mean()
        return out


__all__ = ["TERMS", "REFERENCES", "ImageTerms"]
