"""``agentscale chat`` as a person uses it: typed into a real terminal (tmux send-keys) and read off the
screen (capture-pane). Two questions, one turn cancelled with Ctrl-C, settings changed, quit."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tmux_bin() -> str:
    if shutil.which("tmux") is None:
        subprocess.run([str(ROOT / "scripts" / "test-deps.sh")], check=False)
    found = shutil.which("tmux")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("tmux is missing and scripts/test-deps.sh could not install it")
        pytest.skip("tmux is missing: run scripts/test-deps.sh as root")
    return found


class Terminal:
    """A tmux session on a private tmux server (``-L``), 160x50."""

    def __init__(self, tmux: str, command: str) -> None:
        self.base = [tmux, "-L", f"agentscale-test-{os.getpid()}"]
        shell = f"{command}; echo \"[exit status $?]\"; sleep 120"
        self.tmux("new-session", "-d", "-s", "chat", "-x", "160", "-y", "50", "bash", "-c", shell)

    def tmux(self, *args: str) -> str:
        return subprocess.run([*self.base, *args], capture_output=True, text=True, check=True).stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "chat", "-S", "-300")

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", "chat", "-l", text)
        self.tmux("send-keys", "-t", "chat", "Enter")

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "chat", *keys)

    def wait_for(self, text: str, *, count: int = 1, timeout: float = 90.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if screen.count(text) >= count:
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} (x{count}) never showed; the screen:\n{screen}")
            time.sleep(0.2)

    def close(self) -> None:
        subprocess.run([*self.base, "kill-server"], capture_output=True)


def test_a_chat_session_in_a_terminal(tmux_bin, scripted):
    command = shlex.join([
        sys.executable, "-m", "agentscale", "chat", "--model", "hosted_vllm/test-model",
        "--api-base", scripted.api_base, "-n", "3", "--timeout", "60",
    ])  # fmt: skip
    term = Terminal(tmux_bin, f"cd {shlex.quote(str(ROOT))} && {command}")
    try:
        term.wait_for("you>")
        assert "chat: best_of_n, n=3" in term.screen()

        # 1. a question: three rollouts, the chosen answer, a summary line
        term.type("What is the capital of France?")
        screen = term.wait_for("you>", count=2)
        assert "answer (#0 of 3)" in screen and "hello world" in screen
        assert "3/3 candidates ok" in screen
        assert len(scripted.requests) == 3

        # 2. a slow turn, cancelled with Ctrl-C while its rollouts are generating
        scripted.server.slow_seconds = 60
        scripted.server.default = "slow"
        term.type("Tell me a very long story")
        term.wait_for("generating")  # the live view: rollouts in flight with their latest step
        term.keys("C-c")
        screen = term.wait_for("turn cancelled")
        assert "its model requests were closed" in screen
        deadline = time.monotonic() + 15
        while len(scripted.call(lambda s: list(s.disconnects))) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(scripted.call(lambda s: list(s.disconnects))) == 3  # every request of the turn hung up
        term.wait_for("you>", count=3)

        # 3. settings changed between turns
        term.type("/n 2")
        term.wait_for("n = 2 (from the next turn)")
        term.type("/strategy vote")
        term.wait_for("strategy = majority (from the next turn)")
        term.type("/help")
        term.wait_for("/budget tokens N")

        # 4. the second question: two rollouts under the vote, with the history of the first turn
        scripted.server.default = "ok"
        before = len(scripted.requests)
        term.type("And of Spain?")
        screen = term.wait_for("answer (#", count=2)
        assert "majority: 2 of 2 votes for 'hello world'" in term.wait_for("you>", count=7)
        last_turn = scripted.requests[before:]
        assert len(last_turn) == 2
        messages = last_turn[0].body["messages"]
        said = [(m["role"], m["content"]) for m in messages if m["role"] != "system"]
        assert said == [
            ("user", "What is the capital of France?"),
            ("assistant", "hello world"),
            ("user", "And of Spain?"),
        ]  # the cancelled turn left no trace in the conversation

        # 5. quit
        term.type("/quit")
        screen = term.wait_for("[exit status 0]")
        assert "bye" in screen and "Traceback" not in screen
    finally:
        term.close()
