"""SeFa: closed-form factorisation of latent semantics (Shen & Zhou, CVPR 2021).

The style of a modulated layer is `s = A_l w + b_l`; a direction n moves the styles of the chosen layers
by `A n`, so the directions that change them most are the top eigenvectors of `AᵀA`, A the chosen
layers' affine weights stacked (paper eq. 5). As in the authors' code, each channel's weight vector
(a row of A here; a column in their `(w_dim, C)` layout) is normalised to unit length first, so wide
layers and weight gains do not dominate. `AᵀA` is symmetric: `torch.linalg.eigh`, sorted by eigenvalue
(the reference code calls the unsorted general `eig`).

Layers are named by the ws row they read, which for the conv layers of our (and NVlabs') layout is
their index in forward order: b4.conv1 reads row 0, b8.conv0 row 1, b8.conv1 row 2, ... (ToRGB layers
read the row of the next conv, and the last ToRGB the last row; excluded unless asked for, as in
SeFa). e4e's port (`editings/sefa.py`, rosinality layout) indexes `g.convs`, whose entry i is layer
i+1 (the 4×4 conv is `g.conv1`), and then edits `latent[:, layers]` with those convs indices: the
change lands one row before the layer it was factorised from. We map through
`G.synthesis.style_layout()`, so the rows edited are exactly the rows the layers read.
"""
from __future__ import annotations

from typing import Iterable

import torch

from ..base import LinearEdit, check_rows
from .samples import fix_sign, sigma_along, w_moments


def sefa_layers(G: torch.nn.Module, layers: str | int | Iterable[int | str] = "all",
                include_torgb: bool = False) -> list[tuple[str, int]]:
    """The `(layer name, ws row)` pairs chosen by `layers`.

    Args:
        G: the generator.
        layers: "all" (every conv layer; with `include_torgb` also every ToRGB), ws rows (every layer that
            reads one of them) or layer names ("b8.conv0").
        include_torgb: also take ToRGB layers that read the chosen rows.

    Raises:
        ValueError: an unknown name, a row out of range, or a row only ToRGB layers read without
            `include_torgb`.
    """
    layout = G.synthesis.style_layout()
    keep = [(n, r) for n, r in layout if include_torgb or not n.endswith("torgb")]
    if isinstance(layers, str) and layers == "all":
        return keep
    items = [layers] if isinstance(layers, (int, str)) else list(layers)
    names = [i for i in items if isinstance(i, str)]
    unknown = [n for n in names if n not in dict(layout)]
    if unknown:
        raise ValueError(f"unknown layer(s) {unknown}; this generator's modulated layers are "
                         f"{', '.join(n for n, _ in layout)}")
    numbered = [i for i in items if not isinstance(i, str)]
    rows = set(check_rows(numbered, G.num_ws)) if numbered else set()
    chosen = [(n, r) for n, r in layout if n in names or ((n, r) in keep and r in rows)]
    orphan = sorted(rows - {r for _, r in chosen})
    if orphan:
        raise ValueError(f"ws row(s) {orphan} feed only ToRGB layers; pass include_torgb=True (--include-torgb) "
                         "to use them")
    if not chosen:
        raise ValueError("layers selects no layer; pass 'all', ws rows or layer names")
    return chosen


def sefa_matrix(G: torch.nn.Module, layer_names: Iterable[str]) -> torch.Tensor:
    """A `[sum C, w_dim]` float64: the named layers' affine weights as used at run time (weight × weight_gain),
    each row (one channel's weights over w) normalised to unit length."""
    rows = []
    for name in layer_names:
        block, layer = name.split(".")
        affine = getattr(getattr(G.synthesis, block), layer).affine
        rows.append(affine.weight.detach().double().cpu() * affine.weight_gain)
    A = torch.cat(rows, dim=0)
    return A / A.norm(dim=1, keepdim=True)


def sefa_factorize(G: torch.nn.Module, layers: str | int | Iterable[int | str] = "all",
                   include_torgb: bool = False) -> tuple[torch.Tensor, torch.Tensor, list[tuple[str, int]]]:
    """Eigen-decomposition of AᵀA for the chosen layers.

    Returns:
        eigenvalues `[w_dim]` (descending), eigenvectors `[w_dim, w_dim]` (row k = direction k, unit norm,
        sign fixed so its largest entry is positive), and the chosen `(layer, ws row)` pairs.
    """
    chosen = sefa_layers(G, layers, include_torgb)
    A = sefa_matrix(G, [n for n, _ in chosen])
    values, vectors = torch.linalg.eigh(A.T @ A)  # ascending
    order = torch.argsort(values, descending=True)
    return values[order], fix_sign(vectors[:, order].T.contiguous()), chosen


def sefa(G: torch.nn.Module, num: int = 5, layers: str | int | Iterable[int | str] = "all", *,
         include_torgb: bool = False, sigma_samples: int = 10_000, seed: int = 0, batch_size: int = 4096,
         metadata: dict | None = None) -> list[LinearEdit]:
    """The top `num` SeFa components as edits named "sefa:0", "sefa:1", ... in σ units.

    Args:
        G: the generator.
        num: how many components.
        layers: see `sefa_layers`; the edits change the ws rows those layers read.
        include_torgb: factorise ToRGB affines too.
        sigma_samples: mapped samples (seed `seed`) measuring σ, the std of w along each direction.
        seed, batch_size: for those samples.
        metadata: saved with each edit (e.g. {"network": "synthheads"}).
    """
    from stylegan import fingerprint

    values, vectors, chosen = sefa_factorize(G, layers, include_torgb)
    if not 1 <= num <= vectors.shape[0]:
        raise ValueError(f"num must be in 1..{vectors.shape[0]} (w_dim), got {num}")
    _, cov = w_moments(G, sigma_samples, seed, batch_size)
    sigmas = sigma_along(cov, vectors[:num])
    rows = sorted({r for _, r in chosen})
    fp = fingerprint(G)
    return [LinearEdit(vectors[k], rows, float(sigmas[k]), name=f"sefa:{k}", method="sefa", num_ws=G.num_ws,
                       generator=fp, metadata=metadata,
                       info={"component": k, "eigenvalue": float(values[k]), "layers": [n for n, _ in chosen],
                             "sigma_samples": sigma_samples, "seed": seed})
            for k in range(num)]


__all__ = ["sefa", "sefa_factorize", "sefa_layers", "sefa_matrix"]
