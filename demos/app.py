"""The Gradio app: layout and wiring only. Every action is one function of `demos.handlers`; the
functions here just unpack its result for the widgets and turn the library's input errors into
`gr.Error` (a toast in the page, `AppError` in `gradio_client`).

Endpoints (plain inputs, callable with `gradio_client`): `/generate`, `/invert`, `/edit`, `/swap`,
`/render`, `/render_pair`. Every input but `/invert`'s photo, `/edit`'s latent and `/swap`'s two files has a
default, so a client may pass only those (`client.predict(seed=42, api_name="/generate")`).

`/edit(network, latent, strengths, photo)`: a latent `.npz` file (`handle_file(path)`), the strengths as
JSON text `'{"sefa:0": 1.5, "dge:yaw": 15}'` (edit names of `edits.available(G)`, or a bare attribute
like "yaw" as `sgt edit` takes it; values in each edit's unit and range; edits left out stay 0), and the photo the latent was inverted from or None; returns the
images before and after, the photo with the edited face pasted back (None without photo or alignment)
and a line naming the edits.

`/swap(network, identity, attribute, method, paste)`: two image or latent `.npz` files (`handle_file`),
method "lcr", "ftm" or "blend" (trained; a network without trained swap weights says so) and whether to paste back; returns
both sides as aligned, the swap, the swap pasted into the attribute photo (None for a latent or an
already aligned attribute) and a line saying which layers came from which side.
"""
from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before gradio is imported: no version check, no telemetry

import gradio as gr  # noqa: E402

from . import edit_handlers, handlers, swap_handlers  # noqa: E402
from .models import DemoModel  # noqa: E402

#: All torch work shares one queue slot: on a small CPU two passes at once only slow each other down.
TORCH = "torch"
#: Renders run in the renderer's helper process, beside torch work.
RENDER = "render"
QUEUE_SIZE = 32           # waiting requests beyond this get HTTP 503
#: Sessions whose per-session copy of the UI config Gradio keeps (LRU; its default is 10000). Every raw
#: `/gradio_api/call/...` request and every new browser tab is a new session, and this app's copy costs
#: about 0.26 MB (measured), so the default let a server grow by ~2.6 GB; 64 caps it near 17 MB.
#: An evicted session only loses the sliders' ranges set by a network switch (defaults come back).
SESSIONS = 64
MAX_FILE_SIZE = "10mb"    # larger uploads get HTTP 413 before any handler runs
# png: WebP (the default) is lossy; the class scales small images (64 px) up to the box
IMAGE = dict(type="numpy", format="png", interactive=False, height=256, elem_classes="sgt-image")
SWAP_METHODS_INFO = ("lcr: layer-wise code replacement, needs no training; ftm: trained code mixing; blend: also "
                     "keeps the attribute's background; inject: the identity's embedding modulates the attribute's "
                     "code (only the methods trained for this network are listed)")
CSS = ".sgt-note {font-size: 0.9em} .sgt-image img {width: 100%; height: 100%; object-fit: contain}"


@contextlib.contextmanager
def shown_errors(*paths: object) -> Iterator[None]:
    """Re-raise the library's input errors as `gr.Error`, with upload paths shortened to file names."""
    import stylegan
    import synthetic

    try:
        yield
    except (ValueError, OSError, stylegan.CheckpointError, synthetic.RendererUnavailable) as exc:
        message = str(exc)
        for p in paths:
            if isinstance(p, (str, Path)) and str(p):
                message = message.replace(str(p), Path(p).name)
        raise gr.Error(message, print_exception=False) from exc


