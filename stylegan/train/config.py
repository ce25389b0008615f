"""Training options (one dataclass: written into every checkpoint so `--resume` can check them)."""
from __future__ import annotations

from dataclasses import dataclass, field

from stylegan.netconfig import ConfigDict


@dataclass
class TrainConfig(ConfigDict):
    """Everything a run needs. Defaults follow StyleGAN2 (NVlabs 'auto' config) scaled for small models.

    Sizes: `batch` is the global batch (split over ranks); `total_kimg` thousands of real images shown.
    """

    strict_keys = False  # a checkpoint's options may include keys this version no longer has

    data: str = ""
    outdir: str = "runs/train"
    resolution: int | None = None  # None: from the data
    resize: bool = False
    max_images: int | None = None  # train on the first N images only (rest = held out)
    # networks
    z_dim: int = 128
    w_dim: int = 128
    mapping_layers: int = 2
    channel_base: int = 4096
    channel_max: int = 128
    channels: dict[int, int] | None = None  # explicit {res: channels} for G and D, overrides base/max
    mbstd_group_size: int = 4
    # optimisation
    batch: int = 16
    total_kimg: float = 100.0
    g_lr: float = 0.0025
    d_lr: float = 0.0025
    betas: tuple[float, float] = (0.0, 0.99)
    r1_gamma: float | None = None  # None: 0.0002 * R^2 / batch (NVlabs heuristic)
    r1_interval: int = 16
    pl_weight: float = 2.0
    pl_interval: int = 4
    pl_batch_shrink: int = 2
    pl_decay: float = 0.01
    style_mixing: float = 0.9
    ema_kimg: float | None = None  # None: batch * 10 / 32
    ema_rampup: float | None = 0.05
    amp: bool = True  # bf16 autocast of G and D on CUDA (G's fp16 blocks too); ignored on CPU
    # bookkeeping
    seed: int = 0
    snap_kimg: float = 4.0
    snap_minutes: float | None = None  # also snapshot when this much wall time passed since the last
    keep_snapshots: int = 3
    grid_size: int = 8  # sample grid is grid_size x grid_size
    log_every: int = 10  # steps between lines in stats.jsonl
    device: str = "auto"
    threads: int | None = None  # torch.set_num_threads per process
    command: str = ""  # the command line, recorded in exported metadata
    init_from: str | None = None  # warm start from a model directory (see `stylegan.train.warm_start`)
    grow_from: str | None = None  # warm start from a model of half the resolution (`warm_start.grow_start`)
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._normalise_channels()
        self.betas = tuple(self.betas)

    def gamma_for(self, resolution: int) -> float:
        return self.r1_gamma if self.r1_gamma is not None else 0.0002 * resolution ** 2 / self.batch

    def ema_kimg_value(self) -> float:
        return self.ema_kimg if self.ema_kimg is not None else self.batch * 10 / 32

    def total_steps(self) -> int:
        return max(1, round(self.total_kimg * 1000 / self.batch))

    def snap_steps(self) -> int:
        return max(1, round(self.snap_kimg * 1000 / self.batch))

    # Options that change the trajectory: a resumed run must agree on these.
    TRAJECTORY_KEYS = ("z_dim", "w_dim", "mapping_layers", "channel_base", "channel_max", "channels", "batch",
                       "g_lr", "d_lr", "betas", "r1_gamma", "r1_interval", "pl_weight", "pl_interval",
                       "style_mixing", "ema_kimg", "ema_rampup", "seed", "mbstd_group_size", "max_images")
