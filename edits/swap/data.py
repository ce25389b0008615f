"""Training data for the trained swaps (`ftm`, `blend`): inverted heads and exact swap truths.

Synthetic (`build`): H random heads (`sample_params(default_rng([seed, h]))`, seed 0 by default, never
the protocol's `PROTOCOL_SEED`) rendered at the generator's resolution and inverted with the library's
defaults (`inversion.project`, as `swap()` inverts a photo, so training sees the codes it will be given);
then P random ordered pairs (identity i, attribute j), each with its exact answer
`render(swap_truth(head_i, head_j))` and that render's head mask. i == j pairs are self-swaps.

Photos (`from_folder`): a user's folder of face photos, aligned and inverted; no truth exists, so the
pairs are self-swaps plus cross pairs trained with identity and landmark losses (`edits.swap.train`).

    >>> data = build(G, heads=300, pairs=12000, path="swap_data.npz")     # doctest: +SKIP

Building is resumable (the file is rewritten every `save_every` heads, at most every `save_seconds`; a re-run
continues, and may grow the head count) and, under torchrun, shared: rank r inverts heads r, r+K, ... and
renders pairs r, r+K, ... into its own part file, and every rank then reads the merged set. Another set's
inverted heads can be reused (`heads_from=`): the identity-count curve of `bench/RESULTS.md` trains on the
first 600 and 2 000 heads of one 5 000-head build.
"""
from __future__ import annotations

import glob
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

FORMAT = "swap-data"
VERSION = 1
#: Training heads inverted in one projection (`inversion.project` on a batch: each as if alone, ~1.4-1.6x the
#: heads per second on a CPU at 128 px).
INVERT_BATCH = 4


@dataclass
class SwapTrainData:
    """Inverted heads and (for synthetic data) exact swap truths.

    Attributes:
        images: uint8 `[H, R, R, 3]` the aligned images that were inverted.
        ws: `[H, num_ws, w_dim]` their inverted codes.
        noise: `{name: [H, r, r]}` their inverted noise maps.
        masks: bool `[H, R, R]` head masks (renderer's on synthetic data; landmark face masks on photos).
        pairs: int64 `[P, 2]` (identity head, attribute head); empty for photo folders.
        truth: uint8 `[P, R, R, 3]` the exact swap renders (empty for photo folders).
        truth_masks: bool `[P, R, R]` their head masks.
        landmarks: float32 `[H, 68, 2]` landmarks in the aligned frame (NaN where unknown).
        meta: generator fingerprint, seed, sizes, how the codes were made.
    """

    images: np.ndarray
    ws: torch.Tensor
    noise: dict[str, torch.Tensor]
    masks: np.ndarray
    pairs: np.ndarray
    truth: np.ndarray
    truth_masks: np.ndarray
    landmarks: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def heads(self) -> int:
        return len(self.ws)

    @property
    def synthetic(self) -> bool:
        """True when exact truths exist."""
        return len(self.pairs) > 0

    def save(self, path: str | os.PathLike) -> Path:
        """Write as one .npz (atomically: an interrupted write leaves the previous file)."""
        from sgtcore.atomic import atomic_file

        arrays = dict(images=self.images, ws=self.ws.numpy(), masks=self.masks, pairs=self.pairs, truth=self.truth,
                      truth_masks=self.truth_masks, landmarks=self.landmarks,
                      meta=np.array(json.dumps({**self.meta, "format": FORMAT, "version": VERSION})))
        arrays.update({f"noise/{k}": v.numpy() for k, v in self.noise.items()})
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, **arrays)
        return path


def load(path: str | os.PathLike, G: Any = None) -> SwapTrainData:
    """Read a file written by `SwapTrainData.save`.

    Raises:
        ValueError: unreadable, not swap training data, or made for another generator than `G`.
    """
    try:
        with np.load(path, allow_pickle=False) as f:
            meta = json.loads(str(f["meta"]))
            if meta.get("format") != FORMAT:
                raise ValueError(f"{path} is not swap training data (format {meta.get('format')!r})")
            noise = {k[len("noise/"):]: torch.from_numpy(f[k]) for k in f.files if k.startswith("noise/")}
            d = SwapTrainData(f["images"], torch.from_numpy(f["ws"]), noise, f["masks"], f["pairs"], f["truth"],
                              f["truth_masks"], f["landmarks"], meta)
    except (OSError, KeyError, json.JSONDecodeError, EOFError) as exc:
        raise ValueError(f"cannot read swap training data {path}: {exc}") from None
    if G is not None:
        from stylegan import fingerprint

        if meta.get("generator") not in (None, fingerprint(G)):
            raise ValueError(f"{path} was made for generator {meta.get('generator')}, not {fingerprint(G)}; "
                             "build the data again for this generator")
    return d