def build(model: DemoModel, examples: Sequence[str | Path] = (), invert_steps: int | None = None,
          queue_size: int = QUEUE_SIZE, run: Callable[..., Any] | None = None) -> gr.Blocks:
    """The demo's `gr.Blocks` (queue configured) for `model`'s networks.

    Args:
        examples: image files offered in the Invert and Swap tabs.
        invert_steps: projection steps of Invert and of Swap's photo inputs (None: `inversion.project`'s
            default; tests pass a few).
        queue_size: requests that may wait (all endpoints together, besides the ones running); a request
            arriving when that many wait is answered at once with HTTP 503 "Queue is full"
            (`gradio_client`: QueueError "Queue is full! Please try again."), so a burst never hangs the
            server or makes it grow without bound.
        run: how the torch handlers' work is run, `run(fn, *args, **kwargs)`: `sgt demo` passes
            `MainThreadRunner.call` (torch is ~2x faster on the main thread, see `demos.mainthread`);
            None: inline, on Gradio's worker thread.
    """
    import synthetic
    from edits import swap as swap_lib

    G = model.get().G
    # the first paint shows a face (seed 0 at the Generate controls' defaults), not an empty box: rendered once
    # here and sent with the page config, so a page load costs no request and queues nothing
    first = handlers.generate(model, None, 0, 0.7, "const")

    def on_torch(fn: Callable[..., Any]) -> Callable[..., Any]:
        """`fn` run through `run`; `functools.wraps` keeps the signature Gradio reads (gr.Progress included)."""
        if run is None:
            return fn

        @functools.wraps(fn)
        def job(*args: Any, **kwargs: Any) -> Any:
            return run(fn, *args, **kwargs)
        return job
    with gr.Blocks(title="stylegan-toolkit demo", analytics_enabled=False) as demo:
        gr.Markdown("# stylegan-toolkit\nGenerate, invert, edit, swap and render faces on CPU. "
                    "Every action is also an API endpoint (see *Use via API* below).")
        with gr.Row():
            network = gr.Dropdown(model.names, value=model.default, label="Network", scale=1, elem_id="network",
                                  interactive=len(model.names) > 1)
            info = gr.Markdown(handlers.network_info(model), elem_classes="sgt-note")

        # ------------------------------------------------------------------------------ Generate
        with gr.Tab("Generate", id="generate", elem_id="tab-generate"):
            with gr.Row():
                with gr.Column():
                    seed = gr.Number(0, label="Seed", precision=0, minimum=0, maximum=handlers.MAX_SEED,
                                     elem_id="gen-seed")
                    psi = gr.Slider(0.0, 1.5, 0.7, step=0.05, label="Truncation ψ (1 = none)")
                    noise_mode = gr.Radio(list(handlers.NOISE_MODES), value="const", label="Noise mode")
                    with gr.Accordion("Style mixing", open=False):
                        mix_seed = gr.Number(None, label="Mixing seed (empty: no mixing)", precision=0, minimum=0,
                                             maximum=handlers.MAX_SEED)
                        mix_from = gr.Slider(0, G.num_ws, 0, step=1, label="From layer")
                        mix_to = gr.Slider(0, G.num_ws, 4, step=1, label="To layer (not included)")
                    latent_in = gr.File(label="Or start from a latent file (.npz, optional)", file_types=[".npz"],
                                        elem_id="gen-latent-in")
                    gen_btn = gr.Button("Generate", variant="primary", elem_id="generate-btn")
                with gr.Column():
                    gen_img = gr.Image(first.image, label="Image", elem_id="gen-image", **IMAGE)
                    gen_info = gr.Markdown(first.info, elem_classes="sgt-note")
                    gen_latent = gr.File(str(first.latent_path), label="Latent (.npz, key 'w')", elem_id="gen-latent")

        def png(image):
            # files written once, not arrays: see handlers.png_file (concurrent identical outputs)
            return None if image is None else handlers.png_file(image, model.root / "png")

        # a None default makes an input optional over the API (gradio_client may leave it out); the others
        # default to their widget's initial value
        @on_torch
        def generate(net, seed, psi, noise_mode, mix_seed=None, mix_from=0, mix_to=4, latent_file=None):
            with shown_errors(latent_file):
                r = handlers.generate(model, net, seed, psi, noise_mode, mix_seed, mix_from, mix_to, latent_file)
            return png(r.image), str(r.latent_path), r.info

        gr.on([gen_btn.click, seed.submit, psi.release, noise_mode.change], generate,
              [network, seed, psi, noise_mode, mix_seed, mix_from, mix_to, latent_in], [gen_img, gen_latent, gen_info],
              api_name="generate", concurrency_id=TORCH, show_progress="minimal")

        # -------------------------------------------------------------------------------- Invert
        with gr.Tab("Invert", id="invert", elem_id="tab-invert"):
            with gr.Row():
                with gr.Column():
                    photo = gr.File(label="Photo (JPEG, PNG, WebP; a face)", file_types=["image"],
                                    elem_id="inv-photo")
                    if examples:
                        gr.Examples([[str(p)] for p in examples], [photo], label="Examples: synthetic heads and a "
                                    "real photo (scikit-image's astronaut)")
                    paste = gr.Checkbox(True, label="Paste the result back into the photo")
                    inv_btn = gr.Button("Invert", variant="primary", elem_id="invert-btn")
                with gr.Column():
                    with gr.Row():
                        aligned = gr.Image(label="Aligned crop", elem_id="inv-aligned", **IMAGE)
                        recon = gr.Image(label="Reconstruction", elem_id="inv-recon", **IMAGE)
                    psnr = gr.Number(label="PSNR (dB)", precision=2, interactive=False)
                    inv_note = gr.Markdown(elem_classes="sgt-note", elem_id="inv-note")
                    inv_latent = gr.File(label="Latent (.npz, key 'w', with noise maps)", elem_id="inv-latent")
                    pasted = gr.Image(label="Pasted back", elem_id="inv-pasted", **IMAGE)

        @on_torch
        def invert(net, photo, paste, progress=gr.Progress(track_tqdm=True)):
            with shown_errors(photo):
                r = handlers.invert(model, net, photo, paste, steps=invert_steps)
            return png(r.aligned), png(r.reconstruction), r.psnr, str(r.latent_path), png(r.pasted), r.note

        inv_btn.click(invert, [network, photo, paste], [aligned, recon, psnr, inv_latent, pasted, inv_note],
                      api_name="invert", concurrency_id=TORCH)

        # ---------------------------------------------------------------------------------- Edit
        specs = edit_handlers.edit_sliders(model)
        with gr.Tab("Edit", id="edit", elem_id="tab-edit"):
            with gr.Row():
                with gr.Column():
                    edit_latent = gr.File(label="Latent (.npz): the last one generated or inverted, or upload one",
                                          file_types=[".npz"], elem_id="edit-latent")
                    edit_photo = gr.File(label="Photo it was inverted from (optional: paste-back; set by Invert)",
                                         file_types=["image"], elem_id="edit-photo")
                    edit_sliders = []
                    if not specs:
                        gr.Markdown("No edits are registered for this network: make some with "
                                    "`sgt directions --network ...`.", elem_classes="sgt-note")
                    for group in dict.fromkeys(s.group for s in specs):
                        with gr.Accordion(group, open=group == edit_handlers.CALIBRATED or not edit_sliders):
                            for s in specs:
                                if s.group == group:
                                    edit_sliders.append(gr.Slider(
                                        s.minimum, s.maximum, 0.0, step=s.step, label=s.label, info=s.info or None,
                                        elem_id="edit-" + s.name.replace(":", "-")))
                    reset_btn = gr.Button("Reset", elem_id="edit-reset")
                with gr.Column():
                    with gr.Row():
                        before = gr.Image(label="Before", elem_id="edit-before", **IMAGE)
                        after = gr.Image(label="After", elem_id="edit-after", **IMAGE)
                    edit_info = gr.Markdown(elem_classes="sgt-note", elem_id="edit-info")
                    edit_pasted = gr.Image(label="Pasted back into the photo", elem_id="edit-pasted", **IMAGE)
            # /edit's plain inputs: strengths as JSON text (the sliders' count depends on the network)
            strengths_json = gr.Textbox(label="Strengths (JSON)", visible=False)
            edit_api_btn = gr.Button(visible=False)
        names = [s.name for s in specs]

        def edit_files(r: edit_handlers.Edited) -> tuple:
            return png(r.before), png(r.after), png(r.pasted), r.info

        @on_torch
        def edit_ui(net, latent, photo, *values):
            if not latent:  # cleared: nothing to show, no error
                return None, None, None, ""
            with shown_errors(latent, photo):
                catalogue = model.edits(net)  # sliders of edits another network lacks are ignored
                strengths = {n: v for n, v in zip(names, values) if n in catalogue and v}
                r = edit_handlers.edit(model, net, latent, strengths, photo)
            return edit_files(r)

        # always_last: a drag fires many changes; one runs, the newest waits, the rest are dropped
        gr.on([s.change for s in edit_sliders] + [edit_latent.change, edit_photo.change], edit_ui,
              [network, edit_latent, edit_photo, *edit_sliders], [before, after, edit_pasted, edit_info],
              trigger_mode="always_last", concurrency_id=TORCH, show_progress="minimal", api_visibility="private")

        @on_torch
        def edit_api(net, latent, strengths=None, photo=None):  # strengths None: no edit (before = after)
            with shown_errors(latent, photo):
                r = edit_handlers.edit(model, net, latent, strengths, photo)
            return edit_files(r)

        edit_api_btn.click(edit_api, [network, edit_latent, strengths_json, edit_photo],
                           [before, after, edit_pasted, edit_info], api_name="edit", concurrency_id=TORCH,
                           api_description="Edit a latent: (network, latent .npz, strengths as JSON "
                                           "'{\"sefa:0\": 1.5}', optional photo for paste-back) -> before, "
                                           "after, pasted-back photo or None, info.")

        def reset(net):
            zeros = edit_handlers.reset_strengths(model, net)
            return [zeros.get(n, 0.0) for n in names]

        reset_btn.click(reset, network, edit_sliders, queue=False, api_visibility="private")
        # the latest latent goes to the Edit tab (as a file: gr.State would not be part of the API)
        gen_latent.change(lambda f: (f, None), gen_latent, [edit_latent, edit_photo], queue=False,
                          api_visibility="private")
        inv_latent.change(lambda f, p: (f, p), [inv_latent, photo], [edit_latent, edit_photo], queue=False,
                          api_visibility="private")
        # ---------------------------------------------------------------------------------- Swap
        with gr.Tab("Swap", id="swap", elem_id="tab-swap"):
            with gr.Row():
                with gr.Column():
                    with gr.Row():
                        swap_id = gr.File(label="Identity: who (photo, or a latent .npz)",
                                          file_types=["image", ".npz"], elem_id="swap-identity")
                        swap_att = gr.File(label="Attribute: pose, expression, lighting (photo or .npz)",
                                           file_types=["image", ".npz"], elem_id="swap-attribute")
                    if len(examples) > 1:
                        pairs = [(examples[i], examples[(i + 1) % len(examples)]) for i in range(len(examples))]
                        gr.Examples([[str(a), str(b)] for a, b in pairs], [swap_id, swap_att],
                                    label="Examples (identity, attribute)")
                    # the methods that run for the network shown (lcr always; trained ones where registered)
                    swap_method = gr.Radio(swap_lib.trained_methods(G), value="lcr", label="Method",
                                           info=SWAP_METHODS_INFO, elem_id="swap-method")
                    swap_paste = gr.Checkbox(True, label="Paste the result back into the attribute photo")
                    swap_btn = gr.Button("Swap", variant="primary", elem_id="swap-btn")
                with gr.Column():
                    with gr.Row():
                        swap_id_img = gr.Image(label="Identity", elem_id="swap-identity-aligned", **IMAGE)
                        swap_att_img = gr.Image(label="Attribute", elem_id="swap-attribute-aligned",
                                                **IMAGE)
                        swap_result = gr.Image(label="Swapped", elem_id="swap-result", **IMAGE)
                    swap_info = gr.Markdown(elem_classes="sgt-note", elem_id="swap-info")
                    swap_pasted = gr.Image(label="Pasted back into the attribute photo", elem_id="swap-pasted",
                                           **IMAGE)

        @on_torch
        def swap(net, identity, attribute, method, paste, progress=gr.Progress(track_tqdm=True)):
            with shown_errors(identity, attribute):
                r = swap_handlers.swap(model, net, identity, attribute, method, paste, steps=invert_steps)
            return png(r.identity_aligned), png(r.attribute_aligned), png(r.result), png(r.pasted), r.info

        swap_btn.click(swap, [network, swap_id, swap_att, swap_method, swap_paste],
                       [swap_id_img, swap_att_img, swap_result, swap_pasted, swap_info], api_name="swap",
                       concurrency_id=TORCH,
                       api_description="Swap faces: (network, identity photo or latent .npz, attribute photo or "
                                       "latent .npz, method lcr|ftm|blend, paste back) -> identity and attribute "
                                       "as aligned, the swap, the swap pasted into the attribute photo or None, "
                                       "info.")

        # -------------------------------------------------------------------------------- Render
        ranges = synthetic.param_ranges()
        with gr.Tab("Render", id="render", elem_id="tab-render"):
            with gr.Row():
                with gr.Column():
                    ident = gr.Number(0, label="Identity seed", precision=0, minimum=0, maximum=handlers.MAX_SEED,
                                      elem_id="render-seed")
                    size = gr.Radio([64, 128, 256, 512], value=256, label="Size (px)")
                    sliders = []
                    for group in ("expression", "pose", "lighting"):
                        with gr.Accordion(group.capitalize(), open=group != "lighting"):
                            for name, (lo, hi, default) in handlers.render_defaults().items():
                                if ranges[name][0] == group:
                                    sliders.append(gr.Slider(lo, hi, default, label=name.replace("_", " "),
                                                             elem_id=f"render-{name}"))
                    render_btn = gr.Button("Render", variant="primary", elem_id="render-btn")
                with gr.Column():
                    with gr.Row():
                        head = gr.Image(label="Render", elem_id="render-image", **IMAGE)
                        overlay = gr.Image(label="Landmarks and mask", elem_id="render-overlay", **IMAGE)
                    with gr.Accordion("All parameters", open=False):
                        params = gr.JSON(label="Parameters")
            with gr.Accordion("One-attribute pairs", open=True):
                with gr.Row():
                    attribute = gr.Dropdown(list(synthetic.PAIR_ATTRIBUTES), value="smile", label="Attribute")
                    pair_seed = gr.Number(0, label="Seed", precision=0, minimum=0, maximum=handlers.MAX_SEED)
                    strength = gr.Slider(0.05, 1.0, 1.0, step=0.05, label="Strength")
                    pair_btn = gr.Button("Render pair", elem_id="pair-btn")
                with gr.Row():
                    pair_a = gr.Image(label="A", elem_id="pair-a", **IMAGE)
                    pair_b = gr.Image(label="B", elem_id="pair-b", **IMAGE)
                changed = gr.Markdown(elem_classes="sgt-note")

        def render(seed, size, *values):
            with shown_errors():
                r = handlers.render_head(seed, size, **dict(zip(handlers.RENDER_SLIDERS, values)))
            return png(r.image), png(r.overlay), r.params

        gr.on([render_btn.click, ident.submit, size.change] + [s.release for s in sliders], render,
              [ident, size, *sliders], [head, overlay, params], api_name="render", concurrency_id=RENDER,
              show_progress="minimal")

        def render_pair(attribute, seed, strength, size):
            with shown_errors():
                r = handlers.render_pair(attribute, seed, strength, size)
            return png(r.a), png(r.b), r.changed

        pair_btn.click(render_pair, [attribute, pair_seed, strength, size], [pair_a, pair_b, changed],
                       api_name="render_pair", concurrency_id=RENDER)

        # ------------------------------------------------------------------- network switching
        @on_torch
        def switch(net):
            with shown_errors():
                G_net = model.get(net).G
                text = handlers.network_info(model, net)
                catalogue = model.edits(net)  # sliders of edits this network lacks are hidden (and ignored)
                methods = swap_lib.trained_methods(G_net)
            return (text, gr.Slider(maximum=G_net.num_ws), gr.Slider(maximum=G_net.num_ws),
                    gr.Radio(choices=methods, value="lcr"), *[gr.Slider(visible=n in catalogue) for n in names])

        network.change(switch, network, [info, mix_from, mix_to, swap_method, *edit_sliders], concurrency_id=TORCH,
                       api_visibility="private")

    return demo.queue(default_concurrency_limit=1, max_size=queue_size)


def launch(demo: gr.Blocks, host: str = "127.0.0.1", port: int | None = 7860,
           allowed: Sequence[str | Path] = ()) -> str:
    """Start serving `demo` in the background (no share link; port None: the first free one from 7860).

    Args:
        allowed: folders whose files the app may serve (the examples, the outputs).

    Returns:
        The URL; `demo.block_thread()` then waits until interrupted, `demo.close()` stops it.
    """
    demo.launch(server_name=host, server_port=port, share=False, max_file_size=MAX_FILE_SIZE,
                allowed_paths=[str(p) for p in allowed], prevent_thread_lock=True, quiet=True,
                state_session_capacity=SESSIONS, theme=gr.themes.Soft(), css=CSS)
    return demo.local_url
