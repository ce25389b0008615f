"""What the `sgt edit` and `sgt swap` commands share: reading a latent file for a `--network`, and queueing
PNGs for an all-or-nothing write (`sgtcore.atomic`)."""
from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import click


def read_latents(path: Path, G: Any, network: str) -> Any:
    """`stylegan.load_ws(path, G)`, refusing a file whose metadata records another generator.

    Raises:
        click.ClickException: unreadable file, wrong shape, or made for another generator (the message
            names the file and the fix).
    """
    import stylegan

    try:
        latents = stylegan.load_ws(path, G)
    except stylegan.LatentFileError as exc:
        raise click.ClickException(" ".join(str(exc).split())) from None
    made_for, fp = latents.metadata.get("generator"), stylegan.fingerprint(G)
    if made_for is not None and made_for != fp:
        net = latents.metadata.get("network")
        raise click.ClickException(
            f"{path} was made for generator {made_for}{f' ({net})' if net else ''}, not for --network "
            f"{network} ({fp}); pass the --network it was made with, or re-project the photo into this one")
    return latents


def write_png(stack: contextlib.ExitStack, path: Path, image: Any) -> Path:
    """Queue `image` (uint8 HWC array or `[1, 3, R, R]` tensor) as a PNG under a temporary name."""
    import numpy as np
    import PIL.Image

    from sgtcore.atomic import atomic_file
    from stylegan.images import to_uint8

    arr = image if isinstance(image, np.ndarray) else to_uint8(image)[0]
    PIL.Image.fromarray(arr[..., 0] if arr.shape[-1] == 1 else arr).save(stack.enter_context(atomic_file(path)),
                                                                        format="PNG")
    return path


__all__ = ["read_latents", "write_png"]
