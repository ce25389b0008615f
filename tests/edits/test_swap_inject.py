"""`inject` (edits.swap.inject): the network against its formula in float64, training on a tiny generator's
synthetic pairs, the registry and Swapper (the identity embedded from its aligned image), the CLI, bad inputs."""
from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

from conftest import make_tiny_G, mapped_ws
from edits.swap import SwapUntrainedError, Swapper, swap
from edits.swap import data as swap_data
from edits.swap.inject import InjectConfig, InjectNet, embedder_for
from edits.swap.train import SwapTrainConfig, head_embeddings, new_network, train
from sgtcore import modelio, registry
from stylegan.images import from_uint8


def _random_net(num_ws=4, w_dim=6, e=5, seed=0) -> InjectNet:
    torch.manual_seed(seed)
    net = InjectNet(InjectConfig(num_ws, w_dim, e, hidden=7), w_avg=torch.randn(w_dim), w_scale=1.3)
    with torch.no_grad():
        for p in (net.w2, net.b2, net.b1):
            p.normal_(0, 0.3)
    return net


def test_untrained_inject_returns_the_attribute_code():
    net = InjectNet(InjectConfig(4, 6, 5), w_avg=torch.randn(6), w_scale=2.0)
    att = torch.randn(3, 4, 6)
    torch.testing.assert_close(net(torch.randn(3, 5), att), att, rtol=0, atol=1e-6)


def test_forward_is_the_adain_formula_in_float64():
    net = _random_net()
    e, att = torch.randn(2, 5, dtype=torch.float64), torch.randn(2, 4, 6, dtype=torch.float64)
    w1, b1, w2, b2 = (p.detach().double() for p in (net.w1, net.b1, net.w2, net.b2))
    w_avg, s = net.w_avg.double(), float(net.w_scale)
    en = e / e.norm(dim=1, keepdim=True)
    h = torch.nn.functional.leaky_relu(en @ w1 + b1, 0.2)
    want = torch.empty_like(att)
    for r in range(4):
        gb = h @ w2[r] + b2[r]
        gamma, beta = gb[:, :6], gb[:, 6:]
        want[:, r] = w_avg + s * (((att[:, r] - w_avg) / s) * (1 + gamma) + beta)
    torch.testing.assert_close(net(e.float(), att.float()).double(), want, rtol=1e-5, atol=1e-5)


def test_bad_shapes_and_embedders_are_refused():
    net = _random_net()
    with pytest.raises(ValueError, match=r"identity embedding must be \[N, 5\] \(the oracle's, as in training\).*"
                                         r"another output size"):
        net(torch.randn(2, 7), torch.randn(2, 4, 6))
    with pytest.raises(ValueError, match=r"attribute ws must be \[N, 4, 6\]"):
        net(torch.randn(2, 5), torch.randn(2, 3, 6))
    with pytest.raises(ValueError, match="embedder must be one of"):
        InjectNet(InjectConfig(4, 6, 5, embedder="judge"))
    with pytest.raises(ValueError, match="pass it \\(identity_net="):
        embedder_for(InjectConfig(4, 6, 5, embedder="identity_net"))
    from synthetic import judge

    class FakeJudge(torch.nn.Module):
        never_a_loss = True

        def embed(self, x):
            return x.flatten(1)
    assert judge.Judge.never_a_loss
    with pytest.raises(ValueError, match="identity judge"):  # the judge is never an input to anything trained
        embedder_for(InjectConfig(4, 6, 5, embedder="identity_net"), FakeJudge())


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    G = make_tiny_G(0)
    return G, swap_data.build(G, 4, 24, tmp_path_factory.mktemp("d") / "d.npz", seed=3, steps=2, progress=False)


def _rec_loss(G, net, data, emb) -> float:
    from inversion.losses import make_loss

    with torch.no_grad():
        i, j = data.pairs[:, 0], data.pairs[:, 1]
        img = G.synthesis(net(emb[torch.from_numpy(i)], data.ws[j]), noise={k: v[j] for k, v in data.noise.items()})
        truth = torch.cat([from_uint8(x.copy()) for x in data.truth])
        return float(make_loss("l2+msssim")(img, truth).mean())


