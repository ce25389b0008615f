"""The registry of trained artefacts (`sgtcore.registry`): the shipped ones found by kind and name,
user registrations, lookups by generator fingerprint, and errors that list what is known."""
import json

import pytest

from sgtcore import registry

SYNTHHEADS = "5184caac4bde2d83"  # stylegan.fingerprint(stylegan.load("synthheads"))


@pytest.fixture
def clean():
    """Undo this test's registrations and scans of patched roots."""
    before = dict(registry._USER)
    yield
    registry._USER.clear()
    registry._USER.update(before)
    registry.refresh()


def test_shipped_generator_encoder_and_oracle():
    gen = registry.find("generator", "synthheads")
    assert (gen / "config.json").is_file() and gen.parent.name == "weights" and gen.parent.parent.name == "stylegan"
    (enc,) = registry.entries("encoder", generator=SYNTHHEADS)
    assert enc.name == "synthheads_encoder" and enc.shipped and enc.metadata["network"] == "synthheads"
    oracle = registry.find("oracle", "oracle")  # the first layout: weights file + json beside it
    assert oracle.name == "oracle.safetensors" and oracle.with_suffix(".json").is_file()
    assert "synthheads" in registry.names("generator")
    shipped_edits = {e.name for e in registry.entries("edit", generator=SYNTHHEADS) if e.shipped}
    assert {f"synthheads_{m}_{k}" for m in ("sefa", "ganspace") for k in range(5)} <= shipped_edits
    assert all(e.kind == "encoder" for e in registry.entries("encoder"))


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(FileNotFoundError, match="no generator named 'ffhq'.*synthheads"):
        registry.find("generator", "ffhq")
    with pytest.raises(FileNotFoundError, match="no swap named 'lcr'; known swap names: .*synthheads_swap_ftm"):
        registry.find("swap", "lcr")
    with pytest.raises(FileNotFoundError, match="known pti_delta names: none"):
        registry.find("pti_delta", "mine")


def test_user_entries_win_and_record_their_generator(tmp_path, clean):
    folder = tmp_path / "enc"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({
        "format": "stylegan-toolkit", "format_version": 1, "class_name": "Encoder", "kind": "encoder",
        "config": {}, "generator": "aaaa", "metadata": {"network": "mine"}}))
    entry = registry.register("encoder", "mine", folder)
    assert (entry.generator, entry.metadata, entry.shipped) == ("aaaa", {"network": "mine"}, False)
    assert registry.find("encoder", "mine") == folder
    assert registry.entries("encoder", generator="aaaa") == [entry]
    assert registry.register("encoder", "other", folder, generator="bbbb").generator == "bbbb"
    assert [e.name for e in registry.entries("encoder")][:2] == ["other", "mine"]  # newest first, then shipped
    # a user entry replaces a shipped one of the same kind and name, also for generator lookups
    registry.register("encoder", "synthheads_encoder", folder)
    assert registry.find("encoder", "synthheads_encoder") == folder
    assert registry.entries("encoder", generator=SYNTHHEADS) == []
    registry.unregister("encoder", "synthheads_encoder")
    assert registry.find("encoder", "synthheads_encoder").parent.parent.name == "inversion"
    assert registry.register("generator", "ffhq", tmp_path / "ffhq.pkl").metadata == {}  # any file, even absent


def test_scan_reads_kinds_and_prefers_folders_to_legacy_pairs(tmp_path, monkeypatch, clean):
    root = tmp_path / "edits" / "weights"
    root.mkdir(parents=True)
    for name, kind in (("yaw", "edit"), ("lcr", "swap")):
        (root / name).mkdir()
        (root / name / "config.json").write_text(json.dumps({
            "format": "stylegan-toolkit", "class_name": "X", "kind": kind, "generator": SYNTHHEADS}))
    (root / "nokind").mkdir()
    (root / "nokind" / "config.json").write_text(json.dumps({"format": "stylegan-toolkit", "class_name": "X"}))
    (root / "broken").mkdir()
    (root / "broken" / "config.json").write_text("{oops")
    (root / "yaw.safetensors").write_bytes(b"")
    (root / "yaw.json").write_text(json.dumps({"kind": "edit", "old": True}))
    (root / "smile.safetensors").write_bytes(b"")
    (root / "smile.json").write_text(json.dumps({"kind": "edit", "generator": SYNTHHEADS}))
    monkeypatch.setattr(registry, "PACKAGES", tmp_path)
    monkeypatch.setattr(registry, "SHIPPED_ROOTS", {"edits/weights": None})
    with pytest.warns(UserWarning, match="broken"):
        found = {(e.kind, e.name): e for e in registry.shipped()}
    assert set(found) == {("edit", "yaw"), ("swap", "lcr"), ("edit", "smile")}  # no kind: skipped
    assert found[("edit", "yaw")].path == root / "yaw" and found[("edit", "smile")].path == root / "smile.safetensors"
    assert sorted(e.name for e in registry.entries("edit", generator=SYNTHHEADS)) == ["smile", "yaw"]
