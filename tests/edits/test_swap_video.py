"""Video mode of identity swap (`edits.swap.video`): smoothing off equals per-frame `swap`, the EMA against a
hand-computed one, the flicker metric by hand, `sgt swap --attribute-frames`, and a rendered pose sweep."""
from __future__ import annotations

import numpy as np
import PIL.Image
import pytest
import torch
from click.testing import CliRunner

import stylegan
from conftest import make_tiny_G
from conftest import mapped_ws as _ws
from demos.cli import main
from edits.swap import lcr, swap
from edits.swap.video import DEFAULT_SMOOTH, ema, flicker, frame_change, stack, swap_frames


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("swap_video")
    G = make_tiny_G(0)
    stylegan.save_pretrained(G, root / "tiny")
    fp = stylegan.fingerprint(G)
    ident, frames = _ws(G, 1), _ws(G, 2, 4)
    stylegan.save_ws(root / "id.npz", ident, metadata={"generator": fp})
    (root / "frames").mkdir()
    for t in range(4):  # written out of order: the command sorts by file name
        stylegan.save_ws(root / "frames" / f"f{3 - t}.npz", frames[3 - t:4 - t], metadata={"generator": fp})
    return dict(root=root, G=G, ident=ident, frames=frames)


# ------------------------------------------------------------------------------------------ swap_frames
def test_smoothing_off_equals_per_frame_swap(setup):
    G, ident, frames = setup["G"], setup["ident"], setup["frames"]
    results = swap_frames(ident, [f[None] for f in frames], G=G, smooth=0, split=3)
    assert len(results) == 4
    for t, r in enumerate(results):
        one = swap(ident, frames[t:t + 1], G=G, split=3)
        assert torch.equal(r.ws, one.ws) and torch.equal(r.image, one.image)
    assert stack(results).shape == (4, 3, G.img_resolution, G.img_resolution)


def test_smoothed_codes_are_lcr_of_a_hand_computed_ema(setup):
    G, ident, frames = setup["G"], setup["ident"], setup["frames"]
    a = 0.6
    hand = [frames[0]]
    for t in range(1, 4):
        hand.append(a * hand[-1] + (1 - a) * frames[t])
    hand = torch.stack(hand)
    torch.testing.assert_close(ema(frames, a), hand, rtol=0, atol=1e-6)
    results = swap_frames(ident, [f[None] for f in frames], G=G, smooth=a)
    for t, r in enumerate(results):
        torch.testing.assert_close(r.ws, lcr(ident, hand[t:t + 1]), rtol=0, atol=1e-6)
        assert torch.equal(r.attribute.ws, frames[t:t + 1])  # the frame's own code is kept
        with torch.no_grad():
            torch.testing.assert_close(r.image, G.synthesis(r.ws), rtol=0, atol=1e-6)
    assert torch.equal(results[0].ws, lcr(ident, frames[:1]))  # the first frame is exact


def test_ema_scalar_example_and_bad_smooth():
    assert ema(torch.tensor([0.0, 4.0, 4.0, 0.0]), 0.5).tolist() == [0.0, 2.0, 3.0, 1.5]
    x = torch.randn(5, 3, 2)
    assert torch.equal(ema(x, 0), x)
    for bad in (-0.1, 1.0, 2, "a"):
        with pytest.raises(ValueError, match="smooth"):
            ema(x, bad)
    with pytest.raises(ValueError, match="no attribute frames"):
        swap_frames(torch.zeros(1, 8, 4), [], G=make_tiny_G(0))


# ------------------------------------------------------------------------------------------ flicker
def test_flicker_of_identical_sequences_is_zero_and_matches_a_hand_computation():
    x = torch.randn(5, 3, 4, 4)
    assert flicker(x, x) == 0.0
    frames = torch.tensor([0.0, 1.0, 3.0]).view(3, 1, 1, 1).expand(3, 1, 1, 2).clone()
    truth = torch.tensor([0.0, 0.5, 1.0]).view(3, 1, 1, 1).expand(3, 1, 1, 2).clone()
    frames[2, 0, 0, 1] = 1.0  # changes |x1 - x0| = [1, 1], |x2 - x1| = [2, 0]: mean 1.0; truth: 0.5
    assert frame_change(frames) == pytest.approx(1.0) and frame_change(truth) == pytest.approx(0.5)
    assert flicker(frames, truth) == pytest.approx(0.5) and flicker(truth, frames) == pytest.approx(-0.5)


