"""Two CPU processes on loopback with gloo end with identical weights."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap

import torch

SCRIPT = textwrap.dedent("""
    import os, sys, torch
    import bridge
    from bridge.training import distributed

    assert distributed.setup("gloo")
    net = bridge.load_model("[(input 8 :id :data) (linear->relu 16) (linear 3)"
                            " (softmax :id :labels)]", seed=0)
    generator = torch.Generator().manual_seed(0)
    labels = torch.arange(125) % 3  # 125: the two shards need wrapping to be equal
    data = {"data": torch.randn(125, 8, generator=generator) + labels[:, None].float(),
            "labels": labels}
    history = bridge.train(net, data, epochs=2, batch_size=10, seed=1,
                           optimizer="(sgd :learning-rate 0.05)", log=lambda _: None)
    flat = torch.cat([p.detach().reshape(-1) for p in net.parameters()])
    rank = distributed.rank()
    with open(os.path.join(sys.argv[1], f"rank{rank}.bin"), "wb") as out:
        out.write(flat.numpy().tobytes())
    distributed.teardown()
""")


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
         "--master-addr", "127.0.0.1", "--master-port", str(free_port()), str(script), str(tmp_path)],
        capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    first = torch.frombuffer(bytearray((tmp_path / "rank0.bin").read_bytes()),
                             dtype=torch.float32)
    second = torch.frombuffer(bytearray((tmp_path / "rank1.bin").read_bytes()),
                              dtype=torch.float32)
    assert first.numel() == 8 * 16 + 16 + 16 * 3 + 3
    assert torch.equal(first, second)
