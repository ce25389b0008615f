"""Foreign edit-direction files (`edits.formats`): InterFaceGAN `.npy`, e4e `.pt`, GANSpace `.npz` / e4e PCA.

Every fixture is written here in the original layout (np.save float64 [1, w_dim]; torch.save of e4e's
tensors, one claiming a CUDA device; np.savez_compressed with all of GANSpace's keys) at the tiny
generator's w_dim = 32, num_ws = 8. Numbers are checked against the originals' formulas transcribed
below with NumPy (InterFaceGAN's conditional closed form, e4e's `ganspace.get_delta` and
`latent + factor * direction`, GANSpace's centred edit), not against our code.
"""
from __future__ import annotations

import os
import warnings
import zipfile
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import edits
import stylegan
from conftest import make_tiny_G
from edits.formats import ComponentEdit, RowwiseEdit, parse_spec, project_boundary
from sgtcore.errors import (ArchitectureMismatchError, CorruptCheckpointError, UnknownFormatError,
                            UnsafeCheckpointError)

W_DIM, NUM_WS, C = 32, 8, 6


# ------------------------------------------------------------------------------------------ fixtures
def _unit(seed: int, shape=(1, W_DIM)) -> np.ndarray:
    v = np.random.RandomState(seed).randn(*shape)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


@pytest.fixture(scope="module")
def G():
    return make_tiny_G(0)


@pytest.fixture(scope="module")
def ws(G):
    with torch.no_grad():  # W+ codes whose rows differ, as an encoder gives them
        w = G.mapping(torch.randn(3, G.z_dim, generator=torch.Generator().manual_seed(7)), truncation_psi=0.8)
    return w + 0.3 * torch.randn(w.shape, generator=torch.Generator().manual_seed(8))


def _save_cuda_claimed(obj, path) -> None:
    """torch.save as on a GPU machine: every storage's location tag says 'cuda:0' (e4e's pose.pt does)."""
    real = torch.serialization.location_tag
    torch.serialization.location_tag = lambda storage: "cuda:0"
    try:
        torch.save(obj, path)
    finally:
        torch.serialization.location_tag = real


def _pca_of(G, n: int = 4000, n_std: int = 2000):
    """GANSpace's W decomposition (decomposition.py, use_w): PCA of mapped w, unit components, the std of
    another batch of samples' coordinates; NumPy only."""
    with torch.no_grad():
        w = G.mapping(torch.randn(n + n_std, G.z_dim, generator=torch.Generator().manual_seed(3)))[:, 0].double()
    X, S = w[:n].numpy(), w[n:].numpy()
    mean = X.mean(0, keepdims=True)
    _, sv, vt = np.linalg.svd(X - mean, full_matrices=False)
    comp = vt[:C] / np.linalg.norm(vt[:C], axis=1, keepdims=True)
    std = (S @ comp.T).std(axis=0)
    return mean, comp, std, sv