def head_params(h: int, seed: int) -> Any:
    """The `HeadParams` of training head `h`."""
    from synthetic import sample_params

    return sample_params(np.random.default_rng([seed, h]))


def pair_indices(heads: int, pairs: int, seed: int, self_share: float = 0.05) -> np.ndarray:
    """`[pairs, 2]` random (identity, attribute) head pairs; about `self_share` of them self-swaps."""
    rng = np.random.default_rng([seed, 1_000_003])
    ij = rng.integers(0, heads, size=(pairs, 2))
    same = rng.random(pairs) < self_share
    ij[same, 1] = ij[same, 0]
    return ij.astype(np.int64)


def _invert(G: Any, images: list[np.ndarray], project_kw: dict) -> list[tuple[torch.Tensor, dict[str, torch.Tensor]]]:
    """`(ws [num_ws, w_dim], {name: noise [r, r]})` of each image, inverted in one batch (each as if alone)."""
    import inversion
    from stylegan.images import from_uint8

    target = torch.cat([from_uint8(np.ascontiguousarray(x)) for x in images])
    with torch.enable_grad():
        r = inversion.project(G, target, progress=False, **project_kw)
    return [(r.ws.detach()[k], {n: v.detach().reshape(-1, *v.shape[-2:])[k if len(images) > 1 else 0]
                                for n, v in r.noise.items()}) for k in range(len(images))]


#: What must match for a saved head to be reused: the same head inverted the same way (the head and pair
#: counts may differ: a set can grow, and a smaller set can take its heads from a bigger one).
_HEAD_KEYS = ("generator", "seed", "resolution", "project_kw", "inversion")


def _saved_parts(path: str | os.PathLike) -> list[Path]:
    """`path` and every rank's part of it that exists (so any number of ranks continues any other's work)."""
    p = Path(path)
    return [q for q in [p, *sorted(p.parent.glob(glob.escape(p.name) + ".rank*"))] if q.is_file()]


def _reuse(files: list[Path], G: Any, meta: dict, done: dict[int, tuple], truths: dict[tuple[int, int], tuple],
           own: bool) -> None:
    """Take the inverted heads (`h < meta['heads']`) and the rendered truths, keyed by (identity, attribute)
    head, of saved files into `done` / `truths`.

    Raises:
        ValueError: a file is unreadable, of another generator, photo-folder data, or built with other inversion
            settings or seed; or (`own`: the file being continued) it holds heads a smaller `heads` would drop.
    """
    heads = meta["heads"]
    for f in files:
        old = load(f, G)
        if "head_ids" not in old.meta:
            raise ValueError(f"{f} holds photo-folder data, not rendered training heads")
        diff = [k for k in _HEAD_KEYS if old.meta.get(k) != meta[k]]
        if diff:
            raise ValueError(f"{f} was built with other settings (" + ", ".join(
                f"{k} {old.meta.get(k)!r} here {meta[k]!r}" for k in diff) + "): continue it with its own settings, "
                "or build into another data file")
        ids = old.meta["head_ids"]
        if own and ids and max(ids) >= heads:
            raise ValueError(f"{f} holds inverted heads up to #{max(ids)}: heads={heads} would drop them; continue it "
                             f"with heads={old.meta.get('heads')}, or build the smaller set into another file that "
                             "takes its heads from this one (heads_from=, sgt train-swap --heads-from)")
        for n, h in enumerate(ids):
            if h < heads:
                done[h] = (old.images[n], old.ws[n], {k: v[n] for k, v in old.noise.items()}, old.masks[n],
                           old.landmarks[n])
        for n, (i, j) in enumerate(old.pairs.tolist()):
            truths[(i, j)] = (old.truth[n], old.truth_masks[n])


