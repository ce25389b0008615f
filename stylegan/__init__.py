"""StyleGAN2 generator and discriminator, fused ops with a pure-PyTorch path, and safe loaders for
NVlabs `.pkl`, rosinality `.pt` and our `config.json + model.safetensors` format."""
from stylegan.discriminator import Discriminator, DiscriminatorConfig
from stylegan.formats.errors import (
    ArchitectureMismatchError, CheckpointError, CorruptCheckpointError, UnknownFormatError, UnsafeCheckpointError,
)
from stylegan.fingerprints import fingerprint, is_shipped
from stylegan.formats.ours import load_pretrained, save_pretrained
from stylegan.formats.rosinality import save_rosinality
from stylegan.generator import Generator, GeneratorConfig
from stylegan.latents import LatentFileError, Latents, load_ws, save_ws
from stylegan.loading import discriminator_path, find_discriminator, load, load_discriminator, register, registered_names
from stylegan.utils import seed_to_z

__all__ = [
    "Generator", "GeneratorConfig", "Discriminator", "DiscriminatorConfig", "load", "load_discriminator", "find_discriminator", "discriminator_path",
    "load_pretrained", "save_pretrained", "save_rosinality", "register", "registered_names", "seed_to_z", "fingerprint",
    "is_shipped",
    "CheckpointError", "UnsafeCheckpointError", "CorruptCheckpointError", "UnknownFormatError",
    "ArchitectureMismatchError", "save_ws", "load_ws", "Latents", "LatentFileError",
]
