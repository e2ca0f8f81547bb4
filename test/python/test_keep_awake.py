"""workspace_utils and keep-awake against a real sidecar and a real kernel."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

from conftest import HEARTBEAT_SECONDS, TIMEOUT_MINUTES, Kernel, Workspace, wait_for

TIMEOUT_S = TIMEOUT_MINUTES * 60

STATUS_FROM_KERNEL = """
import json, os, urllib.request
def idle_status():
    req = urllib.request.Request(os.environ['GPU_WORKSPACE_URL'] + 'gpu-workspace/api/v1/status',
                                 headers={'Authorization': 'token ' + os.environ['GPU_WORKSPACE_TOKEN']})
    return json.load(urllib.request.urlopen(req))['idle']
"""


def test_a_keep_awake_loop_outlives_the_timeout_and_the_countdown_resumes_after(workspace: Workspace, kernel: Kernel):
    states: list[str] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            states.append(workspace.idle()["state"])
            time.sleep(0.2)

    watcher = threading.Thread(target=watch)
    watcher.start()
    started = time.monotonic()
    try:
        out = kernel.run(
            "import time\nfrom workspace_utils import keep_awake\n"
            f"for i in keep_awake(range({int(TIMEOUT_S) + 4})):\n    time.sleep(1)\nprint('done')"
        )
    finally:
        done.set()
        watcher.join()
    ended = time.time()
    assert out == "done\n"
    assert time.monotonic() - started > TIMEOUT_S, "the loop ran longer than the idle timeout"
    assert "stopped" not in states
    assert "held" in states
    after = workspace.idle()
    assert after["leases"] == []
    assert after["state"] in ("active", "warning")
    deadline = after["deadline"]
    assert deadline is not None
    from datetime import datetime

    assert datetime.fromisoformat(deadline.replace("Z", "+00:00")).timestamp() > ended + TIMEOUT_S - 2, "the clock starts over when the loop ends"


def test_active_session_works_in_a_worker_thread(workspace: Workspace, kernel: Kernel):
    out = kernel.run(
        STATUS_FROM_KERNEL
        + "import threading, time\nfrom workspace_utils import active_session\nseen = []\n"
        "def work():\n    with active_session():\n        time.sleep(0.5)\n        seen.append(idle_status())\n"
        "t = threading.Thread(target=work); t.start(); t.join()\n"
        "print(seen[0]['state'], len(seen[0]['leases']), len(idle_status()['leases']))"
    )
    assert out.split() == ["held", "1", "0"]


def test_an_exception_releases_the_lease(workspace: Workspace, kernel: Kernel):
    out = kernel.run(
        STATUS_FROM_KERNEL
        + "from workspace_utils import active_session, keep_awake\n"
        "try:\n    with active_session():\n        raise ValueError('boom')\nexcept ValueError:\n    pass\n"
        "try:\n    for i in keep_awake(range(3)):\n        raise KeyboardInterrupt\nexcept KeyboardInterrupt:\n    pass\n"
        "print(len(idle_status()['leases']))"
    )
    assert out.strip() == "0"


def test_a_killed_holder_loses_its_lease_within_the_heartbeat_window(workspace: Workspace):
    workspace.awake()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import time\nfrom workspace_utils import active_session\nwith active_session(label='doomed'):\n    time.sleep(120)"],
        env=workspace.kernel_env(),
    )
    try:
        wait_for("the lease", lambda: any(l["pid"] == holder.pid for l in workspace.idle()["leases"]))
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        killed = time.monotonic()
        wait_for("the lease to end", lambda: not workspace.idle()["leases"], timeout=3 * HEARTBEAT_SECONDS + 2)
        assert time.monotonic() - killed <= 3 * HEARTBEAT_SECONDS + 1
    finally:
        holder.kill()


def test_the_keep_awake_command_holds_the_workspace_and_passes_the_exit_code_on(workspace: Workspace):
    workspace.awake()
    keep_awake = os.path.join(os.path.dirname(sys.executable), "keep-awake")
    seconds = int(TIMEOUT_S) + 3
    started = time.monotonic()
    proc = subprocess.Popen([keep_awake, "--", "sh", "-c", f"sleep {seconds}; exit 3"], env=workspace.kernel_env())
    try:
        wait_for("the lease", lambda: workspace.idle()["state"] == "held")
        labels = [l["label"] for l in workspace.idle()["leases"]]
        assert labels == [f"sh -c sleep {seconds}; exit 3"]
        states = []
        while proc.poll() is None:
            states.append(workspace.idle()["state"])
            time.sleep(0.3)
        assert proc.returncode == 3
        assert time.monotonic() - started > TIMEOUT_S
        assert "stopped" not in states
        assert workspace.idle()["leases"] == []
    finally:
        proc.kill()


def test_outside_a_workspace_they_warn_once_and_run_the_code():
    env = {k: v for k, v in os.environ.items() if not k.startswith("GPU_WORKSPACE_")}
    code = (
        "import warnings\nwarnings.simplefilter('always')\nfrom workspace_utils import keep_awake, active_session\n"
        "with warnings.catch_warnings(record=True) as w:\n"
        "    warnings.simplefilter('always')\n"
        "    total = sum(keep_awake(range(4)))\n"
        "    with active_session():\n        total += 1\n"
        "print(total, len(w))"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["7", "1"]
