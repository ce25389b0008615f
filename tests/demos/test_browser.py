"""One end-to-end pass through the real page in headless Debian Chromium (driven by pip `playwright`,
which downloads no browser): a corrupt latent is refused with a readable toast, generate, upload a photo and
invert it, edit the inverted latent with a slider, swap two faces (lcr, the trained ftm, then inject onto a photo; a missing input shows as a toast),
render a head; every output image must change.
Screenshots of each tab go to docs/ for the README."""
import os
from pathlib import Path

import pytest

from demo_setup import examples, model, serving  # noqa: F401 (fixtures)
from demos import edit_handlers, handlers

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
TIMEOUT_MS = 60_000

# CI must run this test: there a missing browser is a failure, not a skip.
pytestmark = pytest.mark.skipif(not CHROMIUM.exists() and not os.environ.get("CI"),
                                reason=f"{CHROMIUM} missing: install Debian's chromium (scripts/setup.sh does)")


def _new_src(page, selector: str, old: str | None = None) -> str:
    """Wait until the image in `selector` shows something other than `old`; return its src."""
    img = page.locator(f"{selector} img")
    img.first.wait_for(timeout=TIMEOUT_MS)
    page.wait_for_function("([sel, old]) => { const i = document.querySelector(sel + ' img');"
                           " return i && i.complete && i.naturalWidth > 0 && i.src !== old; }",
                           arg=[selector, old], timeout=TIMEOUT_MS)
    return img.first.get_attribute("src")


def _shot(page, path: Path) -> None:
    """A full-page screenshot, pointer parked and animations off so reruns give the same picture."""
    page.mouse.move(0, 0)
    page.screenshot(path=str(path), full_page=True, animations="disabled")


def _tab(page, name: str) -> None:
    # inactive tabs are not in the DOM: open the tab before touching its controls
    page.get_by_role("tab", name=name).click()


@pytest.fixture(scope="module")
def server(model, examples):
    with serving(model, examples, invert_steps=None) as s:  # the real settings: the screenshots show them
        yield s


def test_generate_invert_edit_swap_render_in_a_real_browser(server, examples, model, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    docs = ROOT / "docs"
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"PK\x03\x04 not a zip")
    first_slider = edit_handlers.edit_sliders(model)[0]  # in the group that starts open
    slider = "#edit-" + first_slider.name.replace(":", "-")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(server.url, wait_until="domcontentloaded")
            page.locator("#generate-btn").wait_for(timeout=TIMEOUT_MS)  # a real control, not networkidle
            first_paint = _new_src(page, "#gen-image")  # a face before any click: it comes with the page

            _tab(page, "Edit")  # a corrupt latent: a readable toast, and the app goes on serving
            page.locator("#edit-latent input[type=file]").set_input_files(str(broken))
            toast = page.locator('[data-testid="toast-body"]').first
            expect(toast).to_contain_text("broken.npz: not a readable .npz latent file", timeout=TIMEOUT_MS)
            page.locator('[data-testid="toast-close"]').first.click()
            _tab(page, "Generate")

            page.locator("#gen-seed input").fill("5")
            page.locator("#generate-btn").click()
            first = _new_src(page, "#gen-image", first_paint)
            page.locator("#gen-seed input").fill("2")  # the one in the README's screenshot
            page.locator("#generate-btn").click()
            _new_src(page, "#gen-image", first)
            page.locator("#gen-latent a").first.wait_for(timeout=TIMEOUT_MS)  # the .npz is offered
            _shot(page, docs / "demo_generate.png")

            _tab(page, "Invert")
            page.locator("#inv-photo input[type=file]").set_input_files(str(examples[-1]))  # the astronaut
            expect(page.locator("#inv-photo")).to_contain_text(examples[-1].stem, timeout=TIMEOUT_MS)  # uploaded
            page.locator("#invert-btn").click()
            _new_src(page, "#inv-recon")
            _new_src(page, "#inv-aligned")
            _new_src(page, "#inv-pasted")
            assert "FFHQ checkpoint" in page.locator("#inv-note").inner_text()
            _shot(page, docs / "demo_invert.png")

            _tab(page, "Edit")  # the inverted latent and its photo arrive here by themselves
            expect(page.locator("#edit-latent")).to_contain_text(".npz", timeout=TIMEOUT_MS)
            unedited = _new_src(page, "#edit-after")
            _new_src(page, "#edit-before")
            pasted = _new_src(page, "#edit-pasted")
            page.locator(f"{slider} input[type=range]").fill(f"{first_slider.maximum * 0.8:.2f}")
            _new_src(page, "#edit-after", unedited)
            _new_src(page, "#edit-pasted", pasted)
            expect(page.locator("#edit-info")).to_contain_text(first_slider.name, timeout=TIMEOUT_MS)
            _shot(page, docs / "demo_edit.png")
            page.locator("#edit-reset").click()
            expect(page.locator("#edit-info")).to_contain_text("no edit", timeout=TIMEOUT_MS)
            _tab(page, "Invert")
            page.get_by_text(examples[0].name).first.click()  # an example fills the photo input
            expect(page.locator("#inv-photo")).to_contain_text(examples[0].stem, timeout=TIMEOUT_MS)

            _tab(page, "Swap")  # two latents (instant) with lcr and ftm, a readable refusal, then inject onto a photo
            latents = [handlers.generate(model, None, seed).latent_path for seed in (2, 8)]
            page.locator("#swap-identity input[type=file]").set_input_files(str(latents[0]))
            page.locator("#swap-attribute input[type=file]").set_input_files(str(latents[1]))
            expect(page.locator("#swap-attribute")).to_contain_text(latents[1].stem, timeout=TIMEOUT_MS)  # shown as "seed0008 .npz"
            page.locator("#swap-btn").click()
            swapped = _new_src(page, "#swap-result")
            expect(page.locator("#swap-info")).to_contain_text("Nothing to paste back", timeout=TIMEOUT_MS)
            page.locator("#swap-method label", has_text="ftm").click()  # the shipped trained network
            page.locator("#swap-btn").click()
            expect(page.locator("#swap-info")).to_contain_text("FTM swap", timeout=TIMEOUT_MS)
            swapped = _new_src(page, "#swap-result", swapped)
            page.locator("#swap-method label", has_text="inject").click()
            page.locator("#swap-attribute").get_by_role("button", name="Clear").click()  # the input comes back
            page.locator("#swap-btn").click()  # no attribute: a readable refusal
            toast = page.locator('[data-testid="toast-body"]').first
            expect(toast).to_contain_text("no attribute: upload a photo or a latent", timeout=TIMEOUT_MS)
            page.locator('[data-testid="toast-close"]').first.click()
            page.locator("#swap-attribute input[type=file]").set_input_files(str(examples[1]))  # a photo
            expect(page.locator("#swap-attribute")).to_contain_text(examples[1].stem, timeout=TIMEOUT_MS)
            page.locator("#swap-btn").click()
            _new_src(page, "#swap-result", swapped)
            _new_src(page, "#swap-pasted")
            _new_src(page, "#swap-attribute-aligned")
            _shot(page, docs / "demo_swap.png")

            _tab(page, "Render")
            page.locator("#render-btn").click()
            neutral = _new_src(page, "#render-image")
            page.locator("#render-smile input[type=number]").fill("1")
            page.locator("#render-btn").click()
            _new_src(page, "#render-image", neutral)
            _new_src(page, "#render-overlay")
            page.locator("#pair-btn").click()
            _new_src(page, "#pair-b")
            _shot(page, docs / "demo_render.png")
        finally:
            browser.close()
