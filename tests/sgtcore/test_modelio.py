"""The one model format (`sgtcore.modelio`): round trips of modules and data (float32 and float16),
atomic writes, and the error every damaged, foreign or mismatched folder raises."""
import json
from pathlib import Path

import pytest
import safetensors.torch
import torch
from torch import nn

from sgtcore import modelio
from sgtcore.errors import ArchitectureMismatchError, CorruptCheckpointError, UnknownFormatError


class Toy(nn.Module):
    """A registered module with a float32-only buffer, an integer buffer and a constant."""

    def __init__(self, width: int = 4, scale: float = 1.0):
        super().__init__()
        self.config = {"width": width, "scale": scale}
        self.lin = nn.Linear(width, width)
        self.register_buffer("w_avg", torch.randn(width) + 1 / 3)  # 1/3: not exact in float16
        self.register_buffer("steps", torch.tensor(7))
        self.register_buffer("resample_filter", torch.ones(2))


# registered by "module:attr", as packages do to stay light at import
modelio.register_class("Toy", "toy", f"{__name__}:Toy", fp32=("w_avg",), constants=("resample_filter",),
                       remake="retrain the toy for it")
FP = "0123456789abcdef"


def _toy(seed: int = 0) -> Toy:
    torch.manual_seed(seed)
    return Toy(width=4, scale=0.5)


def _assert_same(a: nn.Module, b: nn.Module, atol: float = 0.0) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert sa[k].dtype == sb[k].dtype and torch.allclose(sa[k].float(), sb[k].float(), atol=atol), k


def test_module_round_trip_writes_the_one_layout(tmp_path):
    toy = _toy()
    out = modelio.save(toy, tmp_path / "toy", metadata={"command": "train toy", "network": "g1"}, generator=FP)
    cfg = json.loads((out / "config.json").read_text())
    assert {k: cfg[k] for k in ("format", "format_version", "class_name", "kind", "config", "generator")} == {
        "format": "stylegan-toolkit", "format_version": 1, "class_name": "Toy", "kind": "toy",
        "config": {"width": 4, "scale": 0.5}, "generator": FP}
    assert cfg["metadata"] == {"command": "train toy", "network": "g1"}
    stored = safetensors.torch.load_file(str(out / "model.safetensors"))
    assert "resample_filter" not in stored and stored["steps"].dtype == torch.int64
    loaded = modelio.load(out, expect="Toy", generator=FP)
    assert isinstance(loaded, Toy) and not loaded.training
    assert not any(p.requires_grad for p in loaded.parameters())
    _assert_same(toy, loaded)
    assert modelio.load(out, expect="toy").config == toy.config  # a kind is accepted as `expect` too
    assert modelio.read_config(out)["metadata"]["command"] == "train toy"


def test_half_storage_rounds_weights_but_keeps_fp32_keys(tmp_path):
    toy = _toy()
    modelio.save(toy, tmp_path / "full")
    modelio.save(toy, tmp_path / "half", half=True)
    stored = safetensors.torch.load_file(str(tmp_path / "half" / "model.safetensors"))
    assert stored["lin.weight"].dtype == torch.float16 and stored["w_avg"].dtype == torch.float32
    assert stored["steps"].dtype == torch.int64
    sizes = [(tmp_path / d / "model.safetensors").stat().st_size for d in ("full", "half")]
    assert sizes[1] < sizes[0]
    loaded = modelio.load(tmp_path / "half")
    assert loaded.lin.weight.dtype == torch.float32
    assert torch.equal(loaded.w_avg, toy.w_avg)  # exact: kept in float32
    assert not torch.equal(loaded.lin.weight, toy.lin.weight)
    _assert_same(toy, loaded, atol=1e-3)


@pytest.mark.parametrize("half", [False, True])
def test_data_bundle_round_trip(tmp_path, half):
    tensors = {"direction": torch.randn(10, 32), "layers": torch.arange(10), "scale/yaw": torch.tensor(3.5)}
    bundle = modelio.Bundle("LinearDirection", "edit", tensors, {"method": "sefa", "units": "degrees"},
                            generator=FP, metadata={"note": "made in a test"})
    modelio.save(bundle, tmp_path / "yaw", half=half)
    got = modelio.load(tmp_path / "yaw", expect="edit", generator=FP)
    assert isinstance(got, modelio.Bundle)
    assert (got.class_name, got.kind, got.config, got.generator, got.metadata) == (
        "LinearDirection", "edit", bundle.config, FP, bundle.metadata)
    assert got.tensors.keys() == tensors.keys() and torch.equal(got.tensors["layers"], tensors["layers"])
    tol = 2e-3 if half else 0.0
    assert torch.allclose(got.tensors["direction"].float(), tensors["direction"], atol=tol * 4)
    assert got.tensors["direction"].dtype == (torch.float16 if half else torch.float32)