def _assemble(done: dict[int, tuple], truths: dict[int, tuple], ij: np.ndarray, res: int, meta: dict) -> SwapTrainData:
    ids = sorted(done)
    noise_keys = list(done[ids[0]][2]) if ids else []
    tids = sorted(truths)
    empty = np.zeros((0, res, res, 3), np.uint8)
    return SwapTrainData(
        np.stack([done[h][0] for h in ids]) if ids else empty,
        torch.stack([done[h][1] for h in ids]) if ids else torch.zeros(0),
        {k: torch.stack([done[h][2][k] for h in ids]) for k in noise_keys},
        np.stack([done[h][3] for h in ids]) if ids else np.zeros((0, res, res), bool),
        ij[tids] if tids else np.zeros((0, 2), np.int64),
        np.stack([truths[p][0] for p in tids]) if tids else empty,
        np.stack([truths[p][1] for p in tids]) if tids else np.zeros((0, res, res), bool),
        np.stack([done[h][4] for h in ids]).astype(np.float32) if ids else np.zeros((0, 68, 2), np.float32),
        {**meta, "head_ids": ids, "pair_ids": tids})


class _Saver:
    """When to rewrite a part file: after every `every` items, but not more often than every `seconds` (a file of
    thousands of heads takes seconds to write), and always at the end."""

    def __init__(self, every: int, seconds: float):
        self.every, self.seconds, self.last, self.count = max(1, int(every)), float(seconds), time.monotonic(), 0

    def due(self, made: int, final: bool = False) -> bool:
        """`made` more items are done (heads come a batch at a time)."""
        self.count += made
        if final or (self.count >= self.every and time.monotonic() - self.last >= self.seconds):
            self.last, self.count = time.monotonic(), 0
            return True
        return False


