"""The README's and the manual's Python examples run as written: every ```python block of README.md,
then of each page in `PAGES`, in order, as one session (later blocks use names earlier ones made), in a
temporary folder where `ffhq.pkl` is a tiny NVlabs snapshot and `photo.jpg` a real photo
(scikit-image's astronaut), the two files the pages ask the reader to bring."""
from __future__ import annotations

import re
from pathlib import Path

import PIL.Image
import pytest
import torch

from conftest import SMALL

ROOT = Path(__file__).resolve().parents[1]

# The README first, then the manual in the order its sections had in the README (demo, core, synthetic,
# inversion, edits, swap, training, development): a page's examples use names an earlier page made
# (`G`, `ws`, the render `r`, `registry`, `catalogue`, ...), so this order is part of the manual.
PAGES = ["README.md", "docs/demo.md", "docs/stylegan.md", "docs/synthetic.md", "docs/inversion.md",
         "docs/edits.md", "docs/swap.md", "docs/training.md", "docs/development.md"]

# Pages whose examples need files users download (e4e/ArcFace/MegaFS weights, FFHQ-sized checkpoints):
# they are only compiled here; their loaders are tested on tiny files in the original formats.
NOT_RUN = {"docs/formats_directions.md", "docs/formats_encoders.md", "docs/formats_megafs.md"}

_BLOCK = re.compile(r"^```python\n(.*?)^```", flags=re.S | re.M)
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def python_blocks(page: str) -> list[tuple[str, int, int, str]]:
    """`(page, block number within the page, line of the block's first code line, code)` per block."""
    text = (ROOT / page).read_text()
    return [(page, i + 1, text.count("\n", 0, m.start(1)) + 1, m.group(1))
            for i, m in enumerate(_BLOCK.finditer(text))]


def all_blocks() -> list[tuple[str, int, int, str]]:
    missing = [p for p in PAGES if not (ROOT / p).exists()]
    assert not missing, f"pages listed in tests/test_readme.py PAGES are missing: {missing}"
    return [b for page in PAGES for b in python_blocks(page)]


def _bring_files(folder: Path) -> None:
    from reference import nvlabs_ref, pickles
    from skimage import data

    import stylegan

    params = nvlabs_ref.init_params(**SMALL, seed=1)
    D = stylegan.Discriminator(img_resolution=32, channel_base=512, channel_max=32)
    kwargs = dict(z_dim=32, c_dim=0, w_dim=32, img_resolution=32, img_channels=3, mapping_kwargs=dict(num_layers=2),
                  channel_base=512, channel_max=32, num_fp16_res=0, conv_clamp=None)
    (folder / "ffhq.pkl").write_bytes(pickles.nvlabs_snapshot(
        params, kwargs, d_params=D.state_dict(), d_kwargs=dict(c_dim=0, img_resolution=32, img_channels=3)))
    PIL.Image.fromarray(data.astronaut()).save(folder / "photo.jpg", quality=95)


def test_readme_has_python_examples():
    blocks = all_blocks()
    assert len(blocks) >= 15, "the README's and the manual's API examples are what this test runs"
    assert any(page == "README.md" for page, *_ in blocks), "the README's own Python tour is gone"


def test_every_page_with_python_examples_is_run():
    """A new docs page's examples must be put in PAGES (at the place its names need) or in NOT_RUN."""
    pages = ["README.md"] + sorted(f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md"))
    unlisted = [p for p in pages if python_blocks(p) and p not in PAGES and p not in NOT_RUN]
    assert not unlisted, f"python examples in {unlisted} are not run: add the page to PAGES in tests/test_readme.py"
    for page in sorted(NOT_RUN):  # not run, but at least valid Python
        for _, i, line, code in python_blocks(page):
            compile(code, f"{page} (block {i}, line {line})", "exec")


def test_readme_starts_with_the_two_commands():
    text = (ROOT / "README.md").read_text()
    first_block = re.search(r"```bash\n(.*?)```", text, flags=re.S)
    assert first_block and text.index("```bash") < text.index("\n## "), "README must open with its commands"
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines()]
    assert commands == ["make demo", "make test"]


def test_manual_links_resolve():
    """Relative links and pictures in the README and docs/*.md point at files that exist."""
    broken = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in _LINK.findall(page.read_text()):
            path = target.split("#")[0]
            if not path or re.match(r"[a-z]+:", path):  # in-page anchors, http(s)://, mailto:
                continue
            if not (page.parent / path).exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert not broken, f"broken links: {broken}"


def test_readme_python_examples_run_as_written(tmp_path, monkeypatch):
    blocks = all_blocks()
    _bring_files(tmp_path)
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    session: dict = {"__name__": "readme"}
    for page, i, line, code in blocks:
        try:
            exec(compile(code, f"{page} (block {i}, line {line})", "exec"), session)
        except Exception as exc:  # name the block: the traceback's file name says where in which page
            pytest.fail(f"{page} python block {i} (line {line}) failed: {type(exc).__name__}: {exc}")
