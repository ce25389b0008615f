"""`stylegan.load(source)`: one entry point for every checkpoint format, auto-detected."""
from __future__ import annotations

import pickle
import warnings
import zipfile
from pathlib import Path

import torch

from sgtcore import artefacts, registry
from stylegan.discriminator import Discriminator
from stylegan.formats import nvlabs, rosinality, tf_legacy
from stylegan.formats.errors import (
    ArchitectureMismatchError, CheckpointError, CorruptCheckpointError, UnknownFormatError, UnsafeCheckpointError,
)
from stylegan.formats.infer import build_discriminator, build_generator
from stylegan.formats.ours import DISCRIMINATOR_SUBDIR, load_pretrained, read_config
from stylegan.formats.safe_pickle import PersistentStub, TFNetworkStub, safe_load_pickle, safe_torch_load
from stylegan.generator import Generator

# The shipped generators (found by `sgtcore.registry`, which scans this folder).
_PKG_WEIGHTS = Path(__file__).parent / "weights"


def register(name: str, directory: str | Path) -> None:
    """Make `stylegan.load(name)` load `directory` (any source `load` reads), via `sgtcore.registry`."""
    registry.register("generator", name, directory)


def registered_names() -> list[str]:
    """Names `stylegan.load` knows: the shipped generators and the registered ones."""
    return registry.names("generator")


def _resolve(source: str | Path) -> Path:
    if isinstance(source, str) and source in registry.names("generator"):
        return registry.find("generator", source)
    path = Path(source)
    if not path.exists():
        hint = f"; registered names: {', '.join(registered_names()) or 'none'}"
        raise FileNotFoundError(f"no checkpoint at {source!s}{hint}")
    return path


def _read_torch_file(path: Path, mmap: bool = False) -> dict:
    """A torch file (rosinality `.pt`, pSp/e4e/ReStyle checkpoints, zip or legacy) read by the restricted
    unpickler (`safe_pickle.safe_torch_load`): tensors, plain containers, `argparse.Namespace` (training
    snapshots keep `args`, encoders `opts`) and pure paths; nothing else is importable. `mmap`: map a
    zip file's tensors instead of reading them all."""
    try:
        return safe_torch_load(path, mmap=mmap)
    except UnsafeCheckpointError:
        raise
    except pickle.UnpicklingError as exc:
        raise CorruptCheckpointError(f"{path}: damaged torch file ({str(exc)[:200]})") from exc
    except (RuntimeError, EOFError, zipfile.BadZipFile) as exc:
        raise CorruptCheckpointError(f"{path}: truncated or damaged torch file ({str(exc)[:200]})") from exc


# torch.save's pre-1.6 (non-zip) files start with its magic number pickled at protocol 2.
_LEGACY_TORCH_MAGIC = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)[:-1]


def _detect(path: Path) -> str:
    if path.is_dir():
        if (path / "config.json").is_file():
            return "ours"
        raise UnknownFormatError(f"{path}: a directory without config.json")
    with open(path, "rb") as fh:
        head = fh.read(len(_LEGACY_TORCH_MAGIC))
    if head[:2] == b"PK" or head == _LEGACY_TORCH_MAGIC:
        return "torch"  # torch.save zip (rosinality .pt), or the pre-1.6 stream format
    if head[:1] == b"\x80":
        return "pickle"  # NVlabs .pkl (protocol 2+); legacy torch.save also starts with a pickle
    if len(head) == 0:
        raise CorruptCheckpointError(f"{path}: empty file")
    raise UnknownFormatError(f"{path}: not a checkpoint we can read (expected an NVlabs .pkl, a rosinality .pt, "
                             "or a model directory with config.json)")


def _read_pickle(path: Path):
    data = path.read_bytes()
    try:
        return safe_load_pickle(data, source=str(path))
    except UnsafeCheckpointError:
        raise
    except (EOFError, pickle.UnpicklingError, ValueError, IndexError, zipfile.BadZipFile) as exc:
        raise CorruptCheckpointError(f"{path}: truncated or damaged pickle ({type(exc).__name__}: {exc})") from exc
    except RuntimeError as exc:
        raise CorruptCheckpointError(f"{path}: damaged tensor data ({str(exc)[:200]})") from exc


def _from_rosinality(obj: dict, path: Path, which: str, device: str | torch.device):
    key = "g_ema" if which == "G" else "d"
    if key not in obj:
        raise ArchitectureMismatchError(f"{path}: rosinality checkpoint without '{key}' (keys: {sorted(obj)})")
    if which == "G":
        sd = rosinality.generator_from_rosinality(obj["g_ema"], obj.get("latent_avg"), str(path))
        if "mapping.w_avg" in sd or "mapping.fc0.bias" not in sd:
            return build_generator(sd, str(path)).to(device)
        # a training snapshot ({g, d, g_ema, g_optim, d_optim, args, ada_aug_p}) keeps no latent_avg;
        # estimated on `device` (a GPU does it in a fraction of a second)
        sd["mapping.w_avg"] = torch.zeros_like(sd["mapping.fc0.bias"])
        return rosinality.fill_w_avg(build_generator(sd, str(path)).to(device), str(path))
    return build_discriminator(rosinality.discriminator_from_rosinality(obj["d"], str(path)), str(path)).to(device)


