"""`sgt align`: outputs, the JSON record that paste-back reads, and nothing half-written on errors."""
import json

import numpy as np
import PIL.Image
import pytest
from click.testing import CliRunner
from skimage import data

from demos.cli import main
from inversion import AlignedFace, paste_back
from inversion.cli import align


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    PIL.Image.fromarray(data.astronaut()).save(folder / "astronaut.png")
    PIL.Image.fromarray(np.full((64, 64, 3), 200, np.uint8)).save(folder / "wall.png")
    (folder / "notes.jpg").write_text("not a picture")
    return folder


def test_align_all_faces_and_paste_back_from_json(photos, tmp_path):
    out = tmp_path / "aligned"
    result = CliRunner().invoke(align, [str(photos / "astronaut.png"), "--outdir", str(out), "--size", "64",
                                        "--face", "all"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["astronaut_00.json", "astronaut_00.png",
                                                    "astronaut_01.json", "astronaut_01.png"]
    record = json.loads((out / "astronaut_01.json").read_text())
    assert record["output_size"] == 64 and record["detector"] == "hog" and len(record["landmarks"]) == 68
    face = AlignedFace.load(out / "astronaut_01.json")
    assert face.image.shape == (64, 64, 3) and face.source_size == (512, 512)
    photo = data.astronaut()
    pasted, mask = paste_back(photo, face.image, out / "astronaut_01.json", return_mask=True, color_match=False)
    assert mask.max() == 1.0
    assert np.abs(pasted.astype(int) - photo)[mask > 0.5].mean() < 6  # 64 px round trip of a 174 px face


def test_largest_face_by_default_with_a_note(photos, tmp_path):
    result = CliRunner().invoke(main, ["align", str(photos / "astronaut.png"), "--outdir", str(tmp_path), "--size", "32"])
    assert result.exit_code == 0, result.output
    assert "aligned the largest" in result.output and "--face" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["astronaut.json", "astronaut.png"]
    assert PIL.Image.open(tmp_path / "astronaut.png").size == (32, 32)


def test_failures_write_nothing_and_exit_1(photos, tmp_path):
    out = tmp_path / "o"
    args = [str(photos / n) for n in ("notes.jpg", "wall.png", "astronaut.png", "missing.png")]
    result = CliRunner().invoke(align, [*args, "--outdir", str(out), "--size", "32"])
    assert result.exit_code == 1
    assert "notes.jpg: not an image" in result.output
    assert "no face found in" in result.output and "wall.png (HOG detector, 1 upsample)" in result.output
    assert "missing.png: no such file" in result.output
    assert "3 of 4 photo(s) failed" in result.output
    assert sorted(p.name for p in out.iterdir()) == ["astronaut.json", "astronaut.png"]  # no temp files

    result = CliRunner().invoke(align, [str(photos / "astronaut.png"), "--outdir", str(out / "x"), "--face", "7"])
    assert result.exit_code == 1 and "face index 7 requested but 2 face(s) found" in result.output
    assert list((out / "x").iterdir()) == []


def test_bad_options_and_help(photos, tmp_path):
    PIL.Image.fromarray(data.astronaut()).save(tmp_path / "astronaut.jpg")
    result = CliRunner().invoke(align, [str(photos / "astronaut.png"), str(tmp_path / "astronaut.jpg"),
                                        "--outdir", str(tmp_path / "o")])
    assert result.exit_code == 2 and "would both be written as astronaut.png" in result.output
    assert not (tmp_path / "o").exists()
    result = CliRunner().invoke(align, [str(photos / "astronaut.png"), "--outdir", str(tmp_path), "--face", "biggest"])
    assert result.exit_code == 2 and "expected 'largest', 'all' or an integer index" in result.output
    result = CliRunner().invoke(main, ["align", "--help"])
    assert result.exit_code == 0 and "1024; x>=4]" in result.output and "[default: largest]" in result.output
