"""DistributedDataParallel: two CPU processes (gloo) train a few steps and stay identical."""
import os

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from test_train import _cfg, write_images


def _worker(rank: int, world: int, init_file: str, data: str, out: str, result_dir: str) -> None:
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    from stylegan.train.loop import train

    # rank 0 alone writes checkpoints, so each rank's live networks are captured after the last step
    nets = {}

    def grab(step, live):
        nets.update({k: {n: v.detach().clone() for n, v in net.state_dict().items()} for k, net in live.items()})

    train(_cfg(data, out, steps=3, snap_every=3, batch=8, r1_interval=2, pl_interval=2), on_step_end=grab)
    torch.save(nets, os.path.join(result_dir, f"rank{rank}.pt"))
    dist.destroy_process_group()


def test_two_process_ddp_replicas_stay_identical(tmp_path):
    data = write_images(tmp_path / "data", n=8)
    mp.spawn(_worker, args=(2, str(tmp_path / "init"), str(data), str(tmp_path / "run"), str(tmp_path)), nprocs=2,
             join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert set(r0) == set(r1) == {"G", "G_ema", "D"}
    for name in ("G", "G_ema", "D"):
        for k in r0[name]:
            assert torch.equal(r0[name][k], r1[name][k]), (name, k)
    # They trained: weights moved away from the (shared) initialisation.
    from stylegan.train.loop import build_networks

    G0, _D0 = build_networks(_cfg(data, tmp_path / "x", 1, 1), 16, use_amp=False)
    assert not torch.equal(G0.state_dict()["synthesis.b16.conv1.weight"], r0["G"]["synthesis.b16.conv1.weight"])
    # rank 0's checkpoint holds the same G_ema
    from stylegan import load_pretrained

    saved = load_pretrained(tmp_path / "run" / "checkpoints" / "step-0000003" / "G_ema").state_dict()
    for k, v in saved.items():
        assert torch.equal(v, r0["G_ema"][k]), k