@pytest.mark.parametrize("shapes", [((1, 3, 4, 4), (1, 3, 4, 4)), ((3, 3, 4, 4), (2, 3, 4, 4)), ((3, 4, 4), (3, 4, 4))])
def test_flicker_refuses_bad_shapes(shapes):
    with pytest.raises(ValueError, match="T, C, H, W"):
        flicker(torch.zeros(shapes[0]), torch.zeros(shapes[1]))


# ------------------------------------------------------------------------------------------ sgt swap --attribute-frames
def _run(*args):
    return CliRunner().invoke(main, [*map(str, args)])


def test_cli_writes_one_png_per_frame_and_one_latent_file(setup, tmp_path):
    root, G, ident, frames = setup["root"], setup["G"], setup["ident"], setup["frames"]
    out = tmp_path / "out"
    res = _run("swap", "--identity", root / "id.npz", "--attribute-frames", root / "frames", "--network", root / "tiny",
               "--smooth", "0.5", "--outdir", out)
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == (["swapped.mp4"] + [f"swapped_{t:04d}.png" for t in range(4)]
                                                     + ["swapped_w.npz"])
    lat = stylegan.load_ws(out / "swapped_w.npz", G)
    assert lat.metadata["generator"] == stylegan.fingerprint(G) and lat.metadata["smooth"] == 0.5
    assert [p.rsplit("/", 1)[-1] for p in lat.metadata["frames"]] == [f"f{t}.npz" for t in range(4)]
    torch.testing.assert_close(lat.ws, lcr(ident, ema(frames, 0.5)), rtol=0, atol=1e-6)
    with torch.no_grad():
        expected = stylegan.images.to_uint8(G.synthesis(lat.ws[2:3]))[0]
    assert np.array_equal(np.asarray(PIL.Image.open(out / "swapped_0002.png")), expected)
    video = _read_mp4(out / "swapped.mp4")  # the same frames, through a lossy codec
    assert video.shape == (4, *expected.shape) and np.abs(video[2].astype(int) - expected).mean() < 12
    # without --smooth: the library's default, recorded
    res = _run("swap", "--identity", root / "id.npz", "--attribute-frames", root / "frames", "--network", root / "tiny",
               "--outdir", tmp_path / "default")
    assert res.exit_code == 0, res.output
    lat = stylegan.load_ws(tmp_path / "default" / "swapped_w.npz", G)
    assert lat.metadata["smooth"] == DEFAULT_SMOOTH
    torch.testing.assert_close(lat.ws, lcr(ident, ema(frames, DEFAULT_SMOOTH)), rtol=0, atol=1e-6)


def _read_mp4(path) -> np.ndarray:
    """uint8 frames [T, H, W, 3] of an MP4, decoded by imageio-ffmpeg's ffmpeg."""
    import imageio_ffmpeg

    gen = imageio_ffmpeg.read_frames(str(path))
    meta = next(gen)
    w, h = meta["size"]
    return np.stack([np.frombuffer(f, np.uint8).reshape(h, w, 3) for f in gen])


def test_cli_without_imageio_ffmpeg_writes_the_frames_and_says_how_to_get_the_mp4(setup, tmp_path, monkeypatch):
    import edits.swap.video_io as video_io

    monkeypatch.setattr(video_io, "mp4_available", lambda: False)
    root, out = setup["root"], tmp_path / "out"
    (tmp_path / "frames").mkdir()
    for p in (root / "frames").iterdir():
        (tmp_path / "frames" / p.name).write_bytes(p.read_bytes())
    (tmp_path / "frames" / "notes.txt").write_text("not a frame")
    res = _run("swap", "--identity", root / "id.npz", "--attribute-frames", tmp_path / "frames", "--network",
               root / "tiny", "--outdir", out)
    assert res.exit_code == 0, res.output
    assert "note: no swapped.mp4: `pip install imageio-ffmpeg` to get one" in res.output
    assert "note: skipping 1 file(s) that are not frames" in res.output and "notes.txt" in res.output
    assert sorted(p.name for p in out.iterdir()) == [f"swapped_{t:04d}.png" for t in range(4)] + ["swapped_w.npz"]