def test_a_failing_writer_leaves_nothing_and_keeps_the_old_folder(tmp_path, monkeypatch):
    old = _toy(0)
    modelio.save(old, tmp_path / "m")

    def half_written(tensors, filename, metadata=None):
        Path(filename).write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.torch, "save_file", half_written)
    with pytest.raises(OSError, match="disk full"):
        modelio.save(_toy(1), tmp_path / "m")
    with pytest.raises(OSError, match="disk full"):
        modelio.save(_toy(1), tmp_path / "new")
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]  # no temporary folder, no "new"
    _assert_same(old, modelio.load(tmp_path / "m"))
    with pytest.raises(TypeError):  # not JSON-able: refused before anything is written
        modelio.save(_toy(1), tmp_path / "m", metadata={"bad": object()})
    _assert_same(old, modelio.load(tmp_path / "m"))


def test_replacing_a_model_keeps_the_other_files_of_its_folder(tmp_path):
    out = modelio.save(_toy(0), tmp_path / "m")
    (out / "discriminator").mkdir()
    (out / "discriminator" / "config.json").write_text("{}")
    with open(out / "log.jsonl", "a") as log:
        log.write("step 1\n")
        log.flush()
        modelio.save(_toy(1), out)
        log.write("step 2\n")  # an open log keeps writing into the file that is still visible
    assert (out / "log.jsonl").read_text() == "step 1\nstep 2\n"
    assert (out / "discriminator" / "config.json").read_text() == "{}"
    _assert_same(_toy(1), modelio.load(out))


def test_refuses_unregistered_modules():
    with pytest.raises(TypeError, match="register"):
        modelio.save(nn.Linear(2, 2), "unused")


def _saved(tmp_path, **kw):
    return modelio.save(_toy(), tmp_path / "m", **kw)


def test_damaged_files_are_corrupt(tmp_path):
    out = _saved(tmp_path)
    weights = out / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:200])
    with pytest.raises(CorruptCheckpointError, match="model.safetensors"):
        modelio.load(out)
    weights.unlink()
    with pytest.raises(CorruptCheckpointError, match="missing"):
        modelio.load(out)
    (out / "config.json").write_text("{not json")
    with pytest.raises(CorruptCheckpointError, match="config.json"):
        modelio.load(out)
    out = _saved(tmp_path)
    cfg = json.loads((out / "config.json").read_text())
    (out / "config.json").write_text(json.dumps({**cfg, "config": {"width": 4, "depth": 3}}))
    with pytest.raises(CorruptCheckpointError, match="invalid config for Toy"):
        modelio.load(out)
    (out / "config.json").write_text(json.dumps({**cfg, "config": {"width": 5}}))
    with pytest.raises(ArchitectureMismatchError, match="wrong shapes"):
        modelio.load(out)


def test_foreign_newer_and_unknown_are_unknown_formats(tmp_path):
    out = _saved(tmp_path)
    cfg = json.loads((out / "config.json").read_text())
    (out / "config.json").write_text(json.dumps({**cfg, "format_version": 99}))
    with pytest.raises(UnknownFormatError, match="newer.*upgrade"):
        modelio.load(out)
    (out / "config.json").write_text(json.dumps({**cfg, "format": "diffusers"}))
    with pytest.raises(UnknownFormatError, match="not a stylegan-toolkit"):
        modelio.load(out)
    (out / "config.json").write_text(json.dumps({**cfg, "class_name": "Mystery"}))
    with pytest.raises(UnknownFormatError, match="'Mystery'.*import the package"):
        modelio.load(out)
    with pytest.raises(UnknownFormatError, match="not a model folder"):
        modelio.load(out / "model.safetensors")
    with pytest.raises(FileNotFoundError, match="no config.json"):
        modelio.load(tmp_path / "nowhere")


def test_another_class_or_generator_is_a_mismatch_that_says_which(tmp_path):
    out = _saved(tmp_path, generator=FP, metadata={"network": "synthheads"})
    with pytest.raises(ArchitectureMismatchError, match="holds a Toy \\(toy\\); expected Encoder"):
        modelio.load(out, expect="Encoder")
    with pytest.raises(ArchitectureMismatchError) as err:
        modelio.load(out, generator="fedcba9876543210")
    msg = str(err.value)
    assert FP in msg and "(synthheads)" in msg and "fedcba9876543210" in msg
    assert "stylegan.load('synthheads')" in msg and "retrain the toy for it" in msg

    class WithFingerprint:  # G itself may be given: anything with .fingerprint()
        def fingerprint(self):
            return FP

    assert isinstance(modelio.load(out, generator=WithFingerprint()), Toy)
    unrecorded = modelio.save(_toy(), tmp_path / "free")
    assert isinstance(modelio.load(unrecorded, generator="fedcba9876543210"), Toy)  # nothing to check against


def test_reads_the_layout_before_the_format_key(tmp_path):
    """The encoder's first layout: no `format`/`kind`, its generator inside `metadata`."""
    out = _saved(tmp_path)
    cfg = json.loads((out / "config.json").read_text())
    legacy = {"class_name": "Toy", "format_version": 1, "config": cfg["config"], "metadata": {"generator": FP}}
    (out / "config.json").write_text(json.dumps(legacy))
    read = modelio.read_config(out)
    assert (read["kind"], read["generator"]) == ("toy", FP)
    _assert_same(_toy(), modelio.load(out, expect="Toy", generator=FP))
    with pytest.raises(ArchitectureMismatchError, match=f"made for generator {FP}"):
        modelio.load(out, generator="fedcba9876543210")
