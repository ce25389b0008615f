"""Rendering many heads with worker processes, writing PNG + JSON files.

Each worker owns one offscreen renderer; jobs are plain dicts so they pickle cheaply. Work is
seeded per index (``default_rng([seed, index])``), so the output does not depend on the number
of workers or the order in which jobs finish.
"""
from __future__ import annotations

import json
import multiprocessing as mp
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .pairs import pair_params
from .params import HeadParams, sample_params
from .render_worker import IN_PROCESS_ENV
from .renderer import render


def _one_gl_thread() -> None:
    # one llvmpipe thread per worker: the workers already fill the cores
    os.environ.setdefault("LP_NUM_THREADS", "1")
    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")


def _init_worker() -> None:
    """Set-up of a pool process. It only renders, so OpenGL may load into it (see :mod:`.render_worker`)."""
    _one_gl_thread()
    os.environ[IN_PROCESS_ENV] = "1"


def params_for(index: int, seed: int, pairs: str | None = None, strength: float = 1.0,
               motion: tuple[int, int] | None = None) -> list[HeadParams]:
    """Parameters of item ``index``: one head, the two heads of a pair, or (``motion=(frames, t)``) frame t
    of moving sequence ``index`` (:func:`synthetic.motion.motion_sequence`)."""
    if motion is not None:
        from .motion import motion_sequence

        return [motion_sequence(index, seed, motion[0])[motion[1]]]
    rng = np.random.default_rng([seed, index])
    if pairs:
        return list(pair_params(pairs, rng, strength))
    return [sample_params(rng)]


def record(r: Any, **extra: Any) -> dict[str, Any]:
    """JSON-ready description of a render: all parameters and the 68 landmarks."""
    return {"params": r.params.to_dict(), "landmarks": np.round(r.landmarks, 3).tolist(), "size": int(r.image.shape[0]), **extra}


def _job(job: dict[str, Any]) -> list[dict[str, Any]]:
    plist = params_for(job["index"], job["seed"], job.get("pairs"), job.get("strength", 1.0), job.get("motion"))
    out = []
    for k, p in enumerate(plist):
        r = render(p, job["size"], align=job.get("align", True))
        stem = job["stem"] + ("" if len(plist) == 1 else "_" + "ab"[k])
        rec = record(r, file=Path(stem).name + ".png", index=job["index"], seed=job["seed"])
        if job.get("motion"):
            rec["motion"] = {"sequence": job["index"], "frames": job["motion"][0], "frame": job["motion"][1]}
        if job.get("pairs"):
            rec["pair"] = {"attribute": job["pairs"], "member": "ab"[k], "strength": job.get("strength", 1.0)}
        Image.fromarray(r.image).save(stem + ".png", compress_level=1)
        if job.get("write_json", True):
            Path(stem + ".json").write_text(json.dumps(rec))
        if job.get("save_mask"):
            Image.fromarray(r.mask.astype(np.uint8) * 255).save(stem + "_mask.png")
        out.append(rec)
    return out


def run_jobs(jobs: list[dict[str, Any]], workers: int = 2) -> Iterator[list[dict[str, Any]]]:
    """Run ``jobs`` (see :func:`_job`), yielding each job's records in order."""
    if workers <= 1:  # the caller's process: render() goes through the render worker
        _one_gl_thread()
        for j in jobs:
            yield _job(j)
        return
    ctx = mp.get_context("spawn")  # fresh interpreters: no OpenGL state inherited by fork
    with ctx.Pool(workers, initializer=_init_worker) as pool:
        yield from pool.imap(_job, jobs, chunksize=4)


def render_many(params: Iterable[HeadParams], size: int = 256, workers: int = 2) -> Iterator[Any]:
    """Render a sequence of parameter sets with ``workers`` processes, yielding ``Render``s in order."""
    plist = list(params)
    if workers <= 1:  # the caller's process: render() goes through the render worker
        _one_gl_thread()
        yield from (render(p, size) for p in plist)
        return
    ctx = mp.get_context("spawn")
    with ctx.Pool(workers, initializer=_init_worker) as pool:
        yield from pool.imap(_render_one, [(p, size) for p in plist], chunksize=4)


def _render_one(args: tuple[HeadParams, int]) -> Any:
    return render(*args)
