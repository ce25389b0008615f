"""GANSpace: principal components of mapped w (Härkönen et al., NeurIPS 2020).

The paper runs an incremental PCA over 10⁵–10⁶ samples of w = mapping(z); an edit is a component
applied to a range of ws rows, in units of that component's standard deviation. We accumulate the
mean and covariance of w in float64 batch by batch (memory O(w_dim²), independent of the sample count
and of the batch size) and take the covariance's eigenvectors: the exact PCA of all samples, which
sklearn's IncrementalPCA approximates.
"""
from __future__ import annotations

from typing import Iterable

import torch

from ..base import LinearEdit, check_rows
from .samples import fix_sign, w_moments


def ganspace_pca(G: torch.nn.Module, num_samples: int = 100_000, seed: int = 0, batch_size: int = 4096,
                 progress: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """PCA of `num_samples` mapped w (seed `seed`).

    Returns:
        mean `[w_dim]`, components `[w_dim, w_dim]` (row k = component k, unit norm, sorted by variance,
        sign fixed so its largest entry is positive), variances `[w_dim]` (descending), all float64.
    """
    mean, cov = w_moments(G, num_samples, seed, batch_size, progress)
    values, vectors = torch.linalg.eigh(cov)
    order = torch.argsort(values, descending=True)
    return mean, fix_sign(vectors[:, order].T.contiguous()), values[order].clamp_min(0)


def ganspace(G: torch.nn.Module, num: int = 5, rows: str | Iterable[int] = "all", *, num_samples: int = 100_000,
             seed: int = 0, batch_size: int = 4096, progress: bool = False,
             metadata: dict | None = None) -> list[LinearEdit]:
    """The top `num` principal components of w as edits "ganspace:0", ... in σ units (σ = √variance).

    Args:
        G: the generator.
        num: how many components.
        rows: ws rows the edits change ("all", or e.g. range(0, 4)).
        num_samples, seed, batch_size, progress: see `ganspace_pca`.
        metadata: saved with each edit.
    """
    from stylegan import fingerprint

    rows = tuple(range(G.num_ws)) if isinstance(rows, str) and rows == "all" else check_rows(rows, G.num_ws)
    _, components, variances = ganspace_pca(G, num_samples, seed, batch_size, progress)
    if not 1 <= num <= components.shape[0]:
        raise ValueError(f"num must be in 1..{components.shape[0]} (w_dim), got {num}")
    total = float(variances.sum())
    fp = fingerprint(G)
    return [LinearEdit(components[k], rows, float(variances[k].sqrt()), name=f"ganspace:{k}", method="ganspace",
                       num_ws=G.num_ws, generator=fp, metadata=metadata,
                       info={"component": k, "variance": float(variances[k]),
                             "explained_variance_ratio": float(variances[k]) / total,
                             "num_samples": num_samples, "seed": seed})
            for k in range(num)]


__all__ = ["ganspace", "ganspace_pca"]
