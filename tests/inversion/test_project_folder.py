"""`sgt project DIR`: one result folder per photo, bad files skipped and listed in the index, resume,
and two gloo ranks (torchrun's set-up) writing exactly what one process writes."""
from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch
from click.testing import CliRunner

import stylegan
from conftest import make_tiny_G, run_two_ranks
from demos.cli import main
from inversion.losses import psnr
from inversion.project_folder import RESULT_FILES, SUMMARY, load_index, shard
from inversion.project_io import load_projection
from inversion.projection import render

# few steps, the cheapest loss, a small start search: the pipeline, not the optimiser, is under test
FAST = ["--steps", "2", "--loss", "l2", "--candidates", "2"]
FACES = ["face0", "face1", "face2"]


def _make_dataset(root: Path) -> tuple[Path, Path]:
    """A tiny network folder and a folder of 3 aligned 32 px faces, a corrupt PNG and a faceless 80 px wall."""
    G = make_tiny_G(0)
    net, imgs = root / "net", root / "imgs"
    stylegan.save_pretrained(G, net)
    imgs.mkdir()
    with torch.no_grad():
        for i, name in enumerate(FACES):
            z = torch.randn(1, G.z_dim, generator=torch.Generator().manual_seed(i))
            PIL.Image.fromarray(stylegan.images.to_uint8(G(z))[0]).save(imgs / f"{name}.png")
    (imgs / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")  # a PNG signature, then garbage
    PIL.Image.fromarray(np.full((80, 80, 3), 200, np.uint8)).save(imgs / "wall.png")  # not R x R: aligned -> no face
    (imgs / "notes.txt").write_text("not an image suffix: ignored, as in any folder input")
    return net, imgs


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return _make_dataset(tmp_path_factory.mktemp("data"))


def _run(net: Path, imgs: Path, out: Path, *extra: str):
    return CliRunner().invoke(main, ["project", str(imgs), "--network", str(net), "--outdir", str(out), *FAST,
                                     *extra])


def _ws(out: Path) -> dict[str, torch.Tensor]:
    return {name: load_projection(out / name / "projected_w.npz")[0] for name in FACES}


def test_folder_writes_one_result_per_photo_and_lists_the_bad_ones(dataset, tmp_path):
    net, imgs = dataset
    out = tmp_path / "out"
    r = _run(net, imgs, out)
    assert r.exit_code == 0, r.output  # bad files in a dataset are skipped, not fatal
    assert "3 inverted, 0 already done, 2 skipped" in r.output and "Traceback" not in r.output
    assert sorted(p.name for p in out.iterdir()) == sorted(FACES + ["index.csv", "index.json"])  # no temporaries
    for name in FACES:
        assert {p.name for p in (out / name).iterdir()} >= {*RESULT_FILES, SUMMARY}
        assert load_projection(out / name / "projected_w.npz")[0].shape == (1, 8, 32)
    entries = {Path(e.photo).name: e for e in load_index(out)}
    assert list(entries) == ["broken.png", "face0.png", "face1.png", "face2.png", "wall.png"]  # sorted, txt ignored
    assert "cannot read" in entries["broken.png"].error and entries["broken.png"].status == "skipped"
    assert "no face found in" in entries["wall.png"].error and entries["wall.png"].result == ""
    G = stylegan.load(net)
    for name in FACES:
        e = entries[f"{name}.png"]
        assert e.status == "inverted" and e.result == name and e.seconds > 0 and e.error == ""
        # the PSNR listed is the saved projection's (recomputed here from the float render of its ws)
        ws, noise = load_projection(out / name / "projected_w.npz")
        target = stylegan.images.from_uint8(np.asarray(PIL.Image.open(out / name / "target.png")).copy())
        assert e.psnr == pytest.approx(float(psnr(render(G, ws, noise), target)), abs=0.05)
    doc = json.loads((out / "index.json").read_text())
    assert doc["counts"] == {"inverted": 3, "resumed": 0, "skipped": 2} and doc["key"]["seed"] == 0
    rows = list(csv.DictReader((out / "index.csv").open()))
    assert [Path(r["photo"]).name for r in rows] == list(entries) and rows[0]["psnr"] == ""


def test_rerun_resumes_and_other_settings_project_again(dataset, tmp_path):
    net, imgs = dataset
    out = tmp_path / "out"
    assert _run(net, imgs, out).exit_code == 0
    first = _ws(out)
    stamps = {n: os.stat(out / n / "projected_w.npz").st_mtime_ns for n in FACES}
    psnrs = {e.photo: e.psnr for e in load_index(out)}

    r = _run(net, imgs, out)  # nothing left to do: the finished folders are kept as they are
    assert r.exit_code == 0 and "0 inverted, 3 already done, 2 skipped" in r.output, r.output
    assert {n: os.stat(out / n / "projected_w.npz").st_mtime_ns for n in FACES} == stamps
    assert {e.photo: e.psnr for e in load_index(out)} == psnrs
    assert {e.status for e in load_index(out) if e.result} == {"resumed"}

    (out / "face1" / SUMMARY).unlink()  # an unfinished folder (e.g. interrupted before its summary) is redone
    (out / "face2" / "proj.png").unlink()  # so is a folder missing a result file
    r = _run(net, imgs, out)
    assert "2 inverted, 1 already done" in r.output, r.output
    torch.testing.assert_close(_ws(out), first, rtol=0, atol=0)  # the same seed: the same latents

    r = _run(net, imgs, out, "--seed", "1")  # another run key: every result is projected again
    assert "3 inverted, 0 already done" in r.output and "3 result folder(s) made with other settings" in r.output
    assert "3 inverted" in _run(net, imgs, out, "--seed", "1", "--gif").output  # the GIF is asked for now
    (out / "face0" / "proj.gif").unlink()  # a finished folder lacking a file this run writes is redone
    assert "1 inverted, 2 already done" in _run(net, imgs, out, "--seed", "1", "--gif").output


def test_empty_and_all_bad_folders_are_clear_errors(dataset, tmp_path):
    net, imgs = dataset
    empty = tmp_path / "empty"
    empty.mkdir()
    r = _run(net, empty, tmp_path / "o1")
    assert r.exit_code == 2 and "holds no images" in r.output and "Traceback" not in r.output
    bad = tmp_path / "bad"
    bad.mkdir()
    shutil.copy(imgs / "broken.png", bad)
    r = _run(net, bad, tmp_path / "o2")
    assert r.exit_code == 1 and "none of the 1 image(s) could be inverted" in r.output, r.output
    assert isinstance(r.exception, SystemExit) and "Traceback" not in r.output
    assert [p.name for p in (tmp_path / "o2").iterdir()] == ["index.csv", "index.json"]


def test_shards_are_disjoint_and_cover_everything():
    items = list(range(11))
    parts = [shard(items, r, 3) for r in range(3)]
    assert sorted(sum(parts, [])) == items and parts[1] == [1, 4, 7, 10]
    with pytest.raises(ValueError):
        shard(items, 3, 3)


def _project_two_ranks(outdir: str) -> torch.nn.Module:
    """One torchrun rank of `sgt project DIR` (run_two_ranks made the gloo group); returns every photo's ws."""
    root = Path(outdir)
    r = CliRunner().invoke(main, ["project", str(root / "imgs"), "--network", str(root / "net"), "--outdir",
                                  str(root / "ranks"), *FAST])
    assert r.exit_code == 0, r.output
    # every rank returns from the command only after all ranks finished (the index is gathered)
    return torch.nn.ParameterList([torch.nn.Parameter(torch.cat([w.flatten() for w in _ws(root / "ranks").values()]))])


def test_two_gloo_ranks_write_what_one_process_writes(tmp_path):
    """Rank r takes files r, r+2, ... of the sorted list; the merged index and every latent equal a one-process
    run's (the projection is seeded per run, not per rank)."""
    net, imgs = _make_dataset(tmp_path)
    got = run_two_ranks(_project_two_ranks, tmp_path)
    assert torch.equal(got[0], got[1])
    entries = load_index(tmp_path / "ranks")
    assert [Path(e.photo).name for e in entries] == ["broken.png", "face0.png", "face1.png", "face2.png", "wall.png"]
    assert [e.rank for e in entries] == [0, 1, 0, 1, 0]  # a disjoint, deterministic share
    assert [e.status for e in entries] == ["skipped", "inverted", "inverted", "inverted", "skipped"]
    n = torch.get_num_threads()
    torch.set_num_threads(1)  # as in the ranks
    try:
        assert _run(net, imgs, tmp_path / "one").exit_code == 0
    finally:
        torch.set_num_threads(n)
    one, two = _ws(tmp_path / "one"), _ws(tmp_path / "ranks")
    torch.testing.assert_close(two, one, rtol=0, atol=1e-6)
    assert {e.photo: e.psnr for e in load_index(tmp_path / "one")} == pytest.approx(
        {e.photo: e.psnr for e in entries}, abs=1e-4)
