"""The `sgt` console command: one click group whose sub-commands live in each package's `cli.py`.

Sub-commands are imported lazily, so `sgt generate` never imports pyrender, dlib or gradio.
"""
from __future__ import annotations

import importlib

import click

# name -> "module:attribute" of a click command
COMMANDS: dict[str, str] = {
    "generate": "stylegan.cli:generate",
    "convert": "stylegan.cli:convert",
    "render": "synthetic.cli:render",
    "align": "inversion.cli:align",
    "project": "inversion.cli:project",
    "train": "stylegan.train.cli:train",
    "train-encoder": "inversion.encoder_cli:train_encoder",
    "directions": "edits.cli:directions",
    "train-delta": "edits.delta.cli:train_delta",
    "edit": "edits.edit_cli:edit",
    "swap": "edits.swap.cli:swap",
    "train-swap": "edits.swap.train_cli:train_swap",
    "eval-swap": "edits.swap.cli:eval_swap",
    "demo": "demos.serve:demo",
}


class LazyGroup(click.Group):
    """A click group that imports a sub-command only when it is called or listed in --help."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        target = COMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            return getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            # Keep `sgt --help` working when one optional dependency is broken; say why on use.
            reason = f"{type(exc).__name__}: {exc}"

            def unavailable() -> None:
                raise click.ClickException(f"sub-command '{name}' is unavailable ({reason})")

            return click.Command(name, callback=unavailable, help=f"(unavailable: {reason})")


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
def main() -> None:
    """StyleGAN latent-space editing and face-swapping toolkit."""


if __name__ == "__main__":
    main()
