"""StyleGAN2 generator and discriminator, fused ops with a pure-PyTorch path, and safe loaders for
NVlabs `.pkl`, rosinality `.pt` and our `config.json + model.safetensors` format."""
from stylegan.convert import save_rosinality
from stylegan.discriminator import Discriminator, DiscriminatorConfig
from stylegan.formats.errors import (
    ArchitectureMismatchError, CheckpointError, CorruptCheckpointError, UnknownFormatError, UnsafeCheckpointError,
)
from stylegan.formats.ours import load_pretrained, save_pretrained
from stylegan.generator import Generator, GeneratorConfig
from stylegan.loading import load, load_discriminator, register, registered_names
from stylegan.utils import seed_to_z

__all__ = [
    "Generator", "GeneratorConfig", "Discriminator", "DiscriminatorConfig", "load", "load_discriminator",
    "load_pretrained", "save_pretrained", "save_rosinality", "register", "registered_names", "seed_to_z",
    "CheckpointError", "UnsafeCheckpointError", "CorruptCheckpointError", "UnknownFormatError",
    "ArchitectureMismatchError",
]