@pytest.fixture(scope="module")
def files(G, tmp_path_factory):
    root = tmp_path_factory.mktemp("directions")
    f = SimpleNamespace(root=root)
    # genforce/interfacegan: np.save of a float64 [1, 512] unit normal; W files carry _w_ in the name
    f.n, f.c1, f.c2 = _unit(1), _unit(2), _unit(3)
    f.w_npy = root / "stylegan_ffhq_age_w_boundary.npy"
    np.save(f.w_npy, f.n)
    np.save(root / "stylegan_ffhq_gender_w_boundary.npy", f.c1)
    np.save(root / "stylegan_ffhq_eyeglasses_w_boundary.npy", f.c2)
    # e4e: interfacegan_directions/age.pt [1, 512] float32 (CPU), pose.pt [1, 18, 512] saved from CUDA
    f.age = _unit(4).astype(np.float32)
    f.age_pt = root / "e4e" / "age.pt"
    f.age_pt.parent.mkdir()
    torch.save(torch.from_numpy(f.age), f.age_pt)
    f.pose = (_unit(5, (1, NUM_WS, W_DIM)) * np.linspace(0.5, 1.5, NUM_WS)[None, :, None]).astype(np.float32)
    f.pose_pt = root / "e4e" / "pose.pt"
    _save_cuda_claimed(torch.from_numpy(f.pose), f.pose_pt)
    # GANSpace cache (np.savez_compressed, all keys) and e4e's ffhq_pca.pt {mean, comp, std}
    mean, comp, std, sv = _pca_of(G)
    f.mean, f.comp, f.std = mean, comp, std
    f.npz = root / "stylegan2-tiny_style_ipca_c6_n4000_w.npz"
    np.savez_compressed(f.npz, lat_comp=comp[:, None].astype(np.float32), lat_mean=mean.astype(np.float32),
                        lat_stdev=std.astype(np.float32), act_comp=comp[:, None].astype(np.float32),
                        act_mean=mean.astype(np.float32), act_stdev=std.astype(np.float32),
                        var_ratio=(sv[:C] ** 2 / (sv ** 2).sum()).astype(np.float32),
                        random_stdevs=np.full(C, 0.1, np.float32))
    f.pca_pt = root / "ffhq_pca.pt"
    torch.save({"mean": torch.from_numpy(mean).float(), "comp": torch.from_numpy(comp[:, None]).float(),
                "std": torch.from_numpy(std).float()}, f.pca_pt)
    return f


def _sigma_reference(G, d: np.ndarray, n: int = 20_000) -> float:
    """Std of mapped w along the unit direction d, from samples independent of the library's."""
    with torch.no_grad():
        w = G.mapping(torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(11)))[:, 0].double().numpy()
    return float((w @ (d.reshape(-1) / np.linalg.norm(d))).std())


# ------------------------------------------------------------------------------------ InterFaceGAN
def test_interfacegan_w_boundary_is_a_linear_edit_in_sigma(G, ws, files):
    e = edits.import_direction(files.w_npy, G)
    assert isinstance(e, edits.LinearEdit) and e.name == "interfacegan:age" and e.method == "interfacegan"
    assert e.unit == "σ" and e.attribute is None and e.rows == tuple(range(NUM_WS))
    assert e.generator == stylegan.fingerprint(G) and e.info["format"] == "InterFaceGAN boundary (.npy)"
    # σ = std of mapped w along n: ~1 % sampling error at 10 000 samples (5 % leaves room, a wrong σ is far off)
    assert e.sigma == pytest.approx(_sigma_reference(G, files.n), rel=0.05)
    want = ws.double().numpy() + 1.5 * e.sigma * files.n[None]  # InterFaceGAN's W+ edit: ws + distance * n
    np.testing.assert_allclose(e.apply(ws, 1.5).double().numpy(), want, atol=1e-5)
    assert torch.equal(e.apply(ws, 0.0), ws)


def test_file_units_are_the_originals_distance(G, ws, files):
    """unit='svm distance': e4e's `latent + factor * direction`, the file's vector as saved."""
    e = edits.import_direction(files.age_pt, G, unit="svm distance")
    assert e.name == "interfacegan:age" and e.unit == "svm distance" and e.sigma == 1.0
    assert e.info["format"] == "e4e direction (.pt)"
    want = ws.numpy() + 3.0 * files.age  # e4e editings/latent_editor.py apply_interfacegan
    np.testing.assert_allclose(e.apply(ws, 3.0).numpy(), want, atol=1e-6)
    rows = edits.import_direction(f"{files.age_pt}@2:5", G, unit="svm distance")  # ws rows 2, 3, 4 only
    got = rows.apply(ws, 3.0).numpy()
    np.testing.assert_allclose(got[:, 2:5], want[:, 2:5], atol=1e-6)
    assert np.array_equal(got[:, [0, 1, 5, 6, 7]], ws.numpy()[:, [0, 1, 5, 6, 7]])


@pytest.mark.parametrize("name", ["stylegan_ffhq_age_boundary.npy", "pggan_celebahq_age_boundary.npy",
                                  "stylegan_ffhq_age_c_gender_boundary.npy", "smile_z.npy", "smile.npy"])
