"""Our discriminator against the independent NVlabs transcription (tests/reference/nvlabs_ref.py):
logits and every block's features to 1e-5, with and without conv_clamp, across minibatch-std groupings."""
import pytest
import torch
from reference import nvlabs_ref

import stylegan

D_KW = dict(img_resolution=32, channel_base=512, channel_max=32)


def _pair(conv_clamp=None, group_size=4, num_channels=1, seed=0):
    p = nvlabs_ref.init_d_params(**D_KW, mbstd_num_channels=num_channels, seed=seed)
    D = stylegan.Discriminator(**D_KW, conv_clamp=conv_clamp, mbstd_group_size=group_size,
                               mbstd_num_channels=num_channels).eval()
    sd = D.state_dict()
    assert set(p) <= set(sd) and all(k.endswith("resample_filter") for k in set(sd) - set(p))
    D.load_state_dict({**sd, **p})
    return D, p


def _check(D, p, n, conv_clamp=None, group_size=4, num_channels=1, seed=0):
    img = torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    with torch.no_grad():
        logits, feats = D(img, return_features=True)
    ref_logits, ref_feats = nvlabs_ref.discriminator(p, img, conv_clamp, group_size, num_channels)
    assert logits.shape == (n, 1)
    assert (logits - ref_logits).abs().max().item() <= 1e-5
    assert feats.keys() == ref_feats.keys()
    for res in feats:
        assert (feats[res] - ref_feats[res]).abs().max().item() <= 1e-5, res
    return ref_logits


@pytest.mark.parametrize("conv_clamp", [None, 0.5])
def test_discriminator_matches_nvlabs_reference(conv_clamp):
    D, p = _pair(conv_clamp)
    logits = _check(D, p, 8, conv_clamp)
    if conv_clamp is not None:  # the clamp must actually bite, or this case tests nothing
        unclamped, _ = nvlabs_ref.discriminator(p, torch.rand(8, 3, 32, 32, generator=torch.Generator().manual_seed(0))
                                                * 2 - 1)
        assert (logits - unclamped).abs().max() > 1e-3


@pytest.mark.parametrize("n,group_size,num_channels", [
    (8, 4, 1),   # two groups, interleaved members {j, j + 2, j + 4, j + 6}
    (2, 4, 1),   # group larger than the batch: one group of 2
    (4, 1, 1),   # group of one: std = sqrt(1e-8) everywhere
    (6, 2, 1),   # three groups of two
    (4, 4, 2),   # two std channels (channel groups)
    (1, 4, 1),   # a single image
])
def test_minibatch_std_edge_cases(n, group_size, num_channels):
    D, p = _pair(group_size=group_size, num_channels=num_channels, seed=1)
    _check(D, p, n, group_size=group_size, num_channels=num_channels, seed=2)



@pytest.mark.parametrize("n", [4, 8, 2])
def test_rosinality_discriminator_file_matches_rosinality_reference(tmp_path, n):
    """A rosinality training snapshot's `d`, loaded by us, against the rosinality transcription."""
    from reference import rosinality_ref

    chans = {4: 32, 8: 32, 16: 16, 32: 8}
    rd = rosinality_ref.init_d_params(32, chans, seed=3)
    torch.save({"g_ema": {}, "d": rd}, tmp_path / "snap.pt")
    D = stylegan.load_discriminator(tmp_path / "snap.pt").eval()
    img = torch.rand(n, 3, 32, 32, generator=torch.Generator().manual_seed(4)) * 2 - 1
    with torch.no_grad():
        logits, feats = D(img, return_features=True)
    ref_logits, ref_feats = rosinality_ref.discriminator(rd, img)
    assert (logits - ref_logits).abs().max().item() <= 1e-5
    assert feats.keys() == ref_feats.keys()
    for res in feats:
        assert (feats[res] - ref_feats[res]).abs().max().item() <= 1e-5, res
