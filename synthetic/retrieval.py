"""Identity retrieval, the one measure every identity figure uses (oracle, judge, swap and inversion benches)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def hits(queries: torch.Tensor, gallery: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Bool `[K]`: is the nearest (cosine) row of `gallery [N, D]` to each of `queries [K, D]` its label `labels [K]`."""
    return (F.normalize(queries, dim=1) @ F.normalize(gallery, dim=1).T).argmax(1) == labels


def top1(queries: torch.Tensor, gallery: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of `queries [K, D]` whose nearest (cosine) row of `gallery [N, D]` is `labels [K]`."""
    return float(hits(queries, gallery, labels).float().mean())


def first_render_gallery(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, torch.Tensor]:
    """For a set of renders with identity `ids [N]`: each identity's first render is the gallery, the others
    the queries. Returns `(gallery_index [G], query_index [Q], labels [Q])` (labels index the gallery)."""
    ids = np.asarray(ids)
    uniq, first = np.unique(ids, return_index=True)
    query = np.setdiff1d(np.arange(len(ids)), first)
    return first, query, torch.from_numpy(np.searchsorted(uniq, ids[query]))


__all__ = ["hits", "top1", "first_render_gallery"]