def test_z_space_boundaries_are_refused(G, tmp_path, name):
    path = tmp_path / name
    np.save(path, _unit(1))
    with pytest.raises(ArchitectureMismatchError, match=r"Z boundary is the normal of a hyperplane in Z") as info:
        edits.import_direction(path, G)
    assert "_w_" in str(info.value)
    if name == "smile.npy":  # a name that does not say: the caller may vouch for W
        assert edits.import_direction(path, G, space="w").name == "interfacegan:smile"


def _project_original(primal, *conds):
    """genforce/interfacegan utils/manipulator.py project_boundary, transcribed (1 and 2 conditions)."""
    if len(conds) == 1:
        (c,) = conds
        new = primal - primal.dot(c.T) * c
    else:
        c1, c2 = conds
        p1, p2, c12 = primal.dot(c1.T), primal.dot(c2.T), c1.dot(c2.T)
        alpha = (p1 - p2 * c12) / (1 - c12 ** 2 + 1e-8)
        beta = (p2 - p1 * c12) / (1 - c12 ** 2 + 1e-8)
        new = primal - alpha * c1 - beta * c2
    return new / np.linalg.norm(new)


def test_conditional_boundary_matches_the_original_closed_form(G, files, tmp_path):
    n, c1, c2 = files.n, files.c1, files.c2
    for conds in [(c1,), (c1, c2)]:
        got = project_boundary(n, *conds)
        assert got.shape == (1, W_DIM)
        np.testing.assert_allclose(got, _project_original(n, *conds), atol=1e-7)
        assert abs(float(np.linalg.norm(got)) - 1) < 1e-12
        assert all(abs((got @ c.T).item()) < 1e-8 for c in conds)
    assert np.array_equal(project_boundary(n), n)  # no condition: the primal itself
    # the same through import: conditions given as the files users have
    e = edits.import_direction(files.w_npy, G, unit="svm distance",
                               conditions=[files.root / "stylegan_ffhq_gender_w_boundary.npy",
                                           files.root / "stylegan_ffhq_eyeglasses_w_boundary.npy"])
    np.testing.assert_allclose(e.direction.numpy(), _project_original(n, c1, c2)[0], atol=1e-6)
    assert e.info["conditions"] == 2
    with pytest.raises(ValueError, match="linearly dependent"):
        project_boundary(n, c1, c1)
    with pytest.raises(ArchitectureMismatchError, match="Z"):  # a Z condition is refused like a Z primal
        z = tmp_path / "stylegan_ffhq_gender_boundary.npy"
        np.save(z, c1)
        edits.import_direction(files.w_npy, G, conditions=[z])


# ----------------------------------------------------------------------------------------- e4e .pt
def test_e4e_pose_saved_on_cuda_is_a_per_row_direction(G, ws, files):
    with zipfile.ZipFile(files.pose_pt) as z:  # the fixture really names a CUDA device, as e4e's pose.pt
        pkl = next(n for n in z.namelist() if n.endswith("data.pkl"))
        assert b"cuda:0" in z.read(pkl)
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(files.pose_pt, weights_only=True)  # what a loader without map_location hits
    e = edits.import_direction(files.pose_pt, G, unit="svm distance")
    assert isinstance(e, RowwiseEdit) and e.name == "interfacegan:pose" and e.directions.shape == (NUM_WS, W_DIM)
    want = ws.numpy() + (-2.0) * files.pose  # e4e: latent [N, 18, 512] + factor * direction [1, 18, 512]
    np.testing.assert_allclose(e.apply(ws, -2.0).numpy(), want, atol=1e-6)
    # σ units: the rows' mean direction moves by σ of w along it; rows keep their relative sizes
    s = edits.import_direction(files.pose_pt, G)
    m = files.pose[0].astype(np.float64).mean(0)
    sigma_u = _sigma_reference(G, m)
    assert s.info["sigma"] == pytest.approx(sigma_u, rel=0.05)
    np.testing.assert_allclose(s.apply(ws, 1.0).numpy() - ws.numpy(),
                               np.broadcast_to(s.info["sigma"] * files.pose / np.linalg.norm(m), ws.shape), atol=1e-5)


