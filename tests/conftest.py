"""Shared test set-up: tests/reference importable, headless GL, two threads, and the tiny generator
every package's tests use (`SMALL`, `tiny_G`)."""
import os
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))  # make tests/reference (and this module) importable
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
torch.set_num_threads(min(2, torch.get_num_threads()))

# A 32 px StyleGAN2 with few channels: the whole pipeline runs in seconds on a CPU.
SMALL = dict(z_dim=32, w_dim=32, img_resolution=32, channel_base=512, channel_max=32, mapping_layers=2)


def make_tiny_G(seed: int = 0, **overrides):
    """A freshly initialised `SMALL` generator (eval mode), deterministic in `seed`."""
    import stylegan

    torch.manual_seed(seed)
    return stylegan.Generator(**{**SMALL, **overrides}).eval()


@pytest.fixture
def tiny_G():
    return make_tiny_G(0)


@pytest.fixture
def small_params():
    from reference import nvlabs_ref

    return nvlabs_ref.init_params(**SMALL, seed=1)


def _rank_main(rank: int, port: int, outdir: str, train) -> None:
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        module = train(outdir)
        flat = torch.cat([p.detach().flatten() for p in module.parameters()])
        torch.save(flat, os.path.join(outdir, f"rank{rank}.pt"))  # tensors in a queue die with their process
    finally:
        dist.destroy_process_group()


def run_two_ranks(train, outdir) -> list[torch.Tensor]:
    """Run `train(outdir) -> nn.Module` in two gloo processes (torch.distributed set up as torchrun
    would) and return each rank's flattened parameters; `train` must be a module-level function."""
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_rank_main, args=(port, str(outdir), train), nprocs=2, join=True)
    return [torch.load(Path(outdir) / f"rank{r}.pt") for r in range(2)]


def mapped_ws(G, seed: int, n: int = 1) -> torch.Tensor:
    """`[n, num_ws, w_dim]` mapped latents (ψ = 0.7) of `G` from a seeded torch generator."""
    with torch.no_grad():
        return G.mapping(torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed)), truncation_psi=0.7)


def save_torch(obj, path, legacy: bool = False, device_tag: str | None = None) -> Path:
    """`torch.save(obj, path)` as the files users bring were written: `legacy` = torch < 1.6's non-zip stream
    (`_use_new_zipfile_serialization=False`); `device_tag` = the location every storage claims, e.g. 'cuda:0'
    for a file saved on a GPU (e4e's pose.pt), simulated without one by patching the tag torch records."""
    real = torch.serialization.location_tag
    if device_tag is not None:
        torch.serialization.location_tag = lambda storage: device_tag
    try:
        torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
    finally:
        torch.serialization.location_tag = real
    return Path(path)


def import_test_module(relpath: str):
    """Another test file's module (to reuse its builders), imported as pytest imports it (its folder on
    sys.path, assertion rewriting on): tests/ sub-folders are not packages."""
    import importlib

    path = Path(__file__).parent / relpath
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    return importlib.import_module(path.stem)
