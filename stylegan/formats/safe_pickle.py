"""A restricted unpickler for NVlabs checkpoints: recovers every tensor and init kwarg and never
executes code from the file.

NVlabs pickles rebuild each network with `torch_utils.persistence._reconstruct_persistent_obj(meta)`,
whose original `exec`s `meta['module_src']`. Here that call returns a `PersistentStub` holding the
data, `EasyDict` becomes a dict, TF-era `dnnlib.tflib.network.Network` objects become
`TFNetworkStub`s, and only tensor/numpy/collection rebuilders are importable. Everything else raises
`UnsafeCheckpointError` before anything is called.
"""
from __future__ import annotations

import argparse
import collections
import io
import os
import pathlib
import pickle
import types
from typing import Any

import torch

from stylegan.formats.errors import UnsafeCheckpointError


class PersistentStub:
    """Data-only stand-in for an NVlabs persistent network object."""

    def __init__(self, meta: dict):
        if not isinstance(meta, dict) or "state" not in meta:
            raise UnsafeCheckpointError("malformed NVlabs persistence record (no 'state')")
        self.class_name = str(meta.get("class_name", "?"))
        self.module_src_len = len(meta.get("module_src") or "")
        self.version = meta.get("version")
        self.state = meta["state"]
        if not isinstance(self.state, dict):
            raise UnsafeCheckpointError(f"persistent object {self.class_name} has a non-dict state")

    @property
    def init_kwargs(self) -> dict:
        return dict(self.state.get("_init_kwargs") or {})

    def __repr__(self) -> str:
        return f"PersistentStub({self.class_name})"


def _reconstruct_persistent_obj(meta: dict) -> PersistentStub:
    return PersistentStub(meta)


class EasyDictStub(dict):
    """`dnnlib.util.EasyDict` without attribute magic."""


class TFNetworkStub:
    """Stand-in for `dnnlib.tflib.network.Network` from the original TensorFlow StyleGAN2 pickles."""

    def __setstate__(self, state: dict) -> None:
        if not isinstance(state, dict):
            raise UnsafeCheckpointError("malformed TensorFlow network state")
        self.name = state.get("name")
        self.static_kwargs = dict(state.get("static_kwargs") or {})
        self.components = dict(state.get("components") or {})
        self.variables = list(state.get("variables") or [])


def _load_storage_from_bytes(b: bytes):
    # torch.storage._load_from_bytes would call torch.load(weights_only=False) on attacker bytes.
    try:
        return torch.load(io.BytesIO(b), weights_only=True)
    except pickle.UnpicklingError as exc:
        msg = str(exc)
        if "GLOBAL" in msg or "global" in msg:  # torch's weights-only unpickler refused a callable
            raise UnsafeCheckpointError(f"refusing embedded storage bytes that name code "
                                        f"({msg.strip().splitlines()[-1][:200]})") from exc
        raise


def _numpy_allowed() -> dict[tuple[str, str], Any]:
    import numpy as np

    try:
        from numpy._core import multiarray
    except ImportError:  # NumPy 1.x
        from numpy.core import multiarray
    allowed: dict[tuple[str, str], Any] = {}
    # 2021 files name numpy.core, files written by NumPy 2 name numpy._core: same functions.
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        allowed[(mod, "_reconstruct")] = multiarray._reconstruct
        allowed[(mod, "scalar")] = multiarray.scalar
    allowed[("numpy", "ndarray")] = np.ndarray
    allowed[("numpy", "dtype")] = np.dtype
    for name in ("Float64DType", "Float32DType", "Float16DType", "Int64DType", "Int32DType", "UInt8DType",
                 "BoolDType"):
        if hasattr(np.dtypes, name):
            allowed[("numpy.dtypes", name)] = getattr(np.dtypes, name)
    return allowed


def _torch_allowed() -> dict[tuple[str, str], Any]:
    import torch._tensor
    import torch._utils as tu

    allowed: dict[tuple[str, str], Any] = {
        ("torch.storage", "_load_from_bytes"): _load_storage_from_bytes,
        ("torch", "Tensor"): torch.Tensor,
        ("torch.nn.parameter", "Parameter"): torch.nn.Parameter,
        ("torch", "Size"): torch.Size,
        ("torch", "device"): torch.device,
    }
    for name in ("_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_parameter", "_rebuild_parameter_with_state"):
        if hasattr(tu, name):
            allowed[("torch._utils", name)] = getattr(tu, name)
    allowed[("torch._tensor", "_rebuild_from_type_v2")] = torch._tensor._rebuild_from_type_v2
    for name in ("float32", "float16", "float64", "bfloat16", "int64", "int32", "uint8", "bool"):
        allowed[("torch", name)] = getattr(torch, name)
    return allowed


