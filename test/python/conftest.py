"""A real sidecar (the built CLI) with a real Jupyter server, for the keep-awake tests.

The idle timeout is seconds long (from the test config), so every test can
outlive it. Build first (`npm run build`) and install the package into
.venv (`bash scripts/setup.sh` does both): kernels import workspace_utils
from there.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Callable, Optional

import pytest
import websocket  # websocket-client: a dependency of jupyter_server

REPO = Path(__file__).resolve().parents[2]
CLI = REPO / "sidecar" / "bin" / "gpu-workspace.js"
TOKEN = "pytest-token-0123456789abcdef"
TIMEOUT_MINUTES = 0.2  # 12 s
HEARTBEAT_SECONDS = 1
START_TIMEOUT_S = 120


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what: str, check: Callable[[], Any], timeout: float = 30, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    last: Optional[BaseException] = None
    while True:
        try:
            value = check()
            if value:
                return value
        except Exception as err:  # noqa: BLE001 - kept to explain a timeout
            last = err
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}" + (f": {last}" if last else ""))
        time.sleep(interval)


class Workspace:
    def __init__(self, port: int, root: Path):
        self.port = port
        self.root = root
        self.home = root / "home"
        self.origin = f"http://127.0.0.1:{port}/"
        self.kernel_token = ""

    def api(self, method: str, route: str, body: Any = None, token: str = TOKEN) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        # A route starting with "/" is Jupyter's (through the front door), else the sidecar API's.
        url = f"{self.origin}{route[1:]}" if route.startswith("/") else f"{self.origin}gpu-workspace/api/v1/{route}"
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Authorization", f"token {token}")
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as res:
                return res.status, json.loads(res.read() or b"null")
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"null")

    def idle(self) -> dict:
        status, body = self.api("GET", "status")
        assert status == 200, body
        return body["idle"]

    def status(self) -> dict:
        return self.api("GET", "status")[1]

    def awake(self) -> None:
        """Running, with a fresh idle clock."""
        if self.idle()["state"] == "stopped":
            self.api("POST", "server/start", {})
            wait_for("the workspace running", lambda: self.status()["jupyter"]["state"] == "running" and self.idle()["state"] != "stopped", START_TIMEOUT_S)
        self.api("POST", "activity", {})

    def kernel_env(self) -> dict:
        env = dict(os.environ)
        env["GPU_WORKSPACE_URL"] = self.origin
        env["GPU_WORKSPACE_TOKEN"] = self.kernel_token
        return env


class Kernel:
    """A kernel of the workspace, driven over its WebSocket as JupyterLab does."""

    def __init__(self, ws: Workspace):
        self.workspace = ws
        status, body = ws.api("POST", "/api/kernels", {"name": "python3"})
        assert status == 201, body
        self.id = body["id"]
        self.conn = websocket.create_connection(
            f"ws://127.0.0.1:{ws.port}/api/kernels/{self.id}/channels?token={TOKEN}", timeout=120
        )
        self.lock = threading.Lock()

    def run(self, code: str, timeout: float = 120) -> str:
        """Runs code and returns its stdout; raises with the traceback if it failed."""
        with self.lock:
            msg_id = uuid.uuid4().hex
            session = uuid.uuid4().hex
            self.conn.send(json.dumps({
                "header": {"msg_id": msg_id, "msg_type": "execute_request", "session": session, "username": "t", "date": "", "version": "5.3"},
                "parent_header": {}, "metadata": {}, "channel": "shell",
                "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {}, "allow_stdin": False, "stop_on_error": True},
            }))
            out, reply, idle = [], None, False
            deadline = time.monotonic() + timeout
            while not (reply and idle):
                self.conn.settimeout(max(0.1, deadline - time.monotonic()))
                msg = json.loads(self.conn.recv())
                if msg.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind = msg["header"]["msg_type"]
                if kind == "stream" and msg["content"]["name"] == "stdout":
                    out.append(msg["content"]["text"])
                elif kind == "execute_reply":
                    reply = msg["content"]
                elif kind == "status" and msg["content"]["execution_state"] == "idle":
                    idle = True
            if reply["status"] != "ok":
                raise AssertionError("\n".join(reply.get("traceback", [])) or str(reply))
            return "".join(out)

    def close(self) -> None:
        with self.lock:
            self.conn.close()
        self.workspace.api("DELETE", f"/api/kernels/{self.id}")


@pytest.fixture(scope="session")
def workspace():
    if not (REPO / "sidecar" / "dist" / "cli" / "main.js").exists():
        pytest.fail("The sidecar is not built: run `npm run build` (or `bash scripts/setup.sh`) first.")
    root = Path(tempfile.mkdtemp(prefix="gpu-workspace-pytest-"))
    (root / "home").mkdir()
    config = root / "config.json"
    config.write_text(json.dumps({
        "idle": {"timeout_minutes": TIMEOUT_MINUTES, "warning_minutes": 0.05},
        "keep_awake": {"heartbeat_seconds": HEARTBEAT_SECONDS},
    }))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GPU_WORKSPACE_")}
    env["PATH"] = f"{REPO / '.venv' / 'bin'}:{env.get('PATH', '')}"
    proc = subprocess.Popen(
        ["node", str(CLI), "serve", "--port", str(port), "--home", str(root / "home"), "--state-dir", str(root / "state"), "--token", TOKEN, "--config", str(config)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    ready_line = f"127.0.0.1:{port}/lab?token={TOKEN}"
    lines: list[str] = []

    def read_stdout() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)

    threading.Thread(target=read_stdout, daemon=True).start()
    threading.Thread(target=lambda: proc.stderr and proc.stderr.read(), daemon=True).start()
    try:
        wait_for("the sidecar to be ready", lambda: proc.poll() is not None or any(ready_line in l for l in lines), START_TIMEOUT_S)
        assert proc.poll() is None, f"the sidecar exited: {''.join(lines)}"
        ws = Workspace(port, root)
        kernel = Kernel(ws)
        try:
            ws.kernel_token = kernel.run("import os; print(os.environ['GPU_WORKSPACE_TOKEN'], end='')")
            assert kernel.run("import os; print(os.environ['GPU_WORKSPACE_URL'], end='')") == ws.origin
        finally:
            kernel.close()
        yield ws
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def kernel(workspace: Workspace):
    workspace.awake()
    k = Kernel(workspace)
    try:
        yield k
    finally:
        k.close()
