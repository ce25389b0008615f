"""Encoders and PTI deltas in the one model format: the registered encoder found by fingerprint, and
the layouts written before it (the shipped encoder, one-file PTI deltas) still read."""
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import stylegan
from inversion.encoder import encoder_for, find_encoder, load_encoder, save_encoder
from inversion.pti import DeltaMismatchError, PTIDelta, apply_delta, load_delta, tunable_biases, tunable_weights
from sgtcore import modelio, registry
from conftest import make_tiny_G

SHIPPED = Path(__file__).resolve().parents[2] / "inversion" / "weights" / "synthheads_encoder"


def test_the_shipped_encoder_is_found_for_its_generator():
    assert json.loads((SHIPPED / "config.json").read_text())["kind"] == "encoder"
    G = stylegan.load("synthheads")
    enc = find_encoder(G)
    assert enc is not None and torch.equal(enc.w_avg, G.w_avg) and not enc.training
    assert enc.config.num_ws == G.num_ws
    assert find_encoder(make_tiny_G(0)) is None


def test_the_first_encoder_layout_is_still_read(tmp_path):
    """The layout the first shipped encoder had (until 2026-12-05): no format/kind keys, the generator's
    fingerprint inside `metadata`."""
    G = make_tiny_G(0)
    enc = encoder_for(G)
    out = save_encoder(enc, tmp_path / "enc", metadata={"network": "tiny"}, generator=G)
    cfg = json.loads((out / "config.json").read_text())
    legacy = {"class_name": "Encoder", "format_version": 1, "config": cfg["config"],
              "metadata": {**cfg["metadata"], "generator": cfg["generator"]}}
    (out / "config.json").write_text(json.dumps(legacy))
    back = load_encoder(out, G)
    assert all(torch.equal(a, b) for a, b in zip(enc.state_dict().values(), back.state_dict().values()))
    with pytest.raises(stylegan.ArchitectureMismatchError):
        load_encoder(out, make_tiny_G(1))


def test_a_registered_encoder_is_found_and_records_its_generator(tmp_path):
    G = make_tiny_G(0)
    out = save_encoder(encoder_for(G), tmp_path / "enc", metadata={"network": "tiny"}, generator=G)
    cfg = json.loads((out / "config.json").read_text())
    assert (cfg["format"], cfg["kind"], cfg["generator"]) == ("stylegan-toolkit", "encoder", stylegan.fingerprint(G))
    try:
        registry.register("encoder", "tiny", out)
        assert isinstance(find_encoder(G), torch.nn.Module)
        assert find_encoder(make_tiny_G(1)) is None
    finally:
        registry.unregister("encoder", "tiny")
    assert find_encoder(G) is None


def test_encoder_of_the_first_layout_and_the_mismatch_message(tmp_path):
    G = make_tiny_G(0)
    enc = encoder_for(G)
    out = tmp_path / "old"
    out.mkdir()
    save_file({k: v.contiguous() for k, v in enc.state_dict().items()}, str(out / "model.safetensors"))
    meta = {"network": "tiny.pkl", "generator": stylegan.fingerprint(G)}
    (out / "config.json").write_text(json.dumps({"class_name": "Encoder", "format_version": 1,
                                                 "config": vars(enc.config), "metadata": meta}))
    loaded = load_encoder(out, G=G)
    img = G(torch.randn(1, 32))
    assert torch.allclose(loaded(img), enc.eval()(img), atol=1e-6)
    other = make_tiny_G(5)
    with pytest.raises(stylegan.ArchitectureMismatchError) as err:
        load_encoder(out, G=other)
    msg = str(err.value)
    assert f"made for generator {meta['generator']} (tiny.pkl)" in msg and stylegan.fingerprint(other) in msg
    assert "sgt train-encoder" in msg
    with pytest.raises(stylegan.ArchitectureMismatchError, match="holds a Generator"):
        load_encoder(stylegan.save_pretrained(G, tmp_path / "g"))


def _delta(G: torch.nn.Module) -> PTIDelta:
    gen = torch.Generator().manual_seed(0)
    factors = {n: (torch.randn(w.shape[0], 2, generator=gen) * 0.1, torch.randn(2, w[0].numel(), generator=gen) * 0.1)
               for n, w in tunable_weights(G).items()}
    biases = {n: torch.randn(b.shape, generator=gen) * 0.1 for n, b in tunable_biases(G).items()}
    pivot = G.mapping(torch.randn(1, G.z_dim, generator=gen))
    return PTIDelta(factors, biases, pivot, {}, stylegan.fingerprint(G), {"loss_name": "l2"})


def _image(G, ws):
    with torch.no_grad():
        return G.synthesis(ws, noise_mode="const")


def test_pti_delta_round_trip_in_the_one_format(tmp_path):
    G = make_tiny_G(0)
    delta = _delta(G)
    out = delta.save(tmp_path / "delta")
    assert json.loads((out / "config.json").read_text())["kind"] == "pti_delta"
    loaded = load_delta(out)
    assert loaded.base == delta.base and loaded.history["loss_name"] == "l2"
    assert torch.equal(_image(apply_delta(G, out), delta.pivot), _image(apply_delta(G, delta), delta.pivot))
    with pytest.raises(DeltaMismatchError, match="same --network") as err:
        apply_delta(make_tiny_G(1), out)
    assert isinstance(err.value, stylegan.ArchitectureMismatchError)


def test_pti_delta_of_the_first_layout_still_loads(tmp_path):
    G = make_tiny_G(0)
    delta = _delta(G)
    tensors = {"pivot": delta.pivot}
    for n, (a, b) in delta.factors.items():
        tensors[f"A/{n}"], tensors[f"B/{n}"] = a, b
    tensors.update({f"bias/{n}": d for n, d in delta.biases.items()})
    path = tmp_path / "pti_delta.safetensors"
    header = {"format": "sgt-pti-delta", "version": "1", "base": delta.base, "loss_name": "l2"}
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path), metadata=header)
    assert torch.equal(_image(apply_delta(G, path), delta.pivot), _image(apply_delta(G, delta), delta.pivot))
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path), metadata={**header, "version": "2"})
    with pytest.raises(stylegan.UnknownFormatError, match="newer"):
        load_delta(path)
    path.write_bytes(b"not safetensors")
    with pytest.raises(stylegan.CorruptCheckpointError):
        load_delta(path)
    with pytest.raises(stylegan.ArchitectureMismatchError, match="expected PTIDelta"):
        load_delta(modelio.save(modelio.Bundle("LinearDirection", "edit", {"d": torch.zeros(2)}), tmp_path / "e"))