def test_per_row_direction_for_another_num_ws_is_refused(G, tmp_path):
    path = tmp_path / "pose.pt"
    torch.save(torch.from_numpy(_unit(5, (1, 18, W_DIM))).float(), path)
    with pytest.raises(ArchitectureMismatchError, match=r"18 ws rows .*1024 px.* num_ws 8"):
        edits.import_direction(path, G)


# ---------------------------------------------------------------------------------------- GANSpace
def _gs_set_reference(w: np.ndarray, mean, comp_k, std_k, strength, start, end) -> np.ndarray:
    """GANSpace's centred edit per row: move each row in [start, end) to coordinate `strength` σ."""
    out = w.copy()
    for r in range(start, end):
        coord = (w[:, r] - mean.reshape(-1)) @ comp_k / std_k
        out[:, r] = w[:, r] + ((strength - coord) * std_k)[:, None] * comp_k[None]
    return out


def _e4e_get_delta(latent: np.ndarray, mean, comp, std, idx, start, end, strength) -> np.ndarray:
    """omertov/encoder4editing editings/ganspace.py edit + get_delta for one latent [R, D], transcribed."""
    w_centered = latent - mean
    w_coord = np.sum(w_centered[0].reshape(-1) * comp[idx].reshape(-1)) / std[idx]
    delta = (strength - w_coord) * comp[idx] * std[idx]
    padded = np.zeros(latent.shape)
    padded[start:end] += np.repeat(delta.reshape(1, -1), end - start, axis=0)
    return latent + padded


@pytest.mark.parametrize("which", ["npz", "pca_pt"])
def test_ganspace_sets_the_coordinate_on_a_row_range(G, ws, files, which):
    path = files.npz if which == "npz" else files.pca_pt
    e = edits.import_direction(f"{path}#3@2:5", G)
    assert isinstance(e, ComponentEdit) and e.name == "ganspace:3@2:5" and e.rows == (2, 3, 4)
    assert e.mode == "set" and e.unit == "σ" and e.std == pytest.approx(files.std[3], rel=1e-6)
    w = ws.double().numpy()
    want = _gs_set_reference(w, files.mean, files.comp[3], files.std[3], 1.7, 2, 5)
    got = e.apply(ws, 1.7).double().numpy()
    np.testing.assert_allclose(got, want, atol=2e-5)
    np.testing.assert_allclose(e.coordinate(torch.from_numpy(got).float())[:, 2:5].numpy(), 1.7, atol=1e-4)
    # on a W latent (all rows equal) it is e4e's edit exactly
    w1 = ws[:1, :1].expand(1, NUM_WS, W_DIM).contiguous()
    ref = _e4e_get_delta(w1[0].double().numpy(), files.mean, files.comp[:, None], files.std, 3, 2, 5, 1.7)
    np.testing.assert_allclose(e.apply(w1, 1.7)[0].double().numpy(), ref, atol=2e-5)
    # mode "add" (GANSpace's interactive tool): + strength * std * component on the rows
    a = edits.import_direction(path, G, component=3, rows=range(2, 5), mode="add")
    want_add = w.copy()
    want_add[:, 2:5] += 1.7 * files.std[3] * files.comp[3]
    np.testing.assert_allclose(a.apply(ws, 1.7).double().numpy(), want_add, atol=2e-5)
    assert torch.equal(a.apply(ws, 0.0), ws)


def test_ganspace_file_gives_its_first_components_and_asks_which_one(G, files):
    found = edits.formats.read(files.npz, G)
    assert [e.name for e in found] == [f"ganspace:{k}" for k in range(5)]  # sgt directions' default count
    assert all(e.rows == tuple(range(NUM_WS)) for e in found)
    assert found[0].info["format"] == "GANSpace cache (.npz)" and found[0].info["num_components"] == C
    with pytest.raises(ValueError, match=r"holds 6 GANSpace components; choose one: .*#K"):
        edits.import_direction(files.pca_pt, G)
    with pytest.raises(ValueError, match=r"holds components 0\.\.5; got \[6\]"):
        edits.import_direction(f"{files.pca_pt}#6", G)
    with pytest.raises(ValueError, match="empty"):
        parse_spec(f"{files.pca_pt}#1@4:4")
    assert parse_spec(f"{files.pca_pt}#46@4:5") == (files.pca_pt, 46, (4,))


