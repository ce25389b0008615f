"""The oracle in the one model format: new saves are model folders, the first layout (the shipped
`oracle.safetensors` + `oracle.json` pair) still loads, and the default comes from the registry."""
import json

import pytest
import torch
from safetensors.torch import save_file

from sgtcore import modelio, registry
from sgtcore.errors import UnknownFormatError
from synthetic import oracle


def _small() -> oracle.Oracle:
    torch.manual_seed(0)
    return oracle.Oracle(width=4, input_size=32).eval()


def _same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.allclose(sa[k].float(), sb[k].float(), atol=1e-3) for k in sa)


def test_saves_a_model_folder_in_float16(tmp_path):
    net = _small()
    out = net.save_pretrained(tmp_path / "oracle", {"steps": 3})
    cfg = json.loads((out / "config.json").read_text())
    assert (cfg["class_name"], cfg["kind"], cfg["dtype"]) == ("Oracle", "oracle", "float16")
    assert cfg["metadata"] == {"steps": 3}
    loaded = oracle.load(out)
    assert loaded.config == net.config and _same(net, loaded) and not loaded.training
    assert isinstance(modelio.load(out), oracle.Oracle)  # `import synthetic` registered the class


def test_first_layout_pair_still_loads(tmp_path):
    net = _small()
    path = tmp_path / "oracle.safetensors"
    save_file({k: v.half() if v.is_floating_point() else v for k, v in net.state_dict().items()}, str(path))
    path.with_suffix(".json").write_text(json.dumps({"class": "Oracle", "format_version": 2, **net.config}))
    assert _same(net, oracle.load(path))
    path.with_suffix(".json").write_text(json.dumps({"class": "Oracle", "format_version": 1, **net.config}))
    with pytest.raises(UnknownFormatError, match="retrain"):
        oracle.load(path)
    with pytest.raises(FileNotFoundError, match="oracle_train"):
        oracle.load(tmp_path / "none")


def test_default_is_the_registered_oracle():
    shipped = registry.find("oracle", "oracle")
    assert shipped.suffix == ".safetensors"  # shipped in the first layout
    recorded = json.loads(shipped.with_suffix(".json").read_text())
    assert oracle.load().config == {k: recorded[k] for k in ("width", "embed_dim", "n_identity", "input_size", "crop")}
