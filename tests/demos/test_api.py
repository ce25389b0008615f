"""Every endpoint through `gradio_client` against a server launched in this process; bad inputs come
back as `AppError` with the library's readable message, and the server keeps serving."""
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

import stylegan
from demo_setup import NET, examples, free_port, model, server  # noqa: F401 (fixtures)
from demos import edit_handlers, handlers

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def client(server):
    return Client(server.url, verbose=False)


def _png(path: str) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def _shape(model) -> tuple[int, int, int]:
    """The served network's image shape, HWC."""
    r = model.get().G.img_resolution
    return (r, r, 3)


def test_generate_endpoint_returns_the_handlers_pixels(client, model):
    image, latent, info = client.predict(NET, 42, 0.7, "const", None, 0, 0, None, api_name="/generate")
    assert np.array_equal(_png(image), handlers.generate(model, None, 42, 0.7).image)  # png: lossless
    assert stylegan.load_ws(latent).ws.shape == (1, model.get().G.num_ws, model.get().G.w_dim)
    assert info.startswith("seed 42")


def test_invert_endpoint(client, examples, model):
    aligned, recon, psnr, latent, pasted, note = client.predict(
        NET, handle_file(str(examples[0])), True, api_name="/invert")
    assert _png(aligned).shape == _png(recon).shape == _shape(model)
    assert psnr > 15 and _png(pasted).shape == (256, 256, 3)
    assert stylegan.load_ws(latent).metadata["photo"] == examples[0].name
    assert "PSNR" in note


def test_render_endpoints(client):
    values = {name: default for name, (_, _, default) in handlers.render_defaults().items()}
    values = list({**values, "smile": 1.0}.values())
    image, overlay, params = client.predict(3, 64, *values, api_name="/render")
    assert np.array_equal(_png(image), handlers.render_head(3, 64, **dict(zip(handlers.RENDER_SLIDERS, values))).image)
    assert params["expression"]["smile"] == 1.0 and _png(overlay).shape == (64, 64, 3)
    a, b, changed = client.predict("yaw", 1, 0.5, 64, api_name="/render_pair")
    assert not np.array_equal(_png(a), _png(b)) and changed.startswith("yaw: ")


def test_edit_endpoint_changes_with_strength_and_0_is_the_plain_render(client, model):
    g = handlers.generate(model, None, 7, 0.7)
    latent = handle_file(str(g.latent_path))
    before, after, pasted, info = client.predict(NET, latent, '{"sefa:0": 0}', None, api_name="/edit")
    assert np.array_equal(_png(before), g.image) and np.array_equal(_png(after), g.image) and pasted is None
    _, edited, _, info = client.predict(NET, latent, '{"sefa:0": 2.5}', None, api_name="/edit")
    assert np.array_equal(_png(edited), edit_handlers.edit(model, None, g.latent_path, {"sefa:0": 2.5}).after)
    assert not np.array_equal(_png(edited), g.image) and info == "sefa:0 +2.5 σ"
    with pytest.raises(AppError, match="unknown edit 'moustache'; available: "):
        client.predict(NET, latent, '{"moustache": 1}', None, api_name="/edit")


def test_edit_endpoint_pastes_back_into_the_photo(client, model, examples):
    inv = handlers.invert(model, None, examples[-1], steps=1)
    _, after, pasted, _ = client.predict(NET, handle_file(str(inv.latent_path)), '{"sefa:1": -2}',
                                         handle_file(str(examples[-1])), api_name="/edit")
    truth = edit_handlers.edit(model, None, inv.latent_path, {"sefa:1": -2}, examples[-1])
    assert np.array_equal(_png(after), truth.after) and np.array_equal(_png(pasted), truth.pasted)


def test_swap_endpoint(client, model, examples):
    from demos import swap_handlers

    ident, att, result, pasted, info = client.predict(
        NET, handle_file(str(examples[0])), handle_file(str(examples[1])), "lcr", True, api_name="/swap")
    assert _png(ident).shape == _png(att).shape == _png(result).shape == _shape(model)
    assert not np.array_equal(_png(result), _png(ident)) and not np.array_equal(_png(result), _png(att))
    assert _png(pasted).shape == (256, 256, 3) and info.startswith("LCR swap: ")
    a, b = handlers.generate(model, None, 5), handlers.generate(model, None, 6)
    _, _, result, pasted, _ = client.predict(NET, handle_file(str(a.latent_path)),
                                             handle_file(str(b.latent_path)), "lcr", True, api_name="/swap")
    truth = swap_handlers.swap(model, None, a.latent_path, b.latent_path)
    assert np.array_equal(_png(result), truth.result) and pasted is None
    from edits.swap import trained_methods

    trained = trained_methods(model.get().G)[1:]
    assert "ftm" in trained and len(trained) >= 2, trained  # both shipped models carry two trained networks
    for method in trained:
        _, _, result, _, info = client.predict(NET, handle_file(str(a.latent_path)),
                                               handle_file(str(b.latent_path)), method, True, api_name="/swap")
        truth = swap_handlers.swap(model, None, a.latent_path, b.latent_path, method)
        assert np.array_equal(_png(result), truth.result) and info.startswith(f"{method.upper()} swap: ")
    with pytest.raises(AppError, match="no attribute: upload a photo or a latent"):
        client.predict(NET, handle_file(str(a.latent_path)), None, "ftm", True, api_name="/swap")


