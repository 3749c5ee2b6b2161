"""Two CPU processes on loopback with gloo (torchrun) end with identical weights — the
weights one process gets with the two batches put together — and only rank 0 writes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap

import pytest
import torch

import bridge
from bridge.training import distributed

NET = "[(input 8 :id :data) (linear->relu 16) (linear 3) (softmax :id :labels)]"
SCRIPT = textwrap.dedent("""
    import sys
    from pathlib import Path

    import torch

    import bridge
    from bridge.training import distributed

    out = Path(sys.argv[1])
    assert distributed.setup("gloo") and distributed.world_size() == 2
    net = bridge.load_model(NET, seed=0)
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(120) % 3
    data = {"data": torch.randn(120, 8, generator=generator) + labels[:, None].float(),
            "labels": labels}
    history = bridge.train(net, data, epochs=2, batch_size=10, seed=1,
                           optimizer="(sgd :learning-rate 0.05)", checkpoint=out / "c.edn",
                           metrics_log=out / "metrics.edn", progress=False)
    flat = torch.cat([p.detach().reshape(-1) for p in net.parameters()])
    (out / f"rank{distributed.rank()}.bin").write_bytes(flat.numpy().tobytes())
    (out / f"loss{distributed.rank()}.txt").write_text(repr(history[-1]["train-loss"]))
    distributed.teardown()
""").replace("NET", repr(NET))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_two_gloo_processes_end_with_identical_weights(tmp_path):
    script = tmp_path / "ddp_train.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
         "--master-addr", "127.0.0.1", "--master-port", str(free_port()), str(script),
         str(tmp_path)],
        capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    ranks = [torch.frombuffer(bytearray((tmp_path / f"rank{r}.bin").read_bytes()),
                              dtype=torch.float32) for r in (0, 1)]
    assert ranks[0].numel() == 8 * 16 + 16 + 16 * 3 + 3
    assert torch.equal(ranks[0], ranks[1])
    # Only rank 0 printed and wrote: one metrics line per epoch, one checkpoint.
    assert len((tmp_path / "metrics.edn").read_text().splitlines()) == 2
    assert bridge.load_model(tmp_path / "c.edn").header["checkpoint"][
        bridge.edn.Keyword("epoch")] == 2
    assert result.stderr.count("epoch   2/2") == 1
    # The train loss is averaged over the ranks: the same number on both.
    assert (tmp_path / "loss0.txt").read_text() == (tmp_path / "loss1.txt").read_text()

    # Two ranks with batches of 10 take the steps one process takes with batches of 20.
    alone = bridge.load_model(NET, seed=0)
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(120) % 3
    data = {"data": torch.randn(120, 8, generator=generator) + labels[:, None].float(),
            "labels": labels}
    bridge.train(alone, data, epochs=2, batch_size=20, seed=1,
                 optimizer="(sgd :learning-rate 0.05)", progress=False, log=lambda _: None)
    flat = torch.cat([p.detach().reshape(-1) for p in alone.parameters()])
    assert torch.allclose(flat, ranks[0], atol=1e-6)


@pytest.mark.parametrize(("count", "drop_last"), [(10, False), (11, False), (11, True),
                                                  (3, False)])
@pytest.mark.parametrize("replicas", [2, 3])
def test_shards_are_cut_as_distributed_sampler_cuts_them(monkeypatch, count, drop_last,
                                                         replicas):
    order = torch.randperm(count, generator=torch.Generator().manual_seed(count))
    monkeypatch.setattr(distributed, "world_size", lambda: replicas)
    for rank in range(replicas):
        monkeypatch.setattr(distributed, "rank", lambda rank=rank: rank)
        sampler = torch.utils.data.DistributedSampler(order.tolist(), num_replicas=replicas,
                                                      rank=rank, shuffle=False,
                                                      drop_last=drop_last)
        expected = [order.tolist()[i] for i in sampler]
        assert distributed.shard(order, drop_last=drop_last).tolist() == expected


def test_alone_everything_is_rank_zero():
    assert not distributed.is_distributed()
    assert distributed.is_rank_zero() and distributed.world_size() == 1
    order = torch.arange(5)
    assert distributed.shard(order) is order
    assert distributed.average(2.5, torch.device("cpu")) == 2.5
    assert distributed.gather(order)[0] is order
    distributed.teardown()  # nothing to leave: no error