def build(G: Any, heads: int = 300, pairs: int = 12000, path: str | os.PathLike | None = None, *, seed: int = 0,
          save_every: int = 10, save_seconds: float = 120.0, heads_from: Any = (), progress: bool = True,
          **project_kw: Any) -> SwapTrainData:
    """Render and invert `heads` training heads and render `pairs` exact swap truths among them.

    Args:
        G: the generator.
        heads, pairs: H heads, P (identity, attribute) pairs.
        path: the data file. What is saved there (or in its rank parts, under any number of ranks) with the same
            generator, seed and inversion settings is continued: its heads and truths are reused, the head
            count may grow, the pair count may change.
        seed: the heads' seed; must differ from the protocol's (`edits.swap.evaluate.PROTOCOL_SEED`).
        save_every, save_seconds: the file is rewritten every `save_every` heads (and pairs), at most every
            `save_seconds`, and at the end.
        heads_from: other data files (same generator, seed and inversion settings) whose inverted heads and
            truths are reused, e.g. the first 600 heads of a 5 000-head set for a 600-identity one.
        progress: tqdm bars (rank 0).
        **project_kw: passed to `inversion.project` (default: the library's inversion, as `swap()` uses).

    Returns:
        `SwapTrainData` with every head and pair (merged across ranks under torchrun).

    Raises:
        ValueError: the protocol's seed, too few heads or pairs, or a file to continue / reuse that was built
            otherwise (or holds heads beyond `heads`).
    """
    import torch.distributed as dist

    from inversion.projection import default_signature
    from stylegan import fingerprint
    from stylegan.train import rank_file, rank_world
    from synthetic import render, swap_truth

    from .evaluate import PROTOCOL_SEED, VALIDATION_SEED

    if seed in (PROTOCOL_SEED, VALIDATION_SEED):
        raise ValueError(f"seed {seed} is the held-out protocol's or the validation split's: training heads must "
                         "never be evaluation heads")
    if heads < 2 or pairs < 1:
        raise ValueError(f"need at least 2 heads and 1 pair, got heads={heads}, pairs={pairs}")
    res, fp = int(G.img_resolution), fingerprint(G)
    meta = {"generator": fp, "seed": int(seed), "heads": int(heads), "pairs": int(pairs), "resolution": res,
            "project_kw": {k: v for k, v in project_kw.items() if isinstance(v, (int, float, str, bool, type(None)))},
            "inversion": default_signature(G)}
    rank, world = rank_world()
    ij = pair_indices(heads, pairs, seed)
    keys = [tuple(x) for x in ij.tolist()]
    done: dict[int, tuple] = {}
    truths: dict[tuple[int, int], tuple] = {}
    if path is not None:
        _reuse(_saved_parts(path), G, meta, done, truths, own=True)
    if path is not None and len(done) == heads and all(k in truths for k in keys):
        # a finished file (e.g. a training run starting on it under torchrun): every rank has it all; writing the
        # rank parts and the merge again would copy gigabytes for nothing
        return _assemble(done, {p: truths[keys[p]] for p in range(pairs)}, ij, res, meta)
    had = (len(done), len(truths))
    heads_from = [heads_from] if isinstance(heads_from, (str, os.PathLike)) else list(heads_from)
    _reuse([Path(f) for f in heads_from], G, meta, done, truths, own=False)
    taken = (len(done), len(truths)) != had
    part = None if path is None else rank_file(path)

    def save_part() -> None:
        _assemble({h: v for h, v in done.items() if h % world == rank},
                  {p: truths[keys[p]] for p in range(rank, pairs, world) if keys[p] in truths}, ij, res, meta).save(part)

    saver = _Saver(save_every, save_seconds)
    mine = [h for h in range(rank, heads, world) if h not in done]
    bar = tqdm(total=len(mine), desc="invert training heads", unit="head", disable=not (progress and rank == 0))
    for n in range(0, len(mine), INVERT_BATCH):  # a few heads per projection: cheaper per head on a CPU
        chunk = mine[n:n + INVERT_BATCH]
        renders = [render(head_params(h, seed), res) for h in chunk]
        for h, r, (ws, noise) in zip(chunk, renders, _invert(G, [r.image for r in renders], project_kw)):
            done[h] = (r.image, ws, noise, r.mask.astype(bool), r.landmarks.astype(np.float32))
        bar.update(len(chunk))
        if part is not None and saver.due(len(chunk), final=n + len(chunk) == len(mine)):
            save_part()
    bar.close()
    todo = list({keys[p]: p for p in reversed(range(rank, pairs, world)) if keys[p] not in truths}.values())[::-1]
    for n, p in enumerate(tqdm(todo, desc="render swap truths", unit="pair", disable=not (progress and rank == 0))):
        i, j = keys[p]
        r = render(swap_truth(head_params(i, seed), head_params(j, seed)), res)
        truths[keys[p]] = (r.image, r.mask.astype(bool))
        if part is not None and saver.due(1, final=n + 1 == len(todo)):
            save_part()
    if part is not None and not (mine or todo) and (taken or not part.exists()):
        save_part()  # nothing new was made here, but the part must hold what came from other files (the merge reads it)
    if world > 1:
        if path is None:
            raise ValueError("building under torchrun needs a data path (the ranks meet through their files)")
        dist.barrier()
        _reuse([Path(f"{path}.rank{r}") for r in range(world)], G, meta, done, truths, own=True)
    data = _assemble(done, {p: truths[keys[p]] for p in range(pairs)}, ij, res, meta)
    if world > 1:
        if rank == 0:
            data.save(path)
        dist.barrier()
    return data


def merge(parts: list[SwapTrainData]) -> SwapTrainData:
    """One dataset from several (e.g. synthetic heads of different seeds): heads appended, pairs re-indexed.

    Raises:
        ValueError: parts of different generators or resolutions, or synthetic mixed with photo folders.
    """
    if not parts:
        raise ValueError("nothing to merge")
    first = parts[0]
    for d in parts[1:]:
        for key in ("generator", "resolution"):
            if d.meta.get(key) != first.meta.get(key):
                raise ValueError(f"cannot merge training data of {key} {d.meta.get(key)} with {first.meta.get(key)}")
        if d.synthetic != first.synthetic:
            raise ValueError("cannot merge synthetic data (with truth) and photo-folder data (without)")
    offsets = np.cumsum([0] + [d.heads for d in parts[:-1]])
    return SwapTrainData(
        np.concatenate([d.images for d in parts]), torch.cat([d.ws for d in parts]),
        {k: torch.cat([d.noise[k] for d in parts]) for k in first.noise},
        np.concatenate([d.masks for d in parts]), np.concatenate([d.pairs + o for d, o in zip(parts, offsets)]),
        np.concatenate([d.truth for d in parts]), np.concatenate([d.truth_masks for d in parts]),
        np.concatenate([d.landmarks for d in parts]),
        {"generator": first.meta.get("generator"), "resolution": first.meta.get("resolution"),
         "parts": [{k: v for k, v in d.meta.items() if k not in ("head_ids", "pair_ids", "files")} for d in parts]})


