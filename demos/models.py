"""The networks the demo offers: the one given with `--network` plus the checkpoints found in
`--models-dir`, each loaded once (with a warm-up pass) and kept.

The UI and the API name a network only by the names listed here, so nobody can make the server read
an arbitrary path.
"""
from __future__ import annotations

import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

import stylegan
from sgtcore.registry import DEFAULT_GENERATOR

#: Files in `--models-dir` that `stylegan.load` reads (NVlabs pickles, rosinality files); folders
#: holding a `config.json` are our model format.
CHECKPOINT_SUFFIXES = (".pkl", ".pt", ".pth")


@dataclass
class Network:
    """A loaded generator and what inversion needs with it.

    Attributes:
        name: the name the UI shows.
        G: the generator (eval mode).
        D: its discriminator when the checkpoint has one (for projection's D-feature loss), else None.
        encoder: the encoder registered for G (projection's start), else the one stored in the checkpoint
            (pSp / e4e / ReStyle files hold encoder and generator), or None.
        loss: the reconstruction loss `inversion.project` would build by default, built once.
        synthetic: trained on our synthetic CGI heads (a shipped generator), not on photos.
    """

    name: str
    G: stylegan.Generator
    D: Any
    encoder: Any
    loss: Any
    synthetic: bool


def find_checkpoints(models_dir: str | Path) -> dict[str, Path]:
    """Checkpoints directly inside `models_dir`: `.pkl`/`.pt`/`.pth` files and model folders, by file name."""
    found = {}
    for path in sorted(Path(models_dir).iterdir()):
        if (path.is_file() and path.suffix.lower() in CHECKPOINT_SUFFIXES) or (path / "config.json").is_file():
            found[path.name] = path
    return found


def is_synthetic(G: stylegan.Generator) -> bool:
    """True for the shipped CGI-trained generators (by fingerprint, so a copy under another name counts too)."""
    return stylegan.is_shipped(G)


class DemoModel:
    """Loads each network on first use (and warms it up), keeps it, and hands out output folders.

    Args:
        network: the default network: a registered name or a checkpoint path (trusted: it comes from
            the command line). Every registered generator is offered after it.
        models_dir: a folder whose checkpoints are offered as well.
        G: the default network's generator when the caller has already loaded it.
        device: torch device.
    """

    def __init__(self, network: str = DEFAULT_GENERATOR, models_dir: str | Path | None = None,
                 G: stylegan.Generator | None = None, device: str = "cpu"):
        self.default = Path(network).name if Path(network).exists() else network
        self.sources: dict[str, str | Path] = {self.default: network}
        from sgtcore import registry

        for e in registry.entries("generator"):  # the shipped models (e.g. the 128 px v2) and the user's
            self.sources.setdefault(e.name, e.name)
        if models_dir is not None:
            for name, path in find_checkpoints(models_dir).items():
                self.sources.setdefault(name, path)
        self.device = device
        self._loaded: dict[str, Network] = {}
        self._edits: dict[str, dict[str, Any]] = {}
        self._preloaded = {self.default: G} if G is not None else {}
        self._lock = threading.Lock()
        self.root = Path(tempfile.mkdtemp(prefix="sgt_demo_"))  # every file the demo hands out lies below

    @property
    def names(self) -> list[str]:
        """The networks on offer, the default first."""
        return list(self.sources)

    def get(self, name: str | None = None) -> Network:
        """The network called `name` (default: the default one), loaded and warmed up on first use.

        Raises:
            ValueError: `name` is not on offer (the message lists the names that are).
            stylegan.CheckpointError, OSError: the checkpoint cannot be loaded.
        """
        name = name or self.default
        if name not in self.sources:
            raise ValueError(f"unknown network {name!r}; choose one of: {', '.join(self.sources)}")
        with self._lock:  # two first calls must not load the same checkpoint twice
            if name not in self._loaded:
                self._loaded[name] = self._load(name)
            return self._loaded[name]

    def _load(self, name: str) -> Network:
        from inversion import find_encoder, make_loss

        source = self.sources[name]
        G = self._preloaded.pop(name, None) or stylegan.load(source, device=self.device)
        G.eval().requires_grad_(False)
        try:
            D = stylegan.load_discriminator(source, device=self.device).eval()
        except (stylegan.CheckpointError, OSError, KeyError):
            D = None  # optional: the loss falls back to pixels + MS-SSIM
        encoder = find_encoder(G)
        if encoder is None and Path(source).is_file():  # a pSp / e4e / ReStyle file holds its encoder too
            from inversion import formats

            if formats.holds_encoder(source):
                encoder = formats.load(source, G=G, device=self.device)
        net = Network(name, G, D, encoder, make_loss("auto", D=D), is_synthetic(G))
        warm_up(net)
        return net

    def edits(self, name: str | None = None) -> dict[str, Any]:
        """`edits.available(G)` for the network called `name`, read once (edits registered later show up
        after a restart)."""
        net = self.get(name)
        with self._lock:
            if net.name not in self._edits:
                import edits

                self._edits[net.name] = edits.available(net.G)
            return self._edits[net.name]

    def output_dir(self) -> Path:
        """A fresh folder for the files one call returns (removed by `close`)."""
        return Path(tempfile.mkdtemp(dir=self.root))

    def close(self) -> None:
        """Delete every file handed out."""
        shutil.rmtree(self.root, ignore_errors=True)


def warm_up(net: Network) -> None:
    """One synthesis pass and one projection step, so the first real call does not pay for oneDNN's
    kernel selection, the first autograd pass and projection's cached W statistics."""
    import inversion

    G = net.G
    with torch.no_grad():
        img = G(stylegan.seed_to_z(0, G.z_dim, G.w_avg.device), truncation_psi=0.7)
    inversion.project(G, img, steps=1, encoder=net.encoder, loss=net.loss, progress=False)
