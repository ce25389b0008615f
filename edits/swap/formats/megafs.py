"""Read MegaFS's released `checkpoint/{ftm,injection,lcr}_final.pth` into `edits.swap.megafs.MegaFS`.

A file is `torch.save({"e": HieRFE.state_dict(), "s": FaceTransferModule.state_dict()})` (PyTorch 1.5:
the legacy, non-zip serialisation; newer zip files read the same). It is read with
`torch.load(weights_only=True)`, which refuses anything but tensors and plain containers, so no code in
a file is ever run. Every width, block count and the swapper kind come from the key names and shapes, so
reduced test files in the same layout load too.

    >>> net = load_megafs("checkpoint/ftm_final.pth", G=G)   # doctest: +SKIP
    >>> net.kind, net.config.num_codes                         # doctest: +SKIP
    ('ftm', 18)
"""
from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Any, Mapping

import torch

from sgtcore import artefacts
from sgtcore.errors import ArchitectureMismatchError, CorruptCheckpointError, UnknownFormatError

from ..megafs import CODE_LEVELS, KINDS, SWAP_INDEX, MegaFS, MegaFSConfig

_HINT = ("MegaFS's released files are checkpoint/ftm_final.pth, injection_final.pth and lcr_final.pth "
         "(github.com/zyainfal/One-Shot-Face-Swapping-on-Megapixels, inference/README.md)")


def read_megafs(path: str | os.PathLike) -> dict[str, dict[str, torch.Tensor]]:
    """The file's `{"e": {...}, "s": {...}}` state dicts, read without running code.

    Raises:
        FileNotFoundError; UnsafeCheckpointError (the file names code); CorruptCheckpointError (truncated,
        damaged, non-finite weights); UnknownFormatError (a torch file, but not a MegaFS one).
    """
    from stylegan.loading import _read_torch_file  # one owner of the safe torch.load and its error messages

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no MegaFS checkpoint at {path}; {_HINT}")
    if path.stat().st_size == 0:
        raise CorruptCheckpointError(f"{path}: empty file")
    try:
        obj = _read_torch_file(path)
    except OSError as exc:  # torch's zip reader on a truncated archive opened as a file object
        raise CorruptCheckpointError(f"{path}: truncated or damaged torch file ({exc})") from None
    if not (isinstance(obj, Mapping) and isinstance(obj.get("e"), Mapping) and isinstance(obj.get("s"), Mapping)):
        got = sorted(map(str, obj))[:8] if isinstance(obj, Mapping) else type(obj).__name__
        what = artefacts.describe(obj)  # another tool's file: say what it is and where it goes
        raise UnknownFormatError(f"{path}: a torch file, but not a MegaFS checkpoint (expected {{'e': encoder "
                                 f"state dict, 's': swapper state dict}}, got {got}); " + (f"{what}. " if what else "")
                                 + _HINT)
    out: dict[str, dict[str, torch.Tensor]] = {}
    for part in ("e", "s"):
        sd = {}
        for key, value in obj[part].items():
            if not isinstance(value, torch.Tensor):
                raise CorruptCheckpointError(f"{path}: {part}[{key!r}] is a {type(value).__name__}, not a tensor")
            if value.is_floating_point() and not torch.isfinite(value).all():
                raise CorruptCheckpointError(f"{path}: {part}[{key!r}] holds NaN/Inf values; the file is damaged")
            sd[str(key)] = value
        out[part] = sd
    return out


def _count(sd: Mapping[str, Any], pattern: str) -> int:
    """How many consecutive indices i from 0 have a key matching `pattern.format(i=i)` (a regex)."""
    found = {int(m.group(1)) for k in sd if (m := re.fullmatch(pattern.replace("{i}", r"(\d+)"), k))}
    n = 0
    while n in found:
        n += 1
    return n


def _shape(sd: Mapping[str, torch.Tensor], key: str, where: str) -> torch.Size:
    if key not in sd:
        part = "'s' (swapper)" if key == "weight" or key.startswith("blocks.") else "'e' (encoder)"
        raise ArchitectureMismatchError(f"{where}: {part} has no {key!r}; not MegaFS's layout ({_HINT})")
    return sd[key].shape


