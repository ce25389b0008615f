"""How every `sgt` sub-command resolves the network it is given (`--network`, `SRC`, `--init-from`).

A checkpoint that is missing, not a checkpoint, damaged, or of another kind ends the command with one
`Error: ...` line naming the option, the source and the problem (the loaders' messages say which file
and what it holds), never a traceback.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

import click

# Reading a checkpoint fails with these: missing or unreadable files (OSError), our checkpoint errors,
# a missing optional reader (ImportError), a pickle without the expected network (KeyError).
_LOAD_ERRORS: tuple[type[BaseException], ...] = (OSError, ImportError, KeyError)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text.strip("'\"") if isinstance(exc, KeyError) else text


def load_network(source: str | Path, what: Literal["generator", "discriminator"] = "generator", *,
                 option: str = "--network", device: str = "cpu", required: bool = True):
    """`stylegan.load` (or `load_discriminator`) for a CLI.

    Args:
        source: a registered name, a `.pkl`/`.pt` file or a model folder, as given on the command line.
        what: which network of the checkpoint.
        option: how the command line calls it, for the message (e.g. '--network', 'SRC').
        device: torch device.
        required: False returns None when the source holds no usable network of this kind (e.g. an
            optional discriminator) instead of stopping.

    Raises:
        click.ClickException: the source cannot be loaded (only with `required`).
    """
    import stylegan

    loader = stylegan.load if what == "generator" else stylegan.load_discriminator
    try:
        return loader(source, device=device)
    except (stylegan.CheckpointError, *_LOAD_ERRORS) as exc:
        if not required:
            return None
        raise click.ClickException(f"{option} {source}: cannot load a {what}: {_one_line(exc)}") from None


def model_dir(source: str | Path, *, option: str = "--init-from") -> Path:
    """The model folder (`config.json` + `model.safetensors`) a registered name or path stands for.

    Raises:
        click.ClickException: no such name or folder, or a path that is not one of our model folders.
    """
    from stylegan.loading import _resolve

    try:
        path = _resolve(source)
    except _LOAD_ERRORS as exc:
        raise click.ClickException(f"{option} {source}: {_one_line(exc)}") from None
    if not (path / "config.json").is_file():
        raise click.ClickException(f"{option} {source}: not a model folder (config.json + model.safetensors); "
                                   f"convert a checkpoint into one with `sgt convert {source} DIR`")
    return path