def test_options_of_one_family_are_refused_for_the_other(G, files):
    with pytest.raises(ValueError, match="GANSpace components are in the file's σ"):
        edits.import_direction(f"{files.npz}#0", G, unit="svm distance")
    with pytest.raises(ValueError, match="mode= applies to GANSpace"):
        edits.import_direction(files.age_pt, G, mode="add")
    with pytest.raises(ValueError, match="#K / components choose GANSpace components"):
        edits.import_direction(f"{files.age_pt}#1", G)
    with pytest.raises(UnknownFormatError, match="not 'ganspace' data"):
        edits.import_direction(files.age_pt, G, kind="ganspace")
    with pytest.raises(TypeError, match="direction files only"):
        edits.load(files.root / "not_a_folder", G, unit="σ")


def test_z_space_ganspace_is_refused(G, tmp_path, files):
    data = dict(np.load(files.npz))
    z_named = tmp_path / "stylegan2-tiny_style_ipca_c6_n4000.npz"  # no _w: GANSpace's Z cache
    np.savez_compressed(z_named, **data)
    with pytest.raises(ArchitectureMismatchError, match="no _w"):
        edits.import_direction(f"{z_named}#0", G)
    ones = tmp_path / "renamed.npz"  # GANSpace writes lat_stdev = 1 for Z components
    np.savez_compressed(ones, **{**data, "lat_stdev": np.ones(C, np.float32)})
    with pytest.raises(ArchitectureMismatchError, match="all ones"):
        edits.import_direction(f"{ones}#0", G)


