"""Batch inversion behind `sgt project DIR`: resumable, shared over torchrun ranks, with a merged index.

Every image is inverted by the same per-photo function as a single `sgt project photo.jpg` (alignment
where needed, `inversion.project`'s defaults, one result folder written atomically by
`save_projection`). This module adds what a dataset needs:

- **resume**: after its folder is in place, each result gets `summary.json` (PSNR, seconds and the run's
  `key`: generator fingerprint, resolved projection settings, loss, seed, ...). A photo whose folder
  holds a summary with the same key is skipped; one made with other settings is projected again.
- **sharing**: under torchrun rank r takes files r, r+K, ... of the sorted list (the projection is seeded
  per run, not per rank, so K ranks write what one process writes).
- **index**: the ranks' entries are gathered (`all_gather_object`) and rank 0 writes `index.json` and
  `index.csv` (photo -> result folder, status, PSNR, seconds, or the reason it was skipped).

Run it as `sgt project DIR --outdir OUT` or, on K processes,
`torchrun --nproc_per_node K -m inversion.project_folder DIR --outdir OUT` (the same options).
"""
from __future__ import annotations

import csv
import io
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from tqdm.auto import tqdm

from sgtcore.atomic import atomic_file

SUMMARY = "summary.json"
INDEX_JSON, INDEX_CSV = "index.json", "index.csv"
#: Written by `save_projection` for every target; a folder missing one is not a finished result.
RESULT_FILES = ("target.png", "proj.png", "projected_w.npz", "history.json")


@dataclass
class Entry:
    """One photo's line in the index.

    Attributes:
        photo: the input file, as listed.
        status: 'inverted' (this run), 'resumed' (a finished result with the same key was kept) or
            'skipped' (unreadable, no face, ...: nothing written).
        result: the result folder relative to OUTDIR ('' when skipped).
        psnr: reconstruction PSNR in dB of the saved projection vs. its target (None when skipped).
        seconds: wall time of the photo's alignment, projection and saving (from its first run when resumed).
        error: why it was skipped ('' otherwise).
        rank: the torchrun rank that handled it (0 in one process).
    """

    photo: str
    status: str
    result: str = ""
    psnr: float | None = None
    seconds: float | None = None
    error: str = ""
    rank: int = 0


@dataclass
class Report:
    """What `project_files` did, over all ranks, in input order."""

    entries: list[Entry]
    stale: int = 0  # finished results made with another key, projected again

    def count(self, status: str) -> int:
        return sum(e.status == status for e in self.entries)


def shard(items: Sequence[Any], rank: int, world: int) -> list[Any]:
    """This rank's share: items `rank, rank + world, ...` (disjoint, deterministic, all covered)."""
    if not 0 <= rank < world:
        raise ValueError(f"rank {rank} outside a world of {world}")
    return list(items[rank::world])


def read_summary(folder: Path, required: Sequence[str] = RESULT_FILES) -> dict | None:
    """The summary of a finished result folder, or None when the folder is missing, partial (one of
    `required` absent) or foreign."""
    try:
        if not all((folder / name).exists() for name in required):
            return None
        summary = json.loads((folder / SUMMARY).read_text())
    except (OSError, ValueError):  # absent, unreadable or not JSON: project again
        return None
    return summary if isinstance(summary, dict) else None


def _write_summary(folder: Path, photo: Path, psnr: float, seconds: float, key: dict) -> None:
    record = {"photo": str(photo), "psnr": psnr, "seconds": seconds, "key": key}
    with atomic_file(folder / SUMMARY) as tmp:
        tmp.write_text(json.dumps(record, indent=1) + "\n")


