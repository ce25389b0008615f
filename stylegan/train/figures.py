"""Figures for the docs: a sample grid and style-mixing grids (which layers carry what).

    python -m stylegan.train.figures --network synthheads --outdir docs --prefix default_model
"""
from __future__ import annotations

from pathlib import Path

import click
import torch

from sgtcore.registry import DEFAULT_GENERATOR
from stylegan.train.samples import save_grid
from stylegan.utils import parse_range, seed_to_z


@torch.no_grad()
def sample_grid(G: torch.nn.Module, seeds: list[int], psi: float = 0.7) -> torch.Tensor:
    """Images `[len(seeds), 3, R, R]` for `seeds` (official seed -> z convention)."""
    z = torch.cat([seed_to_z(s, G.z_dim) for s in seeds])
    return G(z, truncation_psi=psi, noise_mode="const")


@torch.no_grad()
def style_mixing_grid(G: torch.nn.Module, row_seeds: list[int], col_seeds: list[int], layers: range,
                      psi: float = 0.7) -> tuple[torch.Tensor, int]:
    """NVlabs-style mixing table: a blank corner, the column sources on top, the row sources on the left,
    and cell (r, c) = row r's ws with `layers` taken from column c. Returns images and the column count."""
    def ws_of(seeds):
        return G.mapping(torch.cat([seed_to_z(s, G.z_dim) for s in seeds]), truncation_psi=psi)

    rows, cols = ws_of(row_seeds), ws_of(col_seeds)
    idx = list(layers)
    cells = [torch.full((1, G.img_channels, G.img_resolution, G.img_resolution), 1.0)]  # white corner
    cells.append(G.synthesis(cols, noise_mode="const"))
    for r in range(len(row_seeds)):
        mixed = rows[r:r + 1].repeat(len(col_seeds), 1, 1)
        mixed[:, idx] = cols[:, idx]
        cells.append(G.synthesis(rows[r:r + 1], noise_mode="const"))
        cells.append(G.synthesis(mixed, noise_mode="const"))
    return torch.cat(cells), len(col_seeds) + 1


@click.command(context_settings={"show_default": True})
@click.option("--network", default=DEFAULT_GENERATOR)
@click.option("--outdir", type=click.Path(file_okay=False), default="docs")
@click.option("--prefix", default="default_model")
@click.option("--seeds", default="0-31", help="Sample grid seeds.")
@click.option("--psi", type=float, default=0.7)
def main(network, outdir, prefix, seeds, psi):
    """Write PREFIX_samples.png, PREFIX_mixing_coarse.png and PREFIX_mixing_fine.png to OUTDIR."""
    import stylegan

    G = stylegan.load(network)
    out = Path(outdir)
    seed_list = parse_range(seeds)
    save_grid(sample_grid(G, seed_list, psi), out / f"{prefix}_samples.png", cols=8)
    n = G.num_ws
    coarse = range(0, min(4, n))  # 4-8 px
    fine = range(max(n - 4, 0), n)  # the two highest resolutions
    for name, layers in (("coarse", coarse), ("fine", fine)):
        imgs, cols = style_mixing_grid(G, [100, 101, 102, 103, 104], [200, 201, 202, 203, 204, 205], layers, psi)
        save_grid(imgs, out / f"{prefix}_mixing_{name}.png", cols=cols)
    click.echo(f"wrote {prefix}_samples.png, {prefix}_mixing_coarse.png, {prefix}_mixing_fine.png to {out}")


if __name__ == "__main__":
    main()
