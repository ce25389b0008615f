"""InterFaceGAN boundaries (genforce/interfacegan `.npy`) and e4e's `interfacegan_directions/*.pt` as edits.

Files:
- genforce/interfacegan `boundaries/{gan}_{dataset}_{attr}[_c_{conds}][_w]_boundary.npy`: float64
  `[1, 512]`, the unit normal of a linear SVM's hyperplane through the origin. Files with `_w` in the
  name live in W; the others in Z (PGGAN has only Z). `_c_` files are conditional boundaries, the
  primal with the condition normals projected out (`project_boundary`).
- e4e (omertov/encoder4editing) `editings/interfacegan_directions/{age,smile}.pt`: float32 `[1, 512]`
  in W; `pose.pt`: `[1, 18, 512]`, one direction per ws row, saved from a CUDA tensor.

Strength. The originals move a latent by `distance · n` (InterFaceGAN's W+ manipulation, e4e's
`latent + factor · direction`): a length in W along the unit normal, whose meaning depends on the
generator (how spread its w are along n). By default an imported direction is in σ units, like SeFa and
GANSpace: one unit = the standard deviation of mapped w (ψ = 1) along the unit direction, measured on
the generator it is imported for (10 000 samples, seed 0, `info["sigma"]`); the slider range ±3 then
covers the latent distribution on any generator. `unit="svm distance"` keeps the file's own unit
(strength = InterFaceGAN's distance = e4e's factor, the file's vector used as saved).

Applying a Z boundary to w is wrong (Z and W are different spaces: the normal of a Z hyperplane points
nowhere in particular in W), so a boundary not named as a W one is refused unless the caller says it is
(`space="w"`).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import torch

from sgtcore.errors import ArchitectureMismatchError, UnknownFormatError

from ..base import LinearEdit, check_rows
from .families import RowwiseEdit
from .files import as_array

#: σ is measured on this many mapped w (seed 0): ~1 % error on the std, ~1 s for an FFHQ mapping on a CPU.
SIGMA_SAMPLES = 10_000
UNITS = ("σ", "svm distance")
# genforce/interfacegan's names: {gan}_{dataset}_{attr}[_c_{conditions}][_w]_boundary
_ORIGINAL_NAME = re.compile(r"^(?P<gan>pggan|stylegan)_(?P<data>[a-z0-9]+)_(?P<attr>.+?)(?P<w>_w)?_boundary$")


def boundary_space(path: Path) -> str | None:
    """The latent space an InterFaceGAN `.npy` boundary's name says: "w", "z", or None (the name does not say).

    The original repo writes W boundaries as `*_w_boundary.npy` and Z ones without `_w`; PGGAN has only Z.
    Other names count a `w` / `z` token between underscores (`smile_w.npy`, `age_z_boundary.npy`).
    """
    stem = path.stem.lower()
    m = _ORIGINAL_NAME.match(stem)
    if m:
        return "w" if m["w"] and m["gan"] != "pggan" else "z"
    tokens = set(re.split(r"[_\-.]", stem))
    if "w" in tokens and "z" not in tokens:
        return "w"
    if "z" in tokens and "w" not in tokens:
        return "z"
    return None


def attribute_of(path: Path) -> str:
    """The attribute a file name gives: `stylegan_ffhq_age_w_boundary.npy` -> "age", `age.pt` -> "age"."""
    stem = path.stem
    m = _ORIGINAL_NAME.match(stem.lower())
    if m:
        return stem[m.start("attr"):m.end("attr")]
    for tail in ("_boundary", "_w", "_direction"):
        stem = stem[: -len(tail)] if stem.lower().endswith(tail) and len(stem) > len(tail) else stem
    return stem


def check_space(path: Path, space: str | None) -> None:
    """Refuse a Z-space boundary (by its name) unless `space="w"` says the caller knows better."""
    if space is not None and space not in ("w", "z"):
        raise ValueError(f"space must be 'w', 'z' or None (read it from the name), got {space!r}")
    said = space or boundary_space(path)
    if said == "w":
        return
    why = ("its name says Z space (InterFaceGAN names W boundaries *_w_boundary.npy)" if said == "z" else
           "its name does not say W (InterFaceGAN names W boundaries *_w_boundary.npy, Z ones without _w)")
    raise ArchitectureMismatchError(
        f"{path}: {why}. A Z boundary is the normal of a hyperplane in Z: applied to w it moves the latent along a "
        "direction unrelated to the attribute, so it is refused. Use the _w_ file of the same attribute, or, if "
        "this file is a W boundary, rename it to contain _w_ (or pass space='w')")


def _check_w_dim(arr: np.ndarray, G: Any, path: Path, what: str) -> None:
    if arr.shape[-1] != G.w_dim:
        raise ArchitectureMismatchError(
            f"{path}: {what} has {arr.shape[-1]} values per row, the generator has w_dim {G.w_dim}: it was made for "
            "another generator")


_COV: dict[tuple[str, int, int], torch.Tensor] = {}  # (fingerprint, samples, seed) -> covariance


def w_covariance(G: torch.nn.Module, num_samples: int = SIGMA_SAMPLES, seed: int = 0) -> torch.Tensor:
    """Covariance `[w_dim, w_dim]` (float64) of mapped w (ψ = 1), cached per generator fingerprint."""
    from stylegan import fingerprint

    from ..directions.samples import w_moments

    key = (fingerprint(G), int(num_samples), int(seed))
    if key not in _COV:
        _COV[key] = w_moments(G, num_samples, seed)[1]
    return _COV[key]


def sigma_of(G: torch.nn.Module, direction: torch.Tensor, num_samples: int = SIGMA_SAMPLES) -> float:
    """Std of mapped w along the unit `direction [w_dim]` (σ units of the imported edits)."""
    from ..directions.samples import sigma_along

    u = torch.as_tensor(direction, dtype=torch.float64).reshape(1, -1)
    sigma = float(sigma_along(w_covariance(G, num_samples), u / u.norm())[0])
    if not sigma > 0:
        raise ValueError("mapped w do not vary along this direction (σ = 0): σ units are undefined; pass "
                         "unit='svm distance'")
    return sigma


def project_boundary(primal: Any, *conditions: Any) -> np.ndarray:
    """InterFaceGAN's conditional boundary with the original's call: `[1, w_dim]` arrays in, `[1, w_dim]` out.

    One condition: n − (nᵀc)c; two: the original's 2×2 closed form; more: its normal equations. All
    are the least-squares projection that `edits.directions.project_boundary` computes (the original's
    closed form adds 1e-8 to one denominator: ~1e-8 apart). Renormalised to unit length.

    Raises:
        ValueError: conditions that are linearly dependent or span the primal.
    """
    from ..directions.interfacegan import project_boundary as project

    n = np.asarray(primal, dtype=np.float64).reshape(-1)
    conds = [torch.as_tensor(np.asarray(getattr(c, "direction", c), dtype=np.float64)) for c in conditions]
    return project(torch.from_numpy(n), conds).numpy().reshape(1, -1)


def _as_direction(arr: np.ndarray, path: Path) -> np.ndarray:
    """`[1, D]`, `[D]` -> `[D]`; `[1, R, D]`, `[R, D]` (R > 1) -> `[R, D]`."""
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim == 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim not in (1, 2) or arr.size == 0:
        raise UnknownFormatError(f"{path}: a direction is [1, w_dim] or [1, num_ws, w_dim], got {list(arr.shape)}")
    if not np.abs(arr).max() > 0:
        raise UnknownFormatError(f"{path}: the direction is all zeros")
    return arr


def boundary_edit(value: Any, path: Path, G: Any, *, name: str | None = None, rows: Iterable[int] | None = None,
                  unit: str = "σ", conditions: Sequence[Any] = (), info: dict | None = None,
                  sigma_samples: int = SIGMA_SAMPLES) -> LinearEdit | RowwiseEdit:
    """An InterFaceGAN / e4e direction (`[1, w_dim]` -> `LinearEdit`, `[1, num_ws, w_dim]` -> `RowwiseEdit`).

    Args:
        value: the file's array or tensor.
        path: where it came from (messages, default name).
        G: the generator it is imported for.
        name: catalogue name (default "interfacegan:<attribute from the file name>").
        rows: ws rows it changes (default all).
        unit: "σ" (std of mapped w along the direction, measured on G) or "svm distance" (the file's own).
        conditions: other boundaries (`[1, w_dim]` arrays / tensors, LinearEdits) projected out of this one.
        info: facts about the source, saved with the edit.
        sigma_samples: mapped samples σ is measured on.

    Raises:
        ArchitectureMismatchError: another w_dim, or a per-row direction for another num_ws.
        CorruptCheckpointError: NaN/Inf. UnknownFormatError: not a direction's shape. ValueError: bad
        unit, rows or conditions.
    """
    from stylegan import fingerprint

    if unit not in UNITS:
        raise ValueError(f"unit must be one of {UNITS}, got {unit!r}")
    arr = _as_direction(as_array(value, path, "the direction"), path)
    _check_w_dim(arr, G, path, "the direction")
    rows = tuple(range(G.num_ws)) if rows is None else check_rows(rows, G.num_ws)
    name = name or f"interfacegan:{attribute_of(path)}"
    info = {**(info or {}), "file_norm": float(np.linalg.norm(arr, axis=-1).mean()), "unit": unit}
    fp = fingerprint(G)
    if arr.ndim == 2:  # one direction per ws row
        if arr.shape[0] != G.num_ws:
            raise ArchitectureMismatchError(
                f"{path}: a direction for {arr.shape[0]} ws rows (num_ws {arr.shape[0]}: a "
                f"{2 ** ((arr.shape[0] + 2) // 2)} px generator), the generator has num_ws {G.num_ws}")
        if conditions:
            raise ValueError(f"{path}: conditions apply to [1, w_dim] boundaries, not to a per-row direction")
        d = torch.from_numpy(arr)
        sigma = 1.0
        if unit == "σ":  # one σ moves the rows' mean direction by σ of w along it
            mean = d.mean(0)
            if not float(mean.norm()) > 0:
                raise ValueError(f"{path}: the rows' directions cancel out; σ units are undefined, pass "
                                 "unit='svm distance'")
            sigma = sigma_of(G, mean, sigma_samples) / float(mean.norm())
            info.update(sigma=sigma * float(mean.norm()), sigma_samples=sigma_samples)
        return RowwiseEdit(d.float(), rows, sigma, name=name, method="interfacegan", unit=unit, generator=fp,
                           info=info)
    d = torch.from_numpy(arr)
    if conditions:
        d = torch.from_numpy(project_boundary(arr, *conditions)[0]) * float(d.norm())  # keeps the file's length
        info["conditions"] = len(conditions)
    sigma = 1.0
    if unit == "σ":
        d = d / d.norm()
        sigma = sigma_of(G, d, sigma_samples)
        info.update(sigma=sigma, sigma_samples=sigma_samples)
    return LinearEdit(d.float(), rows, sigma, name=name, method="interfacegan", num_ws=G.num_ws, unit=unit,
                      generator=fp, info=info)


__all__ = ["boundary_edit", "boundary_space", "check_space", "attribute_of", "project_boundary", "sigma_of",
           "w_covariance", "SIGMA_SAMPLES", "UNITS"]