def test_training_puts_the_identity_in_and_the_network_round_trips(tiny_data, tmp_path):
    from inversion.identity_term import oracle_identity

    G, data = tiny_data
    emb = head_embeddings(data, oracle_identity())
    assert emb.shape == (data.heads, emb.shape[1]) and torch.allclose(emb.norm(dim=1), torch.ones(data.heads))
    before = _rec_loss(G, new_network(G, data, "inject", embed_dim=emb.shape[1]), data, emb)
    cfg = SwapTrainConfig(method="inject", steps=60, batch=8, lr=3e-3, noise=0.0, save_every=30)
    net = train(G, data, cfg, tmp_path / "log", progress=False)
    after = _rec_loss(G, net, data, emb)
    assert after < 0.9 * before, (before, after)
    modelio.save(net, tmp_path / "inject", generator=G)
    back = modelio.load(tmp_path / "inject", expect="InjectNet", generator=G)
    a, b = mapped_ws(G, 2), mapped_ws(G, 3)
    torch.testing.assert_close(back(emb[:1], b), net(emb[:1], b))
    registry.register("swap", "tiny_inject", tmp_path / "inject")
    try:
        swapper = Swapper(G, "inject")
        image = from_uint8(data.images[0].copy())
        with torch.no_grad():
            want = net(oracle_identity().embed(image), b)
            torch.testing.assert_close(swapper.mix(a, b, image), want)  # embedded from the aligned image
            rendered = G.synthesis(a, noise_mode="const")  # no image: G's render of the identity's code
            torch.testing.assert_close(swapper.mix(a, b), net(swapper.embedder.embed(rendered), b))
        with pytest.raises(ValueError, match="leave split unset"):
            Swapper(G, "inject", split=2)
        r = swap(a, b, "inject", G)
        assert r.image.shape == (1, 3, G.img_resolution, G.img_resolution) and r.method == "inject"
    finally:
        registry.unregister("swap", "tiny_inject")


def test_untrained_inject_says_how_to_train_it():
    G = make_tiny_G(2)
    with pytest.raises(SwapUntrainedError, match="sgt train-swap --method inject"):
        swap(mapped_ws(G, 1), mapped_ws(G, 2), "inject", G)


def test_cli_trains_and_swaps_with_inject(tmp_path, tiny_data):
    from demos.cli import main as sgt

    G, data = tiny_data
    G_dir = tmp_path / "G"
    modelio.save(G, G_dir)
    data.save(tmp_path / "d.npz")
    runner = CliRunner()
    res = runner.invoke(sgt, ["train-swap", "--method", "inject", "--network", str(G_dir), "--data",
                              str(tmp_path / "d.npz"), "--heads", "4", "--pairs", "24", "--seed", "3", "--invert-steps", "2", "--steps", "2",
                              "--batch", "4", "--out", str(tmp_path / "inj")])
    assert res.exit_code == 0, res.output
    assert modelio.read_config(tmp_path / "inj")["class_name"] == "InjectNet"
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    import stylegan

    stylegan.save_ws(a, mapped_ws(G, 1))
    stylegan.save_ws(b, mapped_ws(G, 2))
    res = runner.invoke(sgt, ["swap", "--identity", str(a), "--attribute", str(b), "--network", str(G_dir), "--method",
                              "inject", "--swap-net", str(tmp_path / "inj"), "--outdir", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "o" / "swapped.png").exists() and "(inject)" in res.output
    res = runner.invoke(sgt, ["eval-swap", "--network", str(G_dir), "--ids", "2", "--attributes", "1", "--method", "inject",
                              "--swap-net", str(tmp_path / "inj"), "--invert-steps", "1", "--validation"])
    assert res.exit_code == 0 and any(line.startswith("inject ") for line in res.output.splitlines()), res.output
    res = runner.invoke(sgt, ["swap", "--identity", str(a), "--attribute", str(b), "--network", str(G_dir), "--method",
                              "lcr", "--identity-net", str(a), "--outdir", str(tmp_path / "o2")])
    assert res.exit_code != 0 and "--identity-net is for --method inject" in res.output
    assert not (tmp_path / "o2").exists()
    for entry in registry.entries("swap"):
        if not entry.shipped:
            registry.unregister("swap", entry.name)
