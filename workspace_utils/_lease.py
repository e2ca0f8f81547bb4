"""Keep-awake leases on the workspace service: stdlib only (urllib, threading)."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import urllib.error
import urllib.request
import warnings
from typing import Any, Iterable, Iterator, Optional

URL_ENV = "GPU_WORKSPACE_URL"
TOKEN_ENV = "GPU_WORKSPACE_TOKEN"
API_PATH = "gpu-workspace/api/v1"
REQUEST_TIMEOUT_S = 10.0

_warned = False
_warn_lock = threading.Lock()


class LeaseError(RuntimeError):
    """The workspace service refused or could not be reached."""


def _warn_once(message: str) -> None:
    global _warned
    with _warn_lock:
        if _warned:
            return
        _warned = True
    warnings.warn(message, RuntimeWarning, stacklevel=4)


def _request(method: str, route: str, body: Optional[dict] = None) -> Any:
    base = os.environ[URL_ENV]
    if not base.endswith("/"):
        base += "/"
    data = None if body is None else json.dumps(body).encode("utf-8")
    req = urllib.request.Request(f"{base}{API_PATH}/{route}", data=data, method=method)
    req.add_header("Authorization", f"token {os.environ[TOKEN_ENV]}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=REQUEST_TIMEOUT_S) as res:
            text = res.read().decode("utf-8")
    except urllib.error.HTTPError as err:
        try:
            message = json.loads(err.read().decode("utf-8")).get("message", "")
        except Exception:  # noqa: BLE001 - any unreadable body: the status says enough
            message = ""
        raise LeaseError(f"{method} {route} answered {err.code}: {message}") from None
    except (urllib.error.URLError, OSError) as err:
        raise LeaseError(f"the workspace service could not be reached: {err}") from None
    return json.loads(text) if text else None


class Lease:
    """One keep-awake lease, heartbeated by a daemon thread until release()."""

    def __init__(self, label: str, pid: Optional[int] = None, ttl_seconds: Optional[float] = None):
        self.label = label
        self.pid = os.getpid() if pid is None else pid
        self.ttl_seconds = ttl_seconds
        self.id: Optional[str] = None
        self.note: Optional[str] = None
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def acquire(self) -> "Lease":
        body: dict = {"label": self.label[:200], "pid": self.pid}
        if self.ttl_seconds is not None:
            body["ttl_seconds"] = self.ttl_seconds
        answer = _request("POST", "leases", body)
        self.id = answer["lease"]["id"]
        self.note = answer.get("note")
        if self.note:
            warnings.warn(self.note, RuntimeWarning, stacklevel=3)
        interval = float(answer.get("heartbeat_seconds") or 15)
        self._thread = threading.Thread(target=self._beat, args=(interval,), name=f"keep-awake {self.label}", daemon=True)
        self._thread.start()
        return self

    def _beat(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                _request("POST", f"leases/{self.id}/heartbeat", {})
            except LeaseError as err:
                if " 404:" in str(err):
                    warnings.warn(
                        f"The keep-awake lease '{self.label}' ended ({err}); the workspace may stop when idle.",
                        RuntimeWarning,
                    )
                    return
                # A moment without the service (a restart): try again at the next beat.

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=REQUEST_TIMEOUT_S)
        if self.id is None:
            return
        lease_id, self.id = self.id, None
        with contextlib.suppress(LeaseError):
            _request("DELETE", f"leases/{lease_id}")


def _managed() -> bool:
    return bool(os.environ.get(URL_ENV) and os.environ.get(TOKEN_ENV))


def _try_acquire(label: str) -> Optional[Lease]:
    if not _managed():
        _warn_once(
            "workspace_utils: not running in a managed GPU workspace "
            f"({URL_ENV} / {TOKEN_ENV} are not set); your code runs, but nothing is held awake."
        )
        return None
    try:
        return Lease(label).acquire()
    except LeaseError as err:
        _warn_once(f"workspace_utils: could not hold the workspace awake ({err}); your code runs anyway.")
        return None


@contextlib.contextmanager
def active_session(delay: Any = None, interval: Any = None, label: str = "active_session") -> Iterator[None]:
    """Hold the workspace awake for the duration of the ``with`` block.

    ``delay`` and ``interval`` are accepted for compatibility with the
    reference ``workspace_utils`` and are not needed: the service says how
    often to heartbeat.
    """
    lease = _try_acquire(label)
    try:
        yield
    finally:
        if lease is not None:
            lease.release()


def keep_awake(iterable: Iterable, delay: Any = None, interval: Any = None, label: str = "keep_awake") -> Iterator:
    """Yield from ``iterable`` while holding the workspace awake."""
    with active_session(delay, interval, label=label):
        yield from iterable
