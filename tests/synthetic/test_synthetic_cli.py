"""`sgt render` via click's CliRunner: files, JSON content, pairs, dataset mode, bad options."""
import json

import numpy as np
from click.testing import CliRunner
from PIL import Image

from synthetic import HeadParams, render as render_head
from synthetic.cli import render


def test_render_writes_png_and_json(tmp_path):
    res = CliRunner().invoke(render, ["--n", "2", "--size", "64", "--outdir", str(tmp_path), "--seed", "3", "--workers", "1"])
    assert res.exit_code == 0, res.output
    pngs = sorted(tmp_path.glob("*.png"))
    assert [p.name for p in pngs] == ["000000.png", "000001.png"]
    rec = json.loads((tmp_path / "000001.json").read_text())
    assert len(rec["landmarks"]) == 68 and rec["size"] == 64
    # the JSON holds everything needed to reproduce the image exactly
    again = render_head(HeadParams.from_dict(rec["params"]), 64)
    assert np.array_equal(np.asarray(Image.open(pngs[1])), again.image)
    np.testing.assert_allclose(again.landmarks, rec["landmarks"], atol=1e-3)


def test_pairs_and_workers(tmp_path):
    res = CliRunner().invoke(render, ["--n", "2", "--size", "48", "--outdir", str(tmp_path), "--pairs", "yaw", "--workers", "2"])
    assert res.exit_code == 0, res.output
    names = sorted(p.name for p in tmp_path.glob("*.png"))
    assert names == ["000000_a.png", "000000_b.png", "000001_a.png", "000001_b.png"]
    a = json.loads((tmp_path / "000000_a.json").read_text())
    b = json.loads((tmp_path / "000000_b.json").read_text())
    assert b["pair"] == {"attribute": "yaw", "member": "b", "strength": 1.0}
    assert (a["params"]["pose"]["yaw"], b["params"]["pose"]["yaw"]) == (-70.0, 70.0)
    assert a["params"]["identity"] == b["params"]["identity"]


def test_dataset_mode(tmp_path):
    res = CliRunner().invoke(render, ["--dataset", "3", "--size", "32", "--outdir", str(tmp_path), "--workers", "1"])
    assert res.exit_code == 0, res.output
    meta = json.loads((tmp_path / "dataset.json").read_text())
    assert meta["labels"] is None and meta["resolution"] == 32 and len(meta["images"]) == 3
    for rec in meta["images"]:
        assert Image.open(tmp_path / rec["file"]).size == (32, 32)
        HeadParams.from_dict(rec["params"])


def test_bad_options(tmp_path):
    r = CliRunner()
    assert r.invoke(render, ["--outdir", str(tmp_path), "--pairs", "nose_colour"]).exit_code == 2
    assert r.invoke(render, ["--outdir", str(tmp_path), "--size", "8"]).exit_code == 2
    res = r.invoke(render, ["--outdir", str(tmp_path), "--dataset", "2", "--pairs", "yaw"])
    assert res.exit_code == 2 and "cannot be combined" in res.output


def test_output_does_not_depend_on_workers(tmp_path):
    """README: item i uses default_rng([seed, i]), so 1 and 2 workers write the same files."""
    outs = {}
    for w in (1, 2):
        out = tmp_path / f"w{w}"
        res = CliRunner().invoke(render, ["--dataset", "4", "--size", "32", "--outdir", str(out), "--seed", "5",
                                          "--workers", str(w)])
        assert res.exit_code == 0, res.output
        outs[w] = out
    files = sorted(p.relative_to(outs[1]) for p in outs[1].rglob("*") if p.is_file())
    assert len(files) == 5 and files == sorted(p.relative_to(outs[2]) for p in outs[2].rglob("*") if p.is_file())
    for f in files:
        if f.suffix == ".png":
            assert np.array_equal(np.asarray(Image.open(outs[1] / f)), np.asarray(Image.open(outs[2] / f))), f
        else:
            assert json.loads((outs[1] / f).read_text()) == json.loads((outs[2] / f).read_text()), f
