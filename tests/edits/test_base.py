"""The Edit protocol on a LinearEdit: semantics, function vs module, bad inputs, saving and loading."""
import pytest
import torch

import edits
import stylegan
from conftest import SMALL, make_tiny_G
from edits import EditModule, LinearEdit, apply_edit
from sgtcore.errors import ArchitectureMismatchError


def _edit(G=None, rows=(1, 2), sigma=0.5):
    torch.manual_seed(3)
    d = torch.randn(SMALL["w_dim"])
    num_ws = G.num_ws if G is not None else 8
    return LinearEdit(d / d.norm(), rows, sigma, name="test:0", method="test", num_ws=num_ws,
                      generator=None if G is None else stylegan.fingerprint(G))


def _ws(n=3, num_ws=8):
    return torch.randn(n, num_ws, SMALL["w_dim"])


def test_linear_edit_adds_strength_sigma_direction_on_its_rows():
    e, ws = _edit(), _ws()
    out = e.apply(ws, 2.0)
    expected = ws.clone()
    expected[:, [1, 2]] += 2.0 * 0.5 * e.direction
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)
    assert torch.equal(out[:, [0, 3, 4, 5, 6, 7]], ws[:, [0, 3, 4, 5, 6, 7]])
    assert e.unit == "σ" and e.attribute is None and out.shape == ws.shape


def test_strength_zero_is_exact_identity_and_input_untouched():
    e, ws = _edit(), _ws()
    before = ws.clone()
    assert torch.equal(e.apply(ws, 0.0), ws)
    assert torch.equal(e.apply(ws, torch.zeros(3)), ws)
    e.apply(ws, 3.0)
    assert torch.equal(ws, before)


def test_per_sample_strength_and_layers_restriction():
    e, ws = _edit(), _ws()
    s = torch.tensor([0.0, 1.0, -2.0])
    out = e.apply(ws, s)
    for i in range(3):  # batch cardinality: each row equals the single-sample call
        torch.testing.assert_close(out[i:i + 1], e.apply(ws[i:i + 1], float(s[i])))
    only5 = e.apply(ws, 1.0, layers=[5])
    changed = (only5 != ws).any(dim=(0, 2))
    assert changed.tolist() == [r == 5 for r in range(8)]
    assert torch.equal(e.apply(ws, 1.0, layers=5), only5)


def test_function_and_module_forms_agree_and_are_differentiable():
    e, ws = _edit(), _ws()
    s = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)
    ws = ws.requires_grad_(True)
    a = apply_edit(ws, e, s, layers=[0, 3])
    b = EditModule(e)(ws, s, layers=[0, 3])
    assert torch.equal(a, b)
    assert torch.equal(EditModule(e, layers=[0, 3])(ws, s), a)
    a.sum().backward()
    assert s.grad is not None and torch.isfinite(s.grad).all()


def test_gradcheck_float64():
    e = _edit()
    ws = _ws(2).double().requires_grad_(True)
    s = torch.tensor([0.3, -1.2], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda w, t: e.apply(w, t, layers=[0, 5]), (ws, s))


def test_numpy_and_torch_integer_rows_accepted():
    import numpy as np

    e, ws = _edit(), _ws()
    assert torch.equal(e.apply(ws, 1.0, layers=np.arange(2, 4)), e.apply(ws, 1.0, layers=[2, 3]))
    assert torch.equal(e.apply(ws, 1.0, layers=torch.tensor([2, 3])), e.apply(ws, 1.0, layers=[2, 3]))


def test_float64_latents_stay_float64():
    e = _edit()
    ws = _ws().double()
    out = e.apply(ws, 1.5)
    assert out.dtype == torch.float64
    torch.testing.assert_close(out[:, 1] - ws[:, 1], (1.5 * 0.5 * e.direction.double()).expand(3, -1))


