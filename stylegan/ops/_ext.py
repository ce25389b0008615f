"""Implementation selection and lazy CUDA extension builds shared by every op."""
from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path
from types import ModuleType

import torch

IMPLS = ("auto", "ref", "cuda")
_CUDA_DIR = Path(__file__).parent / "cuda"
_cache: dict[str, ModuleType | None] = {}


def forced_ref() -> bool:
    """True when the environment variable SGT_OPS_IMPL=ref forbids compiled kernels."""
    return os.environ.get("SGT_OPS_IMPL", "").strip().lower() == "ref"


def source_hash(name: str) -> str:
    """Short hash of a kernel's source: the build directory is keyed by it, so an edit rebuilds."""
    return hashlib.sha1((_CUDA_DIR / f"{name}.cu").read_bytes()).hexdigest()[:12]


def _pip_cuda_includes() -> list[str]:
    """Header folders of pip-installed CUDA libraries (torch's CUDA wheels bring e.g. cusparse.h there,
    which a system toolkit may lack)."""
    try:
        import nvidia

        roots = [Path(p) for p in nvidia.__path__]
    except ImportError:
        return []
    return sorted(str(d) for root in roots for d in root.glob("*/include") if d.is_dir())


def _cudart_ldflags() -> list[str]:
    """Linker paths for libcudart when CUDA_HOME's guess (e.g. /usr/local) has no lib64 of its own."""
    candidates = [Path(os.environ.get("CUDA_HOME", "/usr/local/cuda")), Path("/usr/local/cuda")]
    flags = []
    for root in candidates:
        for sub in ("lib64", "lib"):
            if (root / sub / "libcudart.so").exists():
                flags.append(f"-L{root / sub}")
    return sorted(set(flags))


def load_cuda_extension(name: str) -> ModuleType | None:
    """Compile (once per source hash) and import `cuda/<name>.cu`; None when that is impossible.

    A failed build warns once and returns None so callers fall back to the reference path.
    """
    if name in _cache:
        return _cache[name]
    module = None
    try:
        from torch.utils import cpp_extension

        build_dir = Path(os.environ.get("SGT_BUILD_DIR", Path.home() / ".cache" / "sgt_ops"))
        build_dir = build_dir / f"{name}_{source_hash(name)}"
        build_dir.mkdir(parents=True, exist_ok=True)
        module = cpp_extension.load(
            name=f"sgt_{name}_{source_hash(name)}",
            sources=[str(_CUDA_DIR / f"{name}.cu")],
            build_directory=str(build_dir),
            extra_cuda_cflags=["--use_fast_math"],
            extra_include_paths=_pip_cuda_includes(),
            extra_ldflags=_cudart_ldflags(),
            verbose=False,
        )
    except Exception as exc:  # any build problem: compiler missing, CUDA mismatch, ...
        warnings.warn(
            f"could not build the CUDA kernel '{name}' ({type(exc).__name__}: {str(exc)[:300]}); "
            "using the pure-PyTorch reference implementation instead",
            RuntimeWarning,
            stacklevel=3,
        )
    _cache[name] = module
    return module


def resolve(impl: str, x: torch.Tensor, name: str) -> tuple[str, ModuleType | None]:
    """Return ('cuda', module) or ('ref', None) for an op called with `impl` on tensor `x`."""
    if impl not in IMPLS:
        raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")
    if impl == "ref" or forced_ref() or x.device.type != "cuda":
        if impl == "cuda" and x.device.type != "cuda":
            raise ValueError(f"impl='cuda' needs a CUDA tensor, got one on {x.device}")
        return "ref", None
    module = load_cuda_extension(name)
    if module is None:
        if impl == "cuda":
            raise RuntimeError(f"impl='cuda' was requested but the '{name}' kernel failed to build")
        return "ref", None
    return "cuda", module