def _gather(obj: Any) -> list[Any]:
    """`[obj of rank 0, obj of rank 1, ...]` on every rank (one process: `[obj]`); waits for all ranks."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return [obj]
    parts: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(parts, obj)
    return parts


def project_files(files: Sequence[Path], outdir: Path, invert: Callable[[Path], tuple[Path, float]],
                  key: dict, *, errors: tuple[type[BaseException], ...] = (ValueError,), resume: bool = True,
                  index: bool = True, progress: bool = True, meta: dict | None = None,
                  required: Sequence[str] = RESULT_FILES) -> Report:
    """Invert this rank's share of `files`, then merge every rank's entries (and write the index).

    Args:
        files: the inputs, in a fixed order (every rank must pass the same list).
        outdir: where the result folders (`outdir / stem`) and the index go.
        invert: inverts one file and writes its result folder atomically; returns `(folder, psnr)`.
        key: what makes two results interchangeable (JSON-serialisable); stored in each `summary.json`.
        errors: exceptions that mean "this input is bad": the file is skipped and listed, the rest go on.
        resume: skip files whose folder holds a summary with the same `key`.
        index: rank 0 writes `outdir/index.json` and `outdir/index.csv` after all ranks are done.
        progress: a tqdm bar on rank 0.
        meta: more fields for `index.json` (network, settings, ...).
        required: the files (or folders) a finished result folder holds (more with a GIF or PTI).

    Returns:
        A `Report` of every file (all ranks), in the order of `files`.
    """
    from stylegan.train import rank_world

    rank, world = rank_world()
    mine = shard(list(files), rank, world)
    entries, stale = [], 0
    bar = tqdm(mine, desc=f"project (rank {rank}/{world})" if world > 1 else "project", unit="image",
               disable=not progress or rank != 0 or len(files) < 2)
    for path in bar:
        folder = outdir / path.stem
        summary = read_summary(folder, required) if resume else None
        if summary is not None and summary.get("key") == key:
            entries.append(Entry(str(path), "resumed", folder.name, summary.get("psnr"), summary.get("seconds"),
                                 rank=rank))
            continue
        stale += summary is not None
        t0 = time.perf_counter()
        try:
            dest, psnr = invert(path)
        except errors as exc:
            message = " ".join(str(exc).split()) or type(exc).__name__
            tqdm.write(f"skipped {path}: {message}", file=sys.stderr)
            entries.append(Entry(str(path), "skipped", error=message, rank=rank))
            continue
        seconds = time.perf_counter() - t0
        _write_summary(dest, path, psnr, seconds, key)
        entries.append(Entry(str(path), "inverted", dest.name, psnr, seconds, rank=rank))
    parts = _gather((entries, stale))
    order = {str(p): i for i, p in enumerate(files)}
    everything = sorted((e for part, _ in parts for e in part), key=lambda e: order.get(e.photo, len(order)))
    report = Report(everything, stale=sum(n for _, n in parts))
    if index and rank == 0:
        write_index(outdir, report, {**(meta or {}), "key": key, "ranks": world})
    return report


def write_index(outdir: Path, report: Report, meta: dict | None = None) -> tuple[Path, Path]:
    """`index.json` (meta, counts, entries) and `index.csv` (one row per photo), each written atomically."""
    rows = [asdict(e) for e in report.entries]
    counts = {s: report.count(s) for s in ("inverted", "resumed", "skipped")}
    doc = {**(meta or {}), "counts": counts, "photos": rows}
    with atomic_file(outdir / INDEX_JSON) as tmp:
        tmp.write_text(json.dumps(doc, indent=1) + "\n")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(Entry.__dataclass_fields__), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else round(v, 4) if isinstance(v, float) else v) for k, v in row.items()})
    with atomic_file(outdir / INDEX_CSV) as tmp:
        tmp.write_text(buf.getvalue())
    return outdir / INDEX_JSON, outdir / INDEX_CSV


def load_index(outdir: str | Path) -> list[Entry]:
    """The entries of `outdir/index.json` (written by `sgt project DIR`)."""
    doc = json.loads((Path(outdir) / INDEX_JSON).read_text())
    return [Entry(**row) for row in doc["photos"]]


__all__ = ["Entry", "Report", "shard", "project_files", "read_summary", "write_index", "load_index",
           "SUMMARY", "INDEX_JSON", "INDEX_CSV"]


if __name__ == "__main__":  # torchrun --nproc_per_node K -m inversion.project_folder DIR --outdir OUT ...
    from .cli import project

    project(sys.argv[1:])