def test_mp4_of_odd_sized_frames_is_padded_and_read_back():
    from edits.swap.video_io import write_mp4

    frames = [np.full((33, 47, 3), 40 * t, np.uint8) for t in range(5)]
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        write_mp4(Path(d) / "v.mp4", frames, fps=10)
        video = _read_mp4(Path(d) / "v.mp4")
    assert video.shape == (5, 34, 48, 3)
    assert [int(round(f[:33, :47].mean())) for f in video] == pytest.approx([40 * t for t in range(5)], abs=3)
    with pytest.raises(ValueError, match="no frames"):
        write_mp4("unused.mp4", [])


def test_cli_default_smooth_is_the_librarys():
    from edits.swap.cli import swap as cmd

    assert next(p.default for p in cmd.params if p.name == "smooth") is None   # None: the CLI adds no policy
    assert DEFAULT_SMOOTH == 0.5   # measured (edits/swap/video.py, bench/swap_video.py)


def test_a_networks_measured_smoothing_is_its_default(setup, tmp_path, monkeypatch):
    """A trained network that records `video_smooth` gets it when no smoothing is asked for (swap_frames and
    `sgt swap --attribute-frames`); lcr and an unmeasured network get DEFAULT_SMOOTH; a bad record is refused."""
    from edits.swap.ftm import FTMConfig, TransferNet
    from edits.swap.video import SMOOTH_KEY, default_smooth
    from sgtcore import modelio, registry

    G, ident, frames = setup["G"], setup["ident"], setup["frames"]
    net = TransferNet(FTMConfig(G.num_ws, G.w_dim, hidden=8, blocks=2), w_avg=G.w_avg)
    torch.manual_seed(0)
    with torch.no_grad():
        for prm in net.parameters():
            prm.add_(0.1 * torch.randn_like(prm))  # not the identity map: the smoothing shows in the codes
    modelio.save(net, tmp_path / "plain", generator=G)
    modelio.save(net, tmp_path / "measured", generator=G, metadata={SMOOTH_KEY: 0.2})
    modelio.save(net, tmp_path / "broken", generator=G, metadata={SMOOTH_KEY: 1.5})
    monkeypatch.setattr(registry, "_USER", {}, raising=False)
    registry.register("swap", "video-test-plain", tmp_path / "plain")  # the config names G
    assert default_smooth(G, "ftm") == DEFAULT_SMOOTH and default_smooth(G, "lcr") == DEFAULT_SMOOTH
    registry.register("swap", "video-test-measured", tmp_path / "measured")  # user entries: newest first
    assert default_smooth(G, "ftm") == 0.2 and default_smooth(G, "lcr") == DEFAULT_SMOOTH
    clip = [f[None] for f in frames]
    got, want = (swap_frames(ident, clip, "ftm", G, smooth=s) for s in (None, 0.2))
    other = swap_frames(ident, clip, "ftm", G, smooth=DEFAULT_SMOOTH)
    assert all(torch.equal(a.ws, b.ws) for a, b in zip(got, want))
    assert not torch.equal(got[-1].ws, other[-1].ws)
    registry.register("swap", "video-test-broken", tmp_path / "broken")
    with pytest.raises(ValueError, match="the ftm network .*broken records a bad video_smooth: smooth = 1.5 is out of"):
        default_smooth(G, "ftm")
    res = CliRunner().invoke(main, ["swap", "--identity", str(setup["root"] / "id.npz"), "--attribute-frames",
                                    str(setup["root"] / "frames"), "--method", "ftm", "--network",
                                    str(setup["root"] / "tiny"), "--swap-net", str(tmp_path / "broken"),
                                    "--outdir", str(tmp_path / "out")])
    assert res.exit_code == 1 and "Error: the ftm network" in res.output and "Traceback" not in res.output, res.output
    assert not (tmp_path / "out").exists()  # nothing written


def test_shipped_networks_record_the_smoothing_measured_for_them():
    """bench/swap_video.py on v2 (choose_smooth per method): ftm and blend 0.3, inject 0.5; v1's record none."""
    from edits.swap.video import default_smooth

    v2, v1 = stylegan.load("synthheads128"), stylegan.load("synthheads")
    assert [default_smooth(v2, m) for m in ("lcr", "ftm", "blend", "inject")] == [0.5, 0.3, 0.3, 0.5]
    assert default_smooth(v1, "ftm") == default_smooth(v1, "blend") == DEFAULT_SMOOTH