def _load(source: str | Path, which: str, device: str | torch.device):
    path = _resolve(source)
    fmt = _detect(path)
    if fmt == "ours":
        beside = path / DISCRIMINATOR_SUBDIR  # exported training runs keep D beside G_ema
        if which == "D" and read_config(path).get("class_name") == "Generator" and beside.is_dir():
            path = beside
        net = load_pretrained(path, device)
        want = Generator if which == "G" else Discriminator
        if not isinstance(net, want):
            raise ArchitectureMismatchError(f"{path}: holds a {type(net).__name__}, not a {want.__name__}")
        return net
    if fmt == "torch":
        obj = _read_torch_file(path)
        inner = rosinality.encoder_checkpoint_decoder(obj)
        if inner is not None:  # a pSp / e4e / ReStyle file: its decoder (the encoder: inversion.load_encoder)
            if which != "G":
                raise ArchitectureMismatchError(f"{path}: a pSp/e4e/ReStyle encoder checkpoint; it holds a generator "
                                                "(its decoder) but no image discriminator")
            obj = inner
        if not isinstance(obj, dict) or ("g_ema" not in obj and "d" not in obj):
            what = artefacts.describe(obj)  # another tool's file: say what it is and where it goes
            raise UnknownFormatError(f"{path}: a torch file, but not a rosinality checkpoint ({{g_ema, latent_avg}})"
                                     + (f"; {what}" if what else ""))
        return _from_rosinality(obj, path, which, device)
    obj = _read_pickle(path)
    if isinstance(obj, dict) and ("g_ema" in obj or "d" in obj) and not isinstance(obj.get("G_ema"), PersistentStub):
        return _from_rosinality(obj, path, which, device)  # legacy (non-zip) torch.save of a rosinality file
    net = nvlabs.pick_network(obj, str(path), which)
    if isinstance(net, TFNetworkStub):
        if which != "G":
            raise ArchitectureMismatchError(f"{path}: reading TF discriminators is not supported")
        sd, extra = tf_legacy.generator_state(net, str(path))
        return build_generator(sd, str(path), **extra).to(device)
    if which == "G":
        sd, extra = nvlabs.generator_state(net, str(path))
        return build_generator(sd, str(path), **extra).to(device)
    sd, extra = nvlabs.discriminator_state(net, str(path))
    return build_discriminator(sd, str(path), **extra).to(device)


def load(source: str | Path, device: str | torch.device = "cpu") -> Generator:
    """Load a generator (eval mode, no grad) from any supported source.

    Args:
        source: a registered name (e.g. 'synthheads'), an NVlabs `.pkl` (StyleGAN2-ADA snapshot, stylegan3
            repo StyleGAN2, original TF `(G, D, Gs)`), a rosinality `.pt`, or one of our model directories.
        device: where to put the network.

    Raises:
        UnsafeCheckpointError: the file asks to run code. CorruptCheckpointError: truncated/damaged.
        UnknownFormatError, ArchitectureMismatchError, FileNotFoundError.
    """
    return _load(source, "G", device)


def load_discriminator(source: str | Path, device: str | torch.device = "cpu") -> Discriminator:
    """Like :func:`load`, for the discriminator stored in the same file (NVlabs `D`, rosinality `d`)."""
    return _load(source, "D", device)


#: (generator folder, its config's mtime) -> the generator's fingerprint (loading G once per process per folder)
_FINGERPRINTS: dict[tuple[str, float], str] = {}


def discriminator_path(G: Generator) -> Path | None:
    """Where the discriminator of `G` is saved: the `discriminator/` folder beside a registered generator of our
    format with G's `stylegan.fingerprint`; None when there is none. Only our model folders are looked at (no
    foreign file is opened); each registered generator is fingerprinted once per process (and again if its
    config changes); a damaged one is skipped with a warning (it must not stop every inversion)."""
    from stylegan.fingerprints import fingerprint

    want = fingerprint(G)
    for name in registry.names("generator"):
        try:
            path = registry.find("generator", name)
        except (KeyError, FileNotFoundError, ValueError):
            continue
        if not ((path / DISCRIMINATOR_SUBDIR).is_dir() and (path / "config.json").is_file()):
            continue
        key = (str(path), (path / "config.json").stat().st_mtime)
        if key not in _FINGERPRINTS:
            try:
                _FINGERPRINTS[key] = fingerprint(load_pretrained(path, "cpu"))
            except (CheckpointError, OSError, ValueError, KeyError) as exc:
                warnings.warn(f"{path}: skipped while looking for G's discriminator ({exc})", stacklevel=2)
                _FINGERPRINTS[key] = ""
        if _FINGERPRINTS[key] == want:
            return path / DISCRIMINATOR_SUBDIR
    return None


def find_discriminator(G: Generator) -> Discriminator | None:
    """The discriminator saved beside `G` (`discriminator_path`), freshly loaded on G's device, or None. This is
    how `inversion.project` finds the D-feature loss's network for the shipped models, as it finds their encoder."""
    path = discriminator_path(G)
    return None if path is None else load_pretrained(path, G.w_avg.device).eval()


__all__ = ["load", "load_discriminator", "find_discriminator", "discriminator_path", "register",
           "registered_names"]