_STUBS: dict[tuple[str, str], Any] = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    ("dnnlib.util", "EasyDict"): EasyDictStub,
    ("dnnlib", "EasyDict"): EasyDictStub,
    ("dnnlib.tflib.network", "Network"): TFNetworkStub,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("collections", "defaultdict"): collections.defaultdict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "slice"): slice,
    ("builtins", "complex"): complex,
    ("copyreg", "_reconstructor"): None,  # filled below: only for the stubs above
}


def _safe_copyreg_reconstructor(cls, base, state):
    if cls not in (TFNetworkStub, EasyDictStub) or base not in (object, dict):
        raise UnsafeCheckpointError(f"refusing copyreg reconstruction of {cls!r}")
    obj = base.__new__(cls)
    if base is dict and state is not None:
        dict.__init__(obj, state)
    return obj


_STUBS[("copyreg", "_reconstructor")] = _safe_copyreg_reconstructor


def _latin1_encode(text: str, encoding: str = "utf-8") -> bytes:
    # Protocol-2 pickles written by Python 3 spell `bytes` as _codecs.encode(str, 'latin1').
    if encoding not in ("latin1", "latin-1"):
        raise UnsafeCheckpointError(f"refusing _codecs.encode with codec {encoding!r}")
    return text.encode("latin1")


_STUBS[("_codecs", "encode")] = _latin1_encode


class RestrictedUnpickler(pickle.Unpickler):
    """`pickle.Unpickler` whose `find_class` only returns allow-listed, data-only callables."""

    def __init__(self, file, source: str = "<checkpoint>"):
        super().__init__(file)
        self.source = source
        self.allowed = {**_numpy_allowed(), **_torch_allowed(), **_STUBS}

    def find_class(self, module: str, name: str):
        key = (module, name)
        if key in self.allowed:
            return self.allowed[key]
        raise UnsafeCheckpointError(
            f"{self.source}: refusing to load '{module}.{name}' — checkpoints may only contain tensors, "
            "arrays and plain containers; this file asks for code to be imported or run"
        )

    def persistent_load(self, pid):
        raise UnsafeCheckpointError(f"{self.source}: unexpected persistent id {pid!r} in a plain pickle")


def safe_load_pickle(data: bytes, source: str = "<checkpoint>") -> Any:
    """Unpickle `data` with the restricted unpickler (see module docstring)."""
    return RestrictedUnpickler(io.BytesIO(data), source=source).load()


def _pure_path(flavour: type) -> Any:
    # Old pSp-family files may keep pathlib paths in `opts`: rebuilt as pure paths (no file-system access),
    # from strings only.
    def make(*parts):
        if not all(isinstance(p, str) for p in parts):
            raise UnsafeCheckpointError("refusing a pathlib path built from non-strings")
        return flavour(*parts)

    return make


# What torch files add to the allow-list: training options (`argparse.Namespace`: rosinality's `args`,
# pSp/e4e/ReStyle `opts`) and paths inside them.
_TORCH_FILE_EXTRA: dict[tuple[str, str], Any] = {
    ("argparse", "Namespace"): argparse.Namespace,
    ("pathlib", "PosixPath"): _pure_path(pathlib.PurePosixPath),
    ("pathlib", "PurePosixPath"): _pure_path(pathlib.PurePosixPath),
    ("pathlib", "WindowsPath"): _pure_path(pathlib.PureWindowsPath),
    ("pathlib", "PureWindowsPath"): _pure_path(pathlib.PureWindowsPath),
}


class _TorchFileUnpickler(pickle.Unpickler):
    """The restricted `find_class` inside `torch.load`; torch supplies `persistent_load` (tensor storages from
    the zip records or the legacy stream), and storage types reach it by name only, never as code."""

    find_class = RestrictedUnpickler.find_class

    def __init__(self, file, source: str = "<checkpoint>", **kwargs):
        super().__init__(file, **kwargs)
        self.source = source
        self.allowed = {**_numpy_allowed(), **_torch_allowed(), **_STUBS, **_TORCH_FILE_EXTRA}


def safe_torch_load(path: str | os.PathLike, source: str | None = None, mmap: bool = False) -> Any:
    """`torch.load(path)` (zip or legacy `torch.save` files) whose unpickler is the restricted one above,
    plus `argparse.Namespace` and pure paths: tensors land on the CPU and nothing in the file executes.
    `mmap` (zip files only): map the tensors instead of reading them, so a caller that needs a few of
    them (an encoder beside a 1024 px generator) reads only those.

    Raises:
        UnsafeCheckpointError: the file names anything else. Other errors (truncated files) as torch raises them.
    """
    src = str(path) if source is None else source

    class Unpickler(_TorchFileUnpickler):
        def __init__(self, file, **kwargs):
            super().__init__(file, src, **kwargs)

    module = types.SimpleNamespace(__name__="stylegan.formats.safe_pickle", Unpickler=Unpickler,
                                   load=lambda f, **kw: Unpickler(f, **kw).load())
    return torch.load(str(path), map_location="cpu", pickle_module=module, weights_only=False, mmap=mmap)