@pytest.mark.parametrize("case", ["empty", "no_images", "no_face", "both", "paste", "mixed_sizes", "unreadable"])
def test_cli_bad_frames_folder_is_one_error_line_and_writes_nothing(setup, tmp_path, case):
    root = setup["root"]
    folder, extra = tmp_path / "frames", []
    folder.mkdir()
    expected = {"empty": "is empty", "no_images": "holds no frames", "no_face": "wall.png", "both": "exactly one",
                "paste": "--paste", "mixed_sizes": "different sizes: 64x64 (a.png), 80x64 (b.png)",
                "unreadable": "b.png: not a readable image"}
    if case == "no_images":
        (folder / "notes.txt").write_text("x")
    elif case == "no_face":
        stylegan.save_ws(folder / "a.npz", setup["frames"][:1])
        PIL.Image.fromarray(np.full((64, 64, 3), 200, np.uint8)).save(folder / "wall.png")
    elif case in ("mixed_sizes", "unreadable"):  # refused before any frame is aligned or inverted
        PIL.Image.fromarray(np.full((64, 64, 3), 200, np.uint8)).save(folder / "a.png")
        if case == "mixed_sizes":
            PIL.Image.fromarray(np.full((64, 80, 3), 200, np.uint8)).save(folder / "b.png")
        else:
            (folder / "b.png").write_bytes(b"\x89PNG truncated")
    elif case == "both":
        extra = ["--attribute", root / "id.npz"]
    elif case == "paste":
        extra = ["--paste"]
    out = tmp_path / "out"
    res = _run("swap", "--identity", root / "id.npz", "--attribute-frames", folder, "--network", root / "tiny",
               "--outdir", out, "--steps", "1", *extra)
    assert res.exit_code != 0 and "Traceback" not in res.output, res.output
    errors = [line for line in res.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and expected[case] in errors[0], res.output
    if case == "no_face":
        assert "no face found" in errors[0] and "attribute frame 1" in errors[0]
    assert not out.exists()


# ------------------------------------------------------------------------------------------ rendered pose sweep
POSE_SWEEP_YAWS = (-30.0, -15.0, 0.0, 15.0, 30.0)


def pose_sweep_flicker(smooths=(0.0, DEFAULT_SMOOTH), steps: int = 5, size: int = 64) -> dict[float, float]:
    """Flicker of LCR swaps of one identity head onto one attribute head rendered at 5 yaws, per smoothing."""
    from edits.swap import evaluate as ev
    from synthetic import Pose, render, sample_params, swap_truth

    a = sample_params(np.random.default_rng([ev.PROTOCOL_SEED, 7, 0]))
    b = sample_params(np.random.default_rng([ev.PROTOCOL_SEED, 7, 1]))
    sweep = [b.replace(pose=Pose(yaw=y, pitch=b.pose.pitch, roll=b.pose.roll)) for y in POSE_SWEEP_YAWS]
    frames = [render(p, size).image for p in sweep]
    truth = torch.cat([render(swap_truth(a, p), size).to_tensor() for p in sweep])
    G = stylegan.load("synthheads")
    from edits.swap import prepare

    torch.manual_seed(0)
    ident = prepare(render(a, size).image, G, "identity", steps=steps)
    atts = [prepare(f, G, f"attribute frame {k}", steps=steps) for k, f in enumerate(frames)]
    out = {}
    for s in smooths:
        res = swap_frames(ident, [p.ws for p in atts], G=G, smooth=s)
        out[s] = flicker(stack(res).cpu(), truth.cpu())
    return out


def test_pose_sweep_flicker_with_and_without_smoothing():
    """synthheads, 64 px renders, 5 projection steps (about 3 s on CPU). Smoothing the frames' codes lowers the flicker of a rendered pose sweep (numbers in the video notes)."""
    f = pose_sweep_flicker()
    print("pose sweep flicker:", f)
    assert all(np.isfinite(v) for v in f.values())
    assert f[DEFAULT_SMOOTH] < f[0.0], f
