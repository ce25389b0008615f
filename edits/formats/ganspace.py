"""GANSpace components (harskish/ganspace `.npz` caches and e4e's `ganspace_pca/*.pt`) as edits.

Files:
- harskish/ganspace `cache/components/{model}-{class}_{layer}_{estimator}_c{C}_n{N}[_w][_seed{S}].npz`
  (`np.savez_compressed`): `lat_comp [C, 1, w_dim]` (unit rows), `lat_mean [1, w_dim]`, `lat_stdev [C]`
  (std of mapped w along each component, from 5000 samples), plus `act_comp`, `act_mean`, `act_stdev`,
  `var_ratio`, `random_stdevs` (the activation-space PCA, not needed for a W edit). Without `_w` in
  the name the components live in Z and `lat_stdev` is all ones: refused (a Z direction is no W edit).
- e4e (omertov/encoder4editing) `editings/ganspace_pca/ffhq_pca.pt`: `{mean [1, 512], comp [80, 1, 512],
  std [80]}`, float32, the same quantities for StyleGAN2 FFHQ's W.

An edit is (component k, ws rows [start, end), strength in σ = `lat_stdev[k]`): e4e's
`(pca_idx, start, end, strength)` tuples. GANSpace *sets* the coordinate (`ComponentEdit`, mode "set").
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import torch

from sgtcore.errors import ArchitectureMismatchError, UnknownFormatError

from ..base import check_rows
from .families import MODES, ComponentEdit
from .files import as_array

#: keys of a GANSpace cache (`decomposition.py`) and of e4e's PCA file
NPZ_KEYS = ("lat_comp", "lat_mean", "lat_stdev")
E4E_KEYS = ("comp", "mean", "std")
#: components a file gives when none is chosen: as many as `sgt directions --method ganspace` makes
DEFAULT_COMPONENTS = 5
_CACHE_NAME = re.compile(r"_n\d+(?P<w>_w)?(_seed\d+)?$")


def is_components(obj: Any) -> bool:
    """True for a GANSpace cache's or e4e's PCA dict."""
    return isinstance(obj, dict) and (all(k in obj for k in NPZ_KEYS) or all(k in obj for k in E4E_KEYS))


def read_components(obj: dict, path: Path, G: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`(mean [w_dim], components [C, w_dim] unit rows, stds [C])` float64 from either layout.

    Raises:
        UnknownFormatError: shapes that are not a PCA's. CorruptCheckpointError: NaN/Inf.
        ArchitectureMismatchError: another w_dim, or Z-space components.
    """
    keys = NPZ_KEYS if all(k in obj for k in NPZ_KEYS) else E4E_KEYS
    comp, mean, std = (as_array(obj[k], path, k) for k in keys)
    if comp.ndim == 3 and comp.shape[1] == 1:
        comp = comp[:, 0]
    mean = mean.reshape(-1) if mean.ndim == 2 and mean.shape[0] == 1 else mean
    std = std.reshape(-1)
    if comp.ndim != 2 or mean.ndim != 1 or std.shape[0] != comp.shape[0]:
        raise UnknownFormatError(
            f"{path}: {keys[0]} {list(obj[keys[0]].shape)}, {keys[1]} {list(obj[keys[1]].shape)}, {keys[2]} "
            f"{list(obj[keys[2]].shape)} are not a W PCA's [C, 1, w_dim], [1, w_dim], [C] (per-row components "
            "are not supported)")
    if comp.shape[1] != G.w_dim or mean.shape[0] != G.w_dim:
        raise ArchitectureMismatchError(f"{path}: components of {comp.shape[1]} values, the generator has w_dim "
                                        f"{G.w_dim}: they were made for another generator")
    named = _CACHE_NAME.search(path.stem)
    if (named and not named["w"]) or np.all(std == 1.0):
        why = ("its name has no _w (GANSpace names W caches ..._n{N}_w.npz)" if named and not named["w"] else
               "its lat_stdev is all ones, which GANSpace writes for Z-space components")
        raise ArchitectureMismatchError(
            f"{path}: Z-space components ({why}). A Z direction applied to w moves the latent along an unrelated "
            "direction, so it is refused; compute W components (GANSpace --use_w) or use `sgt directions "
            "--method ganspace`")
    norms = np.linalg.norm(comp, axis=1)
    if not (norms > 0).all() or not (std > 0).all():
        raise UnknownFormatError(f"{path}: a component of zero length or zero std")
    return mean, comp / norms[:, None], std


def component_edits(obj: dict, path: Path, G: Any, *, components: Iterable[int] | None = None,
                    rows: Iterable[int] | None = None, mode: str = "set", name: str | None = None,
                    info: dict | None = None) -> list[ComponentEdit]:
    """The chosen components of a GANSpace / e4e PCA file as `ComponentEdit`s.

    Args:
        obj: the file's dict.
        path: where it came from.
        G: the generator they are imported for.
        components: component indices (default the first `DEFAULT_COMPONENTS`).
        rows: ws rows each changes (default all; e4e's smile is component 46 on rows range(4, 5)).
        mode: "set" (GANSpace, e4e) or "add".
        name: catalogue name, only with one component (default "ganspace:K", "ganspace:K@START:END" when the
            rows are a range other than all).
        info: facts about the source, saved with each edit.
    """
    from stylegan import fingerprint

    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    mean, comp, std = read_components(obj, path, G)
    ks = list(range(min(DEFAULT_COMPONENTS, len(comp)))) if components is None else list(components)
    bad = [k for k in ks if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k < len(comp)]
    if bad or not ks:
        raise ValueError(f"{path}: holds components 0..{len(comp) - 1}; got {bad or 'none'}")
    if name is not None and len(ks) != 1:
        raise ValueError("name= names one edit; choose one component")
    rows = tuple(range(G.num_ws)) if rows is None else check_rows(rows, G.num_ws)
    suffix = ""
    if rows != tuple(range(G.num_ws)):
        contiguous = rows == tuple(range(rows[0], rows[-1] + 1))
        suffix = f"@{rows[0]}:{rows[-1] + 1}" if contiguous else "@" + ",".join(map(str, rows))
    fp = fingerprint(G)
    return [ComponentEdit(torch.from_numpy(mean), torch.from_numpy(comp[k]), float(std[k]), rows, num_ws=G.num_ws,
                          name=name or f"ganspace:{int(k)}{suffix}", mode=mode, generator=fp,
                          info={**(info or {}), "component": int(k), "std": float(std[k]),
                                "num_components": len(comp)})
            for k in ks]


__all__ = ["component_edits", "read_components", "is_components", "DEFAULT_COMPONENTS", "NPZ_KEYS", "E4E_KEYS"]