# ----------------------------------------------------------------------------------------- bad input
class _Hostile:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _bad(case: str, tmp_path, files):
    p = tmp_path / {"truncated_pt": "age.pt", "garbage_npy": "x_w.npy", "truncated_npz": "c_n1_w.npz",
                    "pickle_npy": "y_w.npy", "hostile_pt": "evil.pt", "hostile_legacy": "evil_legacy.pt",
                    "w_dim": "small_w.npy", "nan": "nan_w.npy", "nan_pca": "nan_pca.pt", "latent": "lat.npz",
                    "checkpoint": "g.pt", "empty": "e_w.npy", "text": "notes.txt"}[case]
    if case == "truncated_pt":
        p.write_bytes(files.age_pt.read_bytes()[:300])
    elif case == "garbage_npy":
        p.write_bytes(b"\x93NUMPY\x01\x00garbage")
    elif case == "truncated_npz":
        p.write_bytes(files.npz.read_bytes()[:200])
    elif case == "pickle_npy":
        np.save(p, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    elif case == "hostile_pt":
        torch.save({"mean": _Hostile(tmp_path / "pwned")}, p)
    elif case == "hostile_legacy":
        torch.save(_Hostile(tmp_path / "pwned"), p, _use_new_zipfile_serialization=False)
    elif case == "w_dim":
        np.save(p, _unit(1, (1, 16)))
    elif case == "nan":
        bad = _unit(1)
        bad[0, 3] = np.nan
        np.save(p, bad)
    elif case == "nan_pca":
        std = torch.from_numpy(files.std).float()
        std[2] = float("inf")
        comp = torch.from_numpy(files.comp[:, None]).float()
        torch.save({"mean": torch.zeros(1, W_DIM), "comp": comp, "std": std}, p)
    elif case == "latent":
        np.savez(p, w=np.zeros((1, NUM_WS, W_DIM), np.float32))
    elif case == "checkpoint":
        torch.save({"g_ema": {"style.1.weight": torch.zeros(2, 2)}, "latent_avg": torch.zeros(W_DIM)}, p)
    elif case == "empty":
        p.write_bytes(b"")
    else:
        p.write_text("hello")
    return p


BAD = {"truncated_pt": (CorruptCheckpointError, "damaged"), "garbage_npy": (CorruptCheckpointError, "damaged"),
       "truncated_npz": (CorruptCheckpointError, "damaged"), "pickle_npy": (UnsafeCheckpointError, "pickled object"),
       "hostile_pt": (UnsafeCheckpointError, "refusing"), "hostile_legacy": (UnsafeCheckpointError, "refusing"),
       "w_dim": (ArchitectureMismatchError, "16 values per row, the generator has w_dim 32"),
       "nan": (CorruptCheckpointError, "NaN/Inf"), "nan_pca": (CorruptCheckpointError, "std holds 1 NaN/Inf"),
       "latent": (UnknownFormatError, "a latent file"), "checkpoint": (UnknownFormatError, "a checkpoint"),
       "empty": (CorruptCheckpointError, "empty file"), "text": (UnknownFormatError, "suffixes")}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_files_get_a_specific_error_and_run_nothing(G, tmp_path, files, case):
    path = _bad(case, tmp_path, files)
    err, text = BAD[case]
    spec = f"{path}#0" if case == "nan_pca" else path
    with pytest.raises(err, match=text):
        edits.formats.read(spec, G)
    assert not (tmp_path / "pwned").exists()  # the hostile __reduce__ never ran


# ------------------------------------------------------------------------ files, catalogue, demo, CLI
@pytest.mark.parametrize("spec", ["pose", "pca"])
def test_imported_edits_round_trip_through_our_format(G, ws, files, tmp_path, spec):
    src = files.pose_pt if spec == "pose" else f"{files.pca_pt}#2@1:3"
    e = edits.load(src, G)  # edits.load reads direction files too
    back = edits.load(e.save(tmp_path / "saved"), G)
    assert type(back) is type(e) and back.name == e.name and back.rows == e.rows
    assert torch.equal(back.apply(ws, 1.25), e.apply(ws, 1.25))
    with pytest.raises(ArchitectureMismatchError, match="generator"):
        edits.load(tmp_path / "saved", make_tiny_G(1))


def test_registered_directions_join_the_catalogue_and_the_edit_tab(G, ws, files):
    from demos import edit_handlers

    fp = stylegan.fingerprint(G)
    try:
        added = edits.register_directions(files.root / "e4e", G)
        added += edits.register_directions(f"{files.pca_pt}#3@2:5", G)
        assert [e.name for e in added] == ["interfacegan:age", "interfacegan:pose", "ganspace:3@2:5"]
        catalogue = edits.available(G)
        assert {"interfacegan:age", "interfacegan:pose", "ganspace:3@2:5"} <= set(catalogue)
        assert edits.available(make_tiny_G(1)).keys().isdisjoint({"interfacegan:age"})  # only for their G
        sliders = {s.name: s for s in edit_handlers.edit_sliders(SimpleNamespace(edits=lambda network=None: catalogue))}
        assert sliders["interfacegan:pose"].group == "InterFaceGAN components (σ)"
        assert sliders["ganspace:3@2:5"].label == "ganspace:3@2:5 (σ)"
        assert (sliders["interfacegan:age"].minimum, sliders["interfacegan:age"].maximum) == (-3.0, 3.0)
        img = edits.render(G, ws, [(catalogue["interfacegan:age"], 2.0), (catalogue["ganspace:3@2:5"], -1.0)])
        want = G.synthesis(catalogue["ganspace:3@2:5"].apply(catalogue["interfacegan:age"].apply(ws, 2.0), -1.0))
        torch.testing.assert_close(img, want)
        with pytest.raises(ValueError, match="both give the edit 'ganspace:0'"):
            edits.register_directions(files.root, G)  # the GANSpace cache and the e4e PCA share names
    finally:
        edits.formats.unregister_directions(fp)
    assert "interfacegan:pose" not in edits.available(G)


def test_registered_directions_are_sliders_of_the_built_demo(G, files, tmp_path):
    """`sgt demo --directions` registers before the app is built: the Edit tab then has their sliders."""
    gr = pytest.importorskip("gradio")
    from demos.app import build
    from demos.models import DemoModel

    stylegan.save_pretrained(G, tmp_path / "tiny")
    fp = stylegan.fingerprint(G)
    edits.register_directions(files.pose_pt, G)
    m = DemoModel(str(tmp_path / "tiny"), G=G)
    try:
        with warnings.catch_warnings():  # e.g. "LPIPS unavailable" on a machine without its weights
            warnings.simplefilter("ignore")
            app = build(m)
        sliders = {b.elem_id: b for b in app.blocks.values() if isinstance(b, gr.Slider)}
        pose = sliders["edit-interfacegan-pose"]
        assert (pose.label, pose.minimum, pose.maximum, pose.value) == ("interfacegan:pose (σ)", -3.0, 3.0, 0)
    finally:
        edits.formats.unregister_directions(fp)
        m.close()


def _sgt(*args):
    from demos.cli import main

    return CliRunner().invoke(main, [str(a) for a in args])


def test_sgt_edit_direction(G, ws, files, tmp_path):
    net = tmp_path / "tiny"
    stylegan.save_pretrained(G, net)
    stylegan.save_ws(tmp_path / "w.npz", ws[:1], metadata={"generator": stylegan.fingerprint(G)})
    out = tmp_path / "out"
    res = _sgt("edit", tmp_path / "w.npz", "--network", net, "--direction", f"{files.age_pt}=2",
               "--direction", f"{files.pca_pt}#3@2:5=-1.5", "--outdir", out)
    assert res.exit_code == 0, res.output
    got = stylegan.load_ws(out / "edited_w.npz")
    age, pc = edits.import_direction(files.age_pt, G), edits.import_direction(f"{files.pca_pt}#3@2:5", G)
    torch.testing.assert_close(got.ws, pc.apply(age.apply(ws[:1], 2.0), -1.5), rtol=0, atol=1e-5)
    assert [(e["name"], e["strength"], e["file"]) for e in got.metadata["edits"]] == [
        ("interfacegan:age", 2.0, f"{files.age_pt}"), ("ganspace:3@2:5", -1.5, f"{files.pca_pt}#3@2:5")]
    z = tmp_path / "stylegan_ffhq_age_boundary.npy"
    np.save(z, files.n)
    for spec, why in [(f"{z}=1", "Z boundary"), (f"{files.pca_pt}=1", "choose one"), (f"{files.age_pt}", "NAME=")]:
        res = _sgt("edit", tmp_path / "w.npz", "--network", net, "--direction", spec, "--outdir", tmp_path / "bad")
        errors = [line for line in res.output.splitlines() if line.startswith("Error:")]
        assert res.exit_code == 2 and len(errors) == 1 and why in errors[0] and "--direction" in errors[0], res.output
        assert "Traceback" not in res.output and not (tmp_path / "bad").exists()
    res = _sgt("edit", tmp_path / "w.npz", "--network", net, "--outdir", tmp_path / "bad")
    assert res.exit_code == 2 and "at least one --edit" in res.output


def test_sgt_demo_refuses_directions_for_another_generator_before_serving(G, files, tmp_path):
    net = tmp_path / "tiny"
    stylegan.save_pretrained(G, net)
    small = tmp_path / "small_w.npy"
    np.save(small, _unit(1, (1, 16)))
    threads = torch.get_num_threads()
    try:
        res = _sgt("demo", "--network", net, "--directions", small)
    finally:
        torch.set_num_threads(threads)  # `sgt demo` takes every core for itself
    assert res.exit_code == 1 and "--directions" in res.output and "w_dim 32" in res.output, res.output
    assert "Traceback" not in res.output
    assert edits.formats.registered(stylegan.fingerprint(G)) == {}


def test_reader_puts_cuda_tensors_on_the_cpu(files):
    """The restricted torch reader maps e4e's CUDA storages to the CPU: no GPU needed to read pose.pt."""
    pose = edits.formats.files.read(files.pose_pt)
    assert isinstance(pose, torch.Tensor) and pose.device.type == "cpu"
    assert torch.equal(pose, torch.from_numpy(files.pose))
    pca = edits.formats.files.read(files.pca_pt)
    assert sorted(pca) == ["comp", "mean", "std"] and pca["comp"].shape == (C, 1, W_DIM)