@pytest.mark.parametrize("bad, match", [
    (lambda: torch.randn(3, SMALL["w_dim"]), r"\[N, num_ws, w_dim\] = \[N, 8, 32\].*unsqueeze"),
    (lambda: torch.randn(3, 7, SMALL["w_dim"]), r"\[N, num_ws, w_dim\] = \[N, 8, 32\], got \[3, 7, 32\]"),
    (lambda: torch.randn(3, 8, 16), r"\[N, num_ws, w_dim\]"),
    (lambda: torch.full((1, 8, SMALL["w_dim"]), float("nan")), "NaN or Inf"),
    (lambda: torch.zeros(1, 8, SMALL["w_dim"], dtype=torch.int64), "float tensor"),
])
def test_bad_ws_is_a_clear_error(bad, match):
    with pytest.raises(ValueError, match=match):
        _edit().apply(bad(), 1.0)


@pytest.mark.parametrize("strength, match", [
    (float("nan"), "finite"), (float("inf"), "finite"), (torch.tensor([1.0, float("nan"), 0.0]), "finite"),
    (torch.ones(2), r"\[N\] tensor with N = 3"), (torch.ones(3, 1), r"N = 3"), ("1", "number"), (True, "number"),
])
def test_bad_strength_is_a_clear_error(strength, match):
    with pytest.raises(ValueError, match=match):
        _edit().apply(_ws(), strength)


@pytest.mark.parametrize("layers", [[8], [-1], [0, 9], [], [1.5]])
def test_rows_out_of_range_are_refused(layers):
    with pytest.raises(ValueError, match=r"ws rows in 0\.\.7"):
        _edit().apply(_ws(), 1.0, layers=layers)
    with pytest.raises(ValueError, match="ws rows"):
        LinearEdit(torch.ones(4), layers, 1.0, name="x", method="x", num_ws=8)


def test_bad_direction_or_sigma_refused():
    with pytest.raises(ValueError, match="direction"):
        LinearEdit(torch.zeros(4), [0], 1.0, name="x", method="x", num_ws=2)
    with pytest.raises(ValueError, match="sigma"):
        LinearEdit(torch.ones(4), [0], float("nan"), name="x", method="x", num_ws=2)


def test_save_load_round_trip(tmp_path, tiny_G):
    e = _edit(tiny_G)
    e.metadata = {"network": "tiny"}
    e.save(tmp_path / "e")
    back = edits.load(tmp_path / "e", tiny_G)
    assert isinstance(back, LinearEdit)
    assert (back.name, back.method, back.unit, back.rows, back.sigma, back.generator, back.num_ws) == \
        (e.name, e.method, e.unit, e.rows, e.sigma, e.generator, e.num_ws)
    assert back.metadata == {"network": "tiny"}
    ws = tiny_G.mapping(torch.randn(2, SMALL["z_dim"]))
    assert torch.equal(back.apply(ws, 1.3), e.apply(ws, 1.3))
    assert edits.load(tmp_path / "e").name == "test:0"  # no G: no checks


def test_edit_for_another_generator_is_refused(tmp_path, tiny_G):
    _edit(tiny_G).save(tmp_path / "e", metadata={"network": "tiny-0"})
    other = make_tiny_G(1)
    with pytest.raises(ArchitectureMismatchError, match=r"made for generator [0-9a-f]{16} \(tiny-0\).*sgt directions"):
        edits.load(tmp_path / "e", other)


def test_edit_for_another_latent_shape_is_refused(tmp_path):
    e = LinearEdit(torch.ones(SMALL["w_dim"]), [0], 1.0, name="x:0", method="x", num_ws=5)  # no fingerprint
    e.save(tmp_path / "e")
    with pytest.raises(ArchitectureMismatchError, match=r"ws \[N, 5, 32\].*num_ws 8"):
        edits.load(tmp_path / "e", make_tiny_G(0))


def test_a_folder_that_is_not_an_edit_is_refused(tmp_path, tiny_G):
    stylegan.save_pretrained(tiny_G, tmp_path / "g")
    with pytest.raises(ArchitectureMismatchError, match="expected edit"):
        edits.load(tmp_path / "g", tiny_G)