def test_20_concurrent_edits_all_complete_correctly(client, model):
    """The queue (one torch slot, 32 places) serves a burst in order; each answer is its own request's."""
    g = handlers.generate(model, None, 11, 0.7)
    strengths = [round(-2.85 + 0.3 * i, 2) for i in range(20)]
    jobs = [client.submit(NET, handle_file(str(g.latent_path)), f'{{"sefa:2": {v}}}', None,
                          api_name="/edit") for v in strengths]
    for v, job in zip(strengths, jobs):
        _, after, _, info = job.result(timeout=120)
        assert np.array_equal(_png(after), edit_handlers.edit(model, None, g.latent_path, {"sefa:2": v}).after), v
        assert info == f"sefa:2 {v:+g} σ"


def _bad_inputs(tmp: Path) -> dict[str, tuple[str, Path, str]]:
    """name -> (endpoint, file, expected words of the message)."""
    (tmp / "notes.txt").write_text("hello")
    (tmp / "fake.png").write_text("not an image")
    Image.fromarray(np.full((96, 128, 3), 200, np.uint8)).save(tmp / "wall.png")
    Image.new("L", (7000, 6000)).save(tmp / "huge.png")
    (tmp / "broken.npz").write_bytes(b"PK\x03\x04 not a zip")
    return {
        "non-image upload": ("/invert", tmp / "notes.txt", "Invalid file type"),
        "image that is not one": ("/invert", tmp / "fake.png", "cannot read fake.png: not an image file"),
        "faceless photo": ("/invert", tmp / "wall.png", "no face found in wall.png"),
        "oversized image": ("/invert", tmp / "huge.png", "huge.png is 7000x6000 = 42.0 megapixels"),
        "corrupt latent": ("/generate", tmp / "broken.npz", "broken.npz: not a readable .npz latent file"),
        "corrupt latent to edit": ("/edit", tmp / "broken.npz", "broken.npz: not a readable .npz latent file"),
        "non-image to swap": ("/swap", tmp / "notes.txt", "Invalid file type"),
        "image that is not one, to swap": ("/swap", tmp / "fake.png", "identity: cannot read fake.png: not an image"),
        "faceless photo to swap": ("/swap", tmp / "wall.png", "identity: no face found in wall.png"),
    }


def test_bad_inputs_are_readable_errors_and_the_server_keeps_serving(client, model, tmp_path):
    for name, (endpoint, path, expected) in _bad_inputs(tmp_path).items():
        args = {"/invert": [NET, handle_file(str(path)), True],
                "/generate": [NET, 0, 0.7, "const", None, 0, 0, handle_file(str(path))],
                "/edit": [NET, handle_file(str(path)), '{"sefa:0": 1}', None],
                "/swap": [NET, handle_file(str(path)), handle_file(str(path)), "lcr", True]}[endpoint]
        with pytest.raises(AppError) as err:
            client.predict(*args, api_name=endpoint)
        assert expected in str(err.value), (name, str(err.value))
        assert str(tmp_path) not in str(err.value)  # upload paths are shortened to the file name
    with pytest.raises(AppError, match=r"/etc/passwd is not in the list of choices"):  # names only, no paths
        client.predict("/etc/passwd", 0, 0.7, "const", None, 0, 0, None, api_name="/generate")
    image, _, _ = client.predict(NET, 1, 0.7, "const", None, 0, 0, None, api_name="/generate")
    assert _png(image).shape == _shape(model)


def test_upload_over_the_size_limit_is_refused(server):
    big = os.urandom(11 * 1024 * 1024)
    r = httpx.post(f"{server.url}gradio_api/upload", files={"files": ("big.png", big, "image/png")}, timeout=60)
    assert r.status_code == 413, r.text[:200]


def test_sgt_demo_serves_and_refuses_a_bad_network(tmp_path):
    port = free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    sgt = [sys.executable, "-m", "demos.cli", "demo"]
    bad = subprocess.run(sgt + ["--network", str(tmp_path / "missing.pkl")], capture_output=True, text=True,
                         env=env, cwd=ROOT, timeout=120)
    assert bad.returncode == 1 and bad.stderr.startswith("Error: --network") and "Traceback" not in bad.stderr
    proc = subprocess.Popen(sgt + ["--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env, cwd=ROOT, start_new_session=True)
    watchdog = threading.Timer(120, proc.kill)  # a hung start must not hang the test
    watchdog.start()
    try:
        seen = []
        for line in proc.stdout:  # the URL line comes once the server is up
            seen.append(line)
            if line.startswith("serving the demo at "):
                break
        assert seen and seen[-1].split()[4] == f"http://127.0.0.1:{port}/", "".join(seen)
        assert httpx.get(f"http://127.0.0.1:{port}/", timeout=10).status_code == 200
        # a torch handler answers: run on the main thread by `sgt demo`'s MainThreadRunner
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        _, latent, info = client.predict(NET, 3, 0.7, "const", None, 0, 0, None, api_name="/generate")
        assert info.startswith("seed 3") and Path(latent).is_file()
    finally:
        watchdog.cancel()
        proc.terminate()  # SIGTERM: the demo stops like on Ctrl-C, removing its temporary files
        try:
            rest, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            rest, _ = proc.communicate()
    assert proc.returncode == 0, rest