def infer_config(e: Mapping[str, torch.Tensor], s: Mapping[str, torch.Tensor], where: str = "MegaFS file"
                 ) -> MegaFSConfig:
    """The `MegaFSConfig` a pair of state dicts was saved from (widths from shapes, counts from key names).

    Raises:
        ArchitectureMismatchError: keys or shapes that no MegaFS network has.
    """
    try:
        return _infer(e, s, where)
    except (IndexError, ZeroDivisionError):  # a tensor of too few dimensions or a zero width
        raise ArchitectureMismatchError(f"{where}: tensors shaped like no MegaFS network's ({_HINT})") from None


def _infer(e: Mapping[str, torch.Tensor], s: Mapping[str, torch.Tensor], where: str) -> MegaFSConfig:
    bb = "fpn.backbone."
    stem = _shape(e, bb + "conv1.weight", where)[0]
    widths, depths, outs = [], [], []
    for k in range(1, 6):
        depth = _count(e, re.escape(f"{bb}layer{k}.") + r"{i}\.conv1\.weight")
        if depth == 0:
            raise ArchitectureMismatchError(f"{where}: no backbone stage layer{k}; MegaFS's HieRFE has five ({_HINT})")
        widths.append(_shape(e, f"{bb}layer{k}.0.conv1.weight", where)[0])
        outs.append(_shape(e, f"{bb}layer{k}.0.conv3.weight", where)[0])
        depths.append(depth)
    if any(o % w or o // w != outs[0] // widths[0] for o, w in zip(outs, widths)):
        raise ArchitectureMismatchError(f"{where}: bottleneck widths {widths} -> {outs} are not one expansion")
    features = _shape(e, "fpn.output1.0.weight", where)[0]
    split = tuple(_count(e, rf"mapping{k}\.{{i}}\.convs\.0\.weight") for k in (1, 2, 3))
    for k, (n, size) in enumerate(zip(split, CODE_LEVELS), start=1):
        # step j of a code is convs.{3j} (conv), convs.{3j+1} (BN), convs.{3j+2} (LeakyReLU)
        steps = len([x for x in e if (m := re.fullmatch(rf"mapping{k}\.0\.convs\.(\d+)\.weight", x))
                     and int(m.group(1)) % 3 == 0])
        if n == 0 or steps != size.bit_length() - 1:
            raise ArchitectureMismatchError(f"{where}: mapping{k} must hold codes read by {size.bit_length() - 1} "
                                            f"stride-2 steps from the {size} px map (found {n} codes, {steps} steps)")
    num_codes = sum(split)
    if "weight" in s:
        kind = "ftm"
        cells = _shape(s, "weight", where)[1]
        blocks = _count(s, r"blocks\.0\.idd_selectors\.{i}\.0\.weight")
        hidden = _shape(s, "blocks.0.idd_selectors.0.0.weight", where)[0]
    elif any(k.startswith("blocks.") for k in s):
        kind = "injection"
        cells = _count(s, r"blocks\.{i}\.att_path1\.0\.0\.idd_selectors\.weight")
        blocks = _count(s, r"blocks\.0\.att_path1\.{i}\.0\.idd_selectors\.weight")
        hidden = MegaFSConfig.hidden
    elif not s:
        kind, cells, blocks, hidden = "lcr", num_codes - SWAP_INDEX, 0, MegaFSConfig.hidden
    else:
        raise ArchitectureMismatchError(f"{where}: swapper keys {sorted(s)[:4]} are none of MegaFS's {KINDS}")
    if kind != "lcr" and (cells == 0 or blocks == 0):
        raise ArchitectureMismatchError(f"{where}: a MegaFS {kind} swapper without cells")
    if not 0 < cells < num_codes:
        raise ArchitectureMismatchError(f"{where}: {cells} swapper rows for {num_codes} codes; MegaFS swaps rows "
                                        f"{SWAP_INDEX}-{num_codes - 1} of {num_codes}")
    return MegaFSConfig(kind=kind, stem=int(stem), widths=tuple(int(w) for w in widths), depths=tuple(depths),
                        expansion=int(outs[0] // widths[0]), features=int(features), split=split,
                        swap_index=num_codes - cells, blocks=blocks, hidden=int(hidden))


def check_fits(net: MegaFS, G: Any, where: str = "MegaFS file") -> None:
    """Raise `ArchitectureMismatchError` unless G takes this file's codes and structure tensor: w_dim and the
    4 px channel count = the code width, num_ws = the code count (18 x 512 at 1024 px: the FFHQ config-f
    generator MegaFS was trained with)."""
    c = net.config
    b4 = getattr(G.synthesis, f"b{G.synthesis.block_resolutions[0]}")
    have = (G.num_ws, G.w_dim, b4.conv1.in_channels)
    if have != (c.num_codes, c.features, c.features):
        full = " (the released files: 1024 px FFHQ StyleGAN2 config-f, stylegan2-ffhq-config-f)" \
            if (c.num_codes, c.features) == (18, 512) else ""
        raise ArchitectureMismatchError(
            f"{where}: MegaFS makes {c.num_codes} codes of {c.features} and a {c.features}-channel 4x4 structure "
            f"tensor, for a generator with num_ws {c.num_codes} and w_dim {c.features}{full}; this generator is "
            f"{G.img_resolution} px with num_ws {have[0]}, w_dim {have[1]} and {have[2]} channels at 4x4; pass the "
            "generator it was trained with (--network)")


def load_megafs(path: str | os.PathLike, G: Any = None, kind: str | None = None,
                device: str | torch.device = "cpu") -> MegaFS:
    """A released MegaFS file as a `MegaFS` module (eval mode, no grad).

    Args:
        path: `ftm_final.pth`, `injection_final.pth` or `lcr_final.pth` (or a file in their layout).
        G: when given, the generator must fit (`check_fits`).
        kind: when given ('ftm', 'injection', 'lcr'), the file's swapper must be this one.
        device: where to put the network.

    Raises:
        FileNotFoundError, UnsafeCheckpointError, CorruptCheckpointError, UnknownFormatError,
        ArchitectureMismatchError (another layout, another swapper than `kind`, or a generator it does not fit).
    """
    sds = read_megafs(path)
    config = infer_config(sds["e"], sds["s"], str(path))
    if kind is not None:
        _check_kind(config.kind, kind, str(path))
    net = MegaFS(config)
    if G is not None:
        check_fits(net, G, str(path))
    for part, module in (("e", net.e), ("s", net.s)):
        try:
            module.load_state_dict(sds[part], strict=True)
        except RuntimeError as exc:
            lines = " ".join(str(exc).split())[:400]
            raise ArchitectureMismatchError(f"{path}: {part!r} does not match MegaFS's layout ({lines})") from None
    return net.to(device).eval().requires_grad_(False)


def _check_kind(have: str, want: str, where: str) -> None:
    if have != want:
        raise ArchitectureMismatchError(f"{where}: holds MegaFS's {have!r} swapper, not {want!r}; use method "
                                        f"'megafs-{have}' with it, or the {want}_final.pth file")


@functools.lru_cache(maxsize=3)
def _cached(path: str, stamp: tuple[int, int]) -> MegaFS:
    """A file read once per process (1.2 GB each; `stamp`: mtime and size, so a replaced file is read again)."""
    return load_megafs(path)


def resolve(swap_net: Any, G: Any, kind: str) -> MegaFS:
    """What `swap(..., swap_net=...)` runs: a MegaFS file's path (read once, then cached) or a loaded
    `MegaFS`, checked to hold the `kind` swapper ('ftm', 'injection', 'lcr') and to fit G.

    Raises:
        FileNotFoundError, TypeError (neither a path nor a MegaFS), and `load_megafs`'s errors.
    """
    if isinstance(swap_net, MegaFS):
        net, where = swap_net, "swap_net"
    elif isinstance(swap_net, (str, os.PathLike)):
        path = Path(swap_net)
        if not path.is_file():
            raise FileNotFoundError(f"no MegaFS file at {path}: method megafs-{kind} needs MegaFS's {kind}_final.pth")
        st = path.stat()
        net, where = _cached(str(path.resolve()), (st.st_mtime_ns, st.st_size)), str(path)
    else:
        raise TypeError(f"swap_net must be a MegaFS file's path or an edits.swap.megafs.MegaFS, got "
                        f"{type(swap_net).__name__}")
    _check_kind(net.kind, kind, where)
    check_fits(net, G, where)
    return net


__all__ = ["read_megafs", "infer_config", "check_fits", "load_megafs", "resolve"]
