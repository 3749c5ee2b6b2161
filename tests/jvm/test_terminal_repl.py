"""`cortex-bridge repl` driven through tmux as a person types: arrow keys edit the line
(rlwrap), Ctrl-C at an idle prompt drops the line and keeps the REPL, Ctrl-C during a
training returns to the prompt and the network trains again, Ctrl-D exits. Skipped
without tmux (the REPL itself is tested through nREPL and the Clojure suite)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


class Pane:
    def __init__(self, command: str, home: Path):
        self.name = f"cb-{uuid.uuid4().hex[:8]}"
        env = f"env PYTHONPATH={ROOT} HOME={home} CORTEX_BRIDGE_JVM_OPTS=-XX:TieredStopAtLevel=1"
        subprocess.run(["tmux", "new-session", "-d", "-s", self.name, "-x", "160", "-y", "50",
                        f"{env} {command}; echo REPL-EXITED; sleep 60"], check=True)

    def text(self) -> str:
        return subprocess.run(["tmux", "capture-pane", "-p", "-t", self.name, "-S", "-200"],
                              capture_output=True, text=True, check=True).stdout

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=True)

    def wait_for(self, needle: str, timeout: float, after: int = 0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.text()
            if text.count(needle) > after:
                return text
            time.sleep(0.2)
        raise AssertionError(f"{needle!r} did not appear within {timeout} s:\n{self.text()}")

    def close(self) -> None:
        subprocess.run(["tmux", "kill-session", "-t", self.name], check=False)


@pytest.fixture()
def pane(tmp_path):
    terminal = Pane(f"{sys.executable} -m bridge repl", tmp_path)
    yield terminal
    terminal.close()


def test_terminal_repl_edits_interrupts_and_exits(pane):
    pane.wait_for("user=>", 120)
    rlwrapped = shutil.which("rlwrap") is not None
    if rlwrapped:  # arrow keys edit the line: (+ 1 3) becomes (+ 1 2)
        pane.keys("(+ 1 3)", "Left", "BSpace", "2", "Enter")
        text = pane.wait_for("\n3\n", 20)
        assert "^[[D" not in text

    pane.keys("(+ 40 ", "C-c")  # idle Ctrl-C: the line is dropped, the REPL stays
    time.sleep(1.0)
    pane.keys("(* 6 7)", "Enter")
    pane.wait_for("\n42\n", 20)

    pane.keys("(def net (bridge/load-model [(layers/input 2 1 1 :id :x) "
              "(layers/linear 1 :id :y)]))", "Enter")
    pane.wait_for("#'user/net", 20)
    pane.keys("(bridge/train! net (repeat 64 {:x [1 2] :y [3]}) {:epochs 1000000 "
              ":batch-size 1})", "Enter")
    pane.wait_for("epoch   2/1000000", 60)
    began = time.monotonic()
    pane.keys("C-c")
    pane.wait_for("Interrupted: train! interrupted", 5)
    assert time.monotonic() - began < 3.0
    pane.keys("(count (bridge/train! net (repeat 8 {:x [1 2] :y [3]}) {:epochs 2 :log nil}))",
              "Enter")
    text = pane.wait_for("\n2\n", 30)
    assert "REPL-EXITED" not in text

    pane.keys("C-d")
    pane.wait_for("REPL-EXITED", 30)


def test_rlwrap_is_used_only_on_a_terminal(monkeypatch):
    from bridge.cli import jvm as cli

    class Piped:
        def isatty(self):
            return False

    monkeypatch.setattr(sys, "stdin", Piped())
    assert cli.rlwrap_command(["repl"]) is None
    monkeypatch.setenv("CORTEX_BRIDGE_UNDER_RLWRAP", "1")
    assert cli.rlwrap_command(["repl"]) is None
