"""`sgt demo`: serve the Gradio demo on the default network (and any checkpoints in --models-dir)."""
from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import click

from sgtcore.registry import DEFAULT_GENERATOR


def warm_aligner(photo: Path) -> None:
    """Align `photo` once, so that the first Invert does not pay for loading dlib's detector and landmark
    model (1.3 s of the first call, measured on the 2-core dev VM)."""
    import inversion

    try:
        inversion.align(photo, output_size=64)
    except (ImportError, ValueError, OSError):  # no dlib, no face: Invert will say so when asked
        pass


@click.command(context_settings={"show_default": True})
@click.option("--host", default="127.0.0.1",
              help="Address to bind; 0.0.0.0 makes the demo reachable from your network.")
@click.option("--port", default=7860, type=click.IntRange(1, 65535), help="Port to serve on.")
@click.option("--network", default=DEFAULT_GENERATOR, help="Default network: a registered name or a checkpoint path.")
@click.option("--models-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="A folder of further checkpoints offered in the UI (.pkl, .pt, model folders), e.g. FFHQ ones.")
@click.option("--directions", multiple=True, metavar="PATH",
              help="Edit-direction files for the --network generator (InterFaceGAN .npy, e4e .pt, GANSpace .npz; "
                   "FILE#K@START:END picks a GANSpace component and ws rows), or a folder of them: sliders in the "
                   "Edit tab (edits.register_directions). Repeatable.")
def demo(host: str, port: int, network: str, models_dir: Path | None, directions: tuple[str, ...]) -> None:
    """Serve the demo (Generate, Invert, Edit, Render) at http://HOST:PORT until interrupted."""
    import torch

    from stylegan.cli_network import load_network

    torch.set_num_threads(len(os.sched_getaffinity(0)))  # the demo is the machine's main job
    G = load_network(network)  # a bad --network ends here with one Error: line, before gradio loads
    if directions:  # so do direction files that are not for this G
        import edits
        from sgtcore.errors import CheckpointError

        try:
            added = [e for path in directions for e in edits.register_directions(path, G)]
        except (CheckpointError, OSError, ValueError) as exc:
            raise click.ClickException(f"--directions: {' '.join(str(exc).split())}") from None
        click.echo(f"directions for {network}: {', '.join(e.name for e in added)}")

    from .app import build, launch
    from .examples import write_examples
    from .mainthread import MainThreadRunner
    from .models import DemoModel

    model = DemoModel(network, models_dir, G=G)
    # `kill` / `docker stop` end the demo like Ctrl-C does: through `finally`, which removes its files
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = None
    try:
        click.echo(f"loading {network} (+ warm-up); networks on offer: {', '.join(model.names)}")
        model.get()
        runner = MainThreadRunner()  # this thread does the torch work: see demos.mainthread
        runner.accept()  # requests that come before `serve` below wait for it
        examples = write_examples(model.output_dir())
        warm_aligner(examples[-1])
        app = build(model, examples, run=runner.call)
        url = launch(app, host, port, allowed=[model.root])
        click.echo(f"serving the demo at {url} (Ctrl-C stops it)")
        runner.serve()  # until Ctrl-C / SIGTERM
    except OSError as exc:  # e.g. the port is taken
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:  # Ctrl-C: a normal stop
        click.echo("stopping the demo")
    finally:
        if app is not None:
            app.close()
        model.close()