def from_folder(G: Any, folder: str | os.PathLike, path: str | os.PathLike | None = None, *, save_every: int = 10,
                progress: bool = True, **prepare_kw: Any) -> SwapTrainData:
    """A user's photo folder as training heads (no truth): each photo aligned and inverted (`swap.prepare`).

    Photos without a face, or unreadable, are skipped with a warning that names them. Resumable: `path`
    is rewritten every `save_every` photos and a re-run continues (photos are keyed by file name).

    Args:
        G: the generator.
        folder: a folder of face photos (or already-aligned `R x R` images).
        path: the data file.
        **prepare_kw: passed to `edits.swap.prepare` (steps, detector, upsample, ...).

    Raises:
        ValueError: no images in the folder, or fewer than 2 usable faces.
    """
    import warnings

    from stylegan import fingerprint

    from .api import prepare
    from .real_eval import list_photos

    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder}: not a folder of photos")
    files = list_photos(folder)  # ValueError when it holds no images
    res, fp = int(G.img_resolution), fingerprint(G)
    meta = {"generator": fp, "folder": str(folder), "resolution": res,
            "prepare_kw": {k: v for k, v in prepare_kw.items() if isinstance(v, (int, float, str, bool, type(None)))}}
    done: dict[int, tuple] = {}
    names = [f.name for f in files]
    if path is not None and Path(path).exists():
        try:
            old = load(path, G)
        except ValueError:
            old = None
        if old is not None and all(old.meta.get(k) == v for k, v in meta.items()):
            for n, name in enumerate(old.meta.get("files", [])):
                if name in names:
                    done[names.index(name)] = (old.images[n], old.ws[n], {k: v[n] for k, v in old.noise.items()},
                                               old.masks[n], old.landmarks[n])
    skipped = []
    todo = [k for k in range(len(files)) if k not in done]
    for n, k in enumerate(tqdm(todo, desc="invert photos", unit="photo", disable=not progress)):
        try:
            p = prepare(files[k], G, files[k].name, landmarks=True, **prepare_kw)
        except ValueError as exc:
            skipped.append(f"{files[k].name} ({' '.join(str(exc).split())})")
            continue
        lm = np.full((68, 2), np.nan, np.float32) if p.landmarks is None else np.asarray(p.landmarks, np.float32)
        if p.landmarks is None:
            mask = np.ones((res, res), bool)
        else:
            from inversion.paste import face_mask

            mask = face_mask(p.landmarks, res) > 0.5
        done[k] = (p.image, p.ws[0].cpu(), {kk: v.reshape(v.shape[-2:]).cpu() for kk, v in p.noise.items()}, mask, lm)
        if path is not None and ((n + 1) % save_every == 0 or n + 1 == len(todo)):
            _folder_data(done, names, res, meta).save(path)
    if skipped:
        warnings.warn(f"{folder}: skipped {len(skipped)} photo(s): " + "; ".join(skipped), stacklevel=2)
    if len(done) < 2:
        raise ValueError(f"{folder}: {len(done)} usable face(s); training needs at least 2")
    return _folder_data(done, names, res, meta)


def _folder_data(done: dict[int, tuple], names: list[str], res: int, meta: dict) -> SwapTrainData:
    d = _assemble(done, {}, np.zeros((0, 2), np.int64), res, meta)
    d.meta["files"] = [names[k] for k in sorted(done)]
    del d.meta["head_ids"], d.meta["pair_ids"]
    return d


__all__ = ["FORMAT", "SwapTrainData", "build", "from_folder", "load", "merge", "head_params",
           "pair_indices"]
