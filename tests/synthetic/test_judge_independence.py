"""The identity judge is never a training signal: no trainer's imports reach `synthetic.judge`.

A static walk over the source (every `import` and `from ... import`, also those inside functions,
and the lazy attribute maps of package `__init__`s) from every module that trains something or
builds training data. Static, so an import that only runs in a rarely taken branch counts too.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("sgtcore", "synthetic", "stylegan", "inversion", "edits", "demos")
JUDGE = "synthetic.judge"


def _file_of(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return base.with_suffix(".py") if base.with_suffix(".py").is_file() else None


def _imports(module: str) -> set[str]:
    """Project modules `module` may import (parents of a dotted module included: importing a.b runs a)."""
    path = _file_of(module)
    if path is None:
        return set()
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{a.name}" for a in node.names)  # `from pkg import submodule`
        elif isinstance(node, ast.Assign) and path.name == "__init__.py" and isinstance(node.value, ast.Dict) \
                and any(isinstance(t, ast.Name) and t.id == "_LAZY" for t in node.targets):
            # lazy attributes: importlib.import_module(f".{_LAZY[name]}", __name__)
            found.update(f"{package}.{v.value}" for v in node.value.values if isinstance(v, ast.Constant))
    out = set()
    for name in found:
        parts = name.split(".")
        if parts[0] in PACKAGES:
            out.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return {m for m in out if _file_of(m) is not None}


def reaches(start: str, target: str = JUDGE) -> list[str] | None:
    """An import chain from `start` to `target`, or None."""
    parent: dict[str, str | None] = {start: None}
    todo = [start]
    while todo:
        m = todo.pop()
        if m == target:
            chain = [m]
            while parent[chain[-1]] is not None:
                chain.append(parent[chain[-1]])
            return chain[::-1]
        for n in _imports(m):
            if n not in parent:
                parent[n] = m
                todo.append(n)
    return None


def trainer_modules() -> list[str]:
    """Every module that trains a network, fits a direction or builds training data (the judge's own trainer aside)."""
    mods = []
    for pkg in ("synthetic", "stylegan", "inversion", "edits"):
        for f in sorted((ROOT / pkg).rglob("*.py")):
            rel = f.relative_to(ROOT).with_suffix("")
            name = ".".join(rel.parts)
            if name == "synthetic.judge_train":
                continue
            if "train" in f.stem or f.stem == "data" or rel.parts[:2] in (("stylegan", "train"), ("edits", "directions")) \
                    or f.stem in ("calibration", "oracle_data"):
                mods.append(name.removesuffix(".__init__"))
    return mods


def test_the_walk_finds_trainers_and_a_planted_import(tmp_path, monkeypatch):
    mods = trainer_modules()
    for expected in ("stylegan.train.loop", "inversion.encoder_train", "edits.delta.train", "edits.swap.train",
                     "edits.swap.data", "edits.delta.data", "synthetic.oracle_train", "edits.directions.interfacegan"):
        assert expected in mods
    # the judge's own trainer reaches it (the walk can see an import)
    assert reaches("synthetic.judge_train") is not None
    # a lazy import inside a function, two modules away, is found too
    pkg = tmp_path / "edits_planted"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "helper.py").write_text("def f():\n    from synthetic import judge\n    return judge\n")
    (pkg / "trainer.py").write_text("from .helper import f\n")
    me = sys.modules[__name__]
    monkeypatch.setattr(me, "ROOT", tmp_path)
    monkeypatch.setattr(me, "PACKAGES", PACKAGES + ("edits_planted",))
    (tmp_path / "synthetic").mkdir()
    (tmp_path / "synthetic" / "__init__.py").write_text("")
    (tmp_path / "synthetic" / "judge.py").write_text("")
    assert reaches("edits_planted.trainer") == ["edits_planted.trainer", "edits_planted.helper", JUDGE]
    (pkg / "helper.py").write_text("def f():\n    from synthetic import oracle\n    return oracle\n")
    assert reaches("edits_planted.trainer") is None


@pytest.mark.parametrize("module", trainer_modules())
def test_no_trainer_reaches_the_judge(module):
    chain = reaches(module)
    assert chain is None, f"{module} reaches the identity judge: {' -> '.join(chain)}"
