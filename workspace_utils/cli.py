"""keep-awake -- CMD ARGS...: hold the workspace awake while a command runs."""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
from typing import List, Optional

from ._lease import _try_acquire


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="keep-awake",
        description="Hold the GPU workspace awake while COMMAND runs; exits with its exit code.",
        usage="keep-awake [--label LABEL] -- COMMAND [ARGS...]",
    )
    parser.add_argument("--label", help="shown in the keep-awake indicator (default: the command)")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command to run after --, e.g. keep-awake -- python train.py")
    lease = _try_acquire(args.label or " ".join(command)[:200])
    try:
        try:
            child = subprocess.Popen(command)
        except OSError as err:
            print(f"keep-awake: cannot run {command[0]}: {err}", file=sys.stderr)
            return 127
        # Ctrl-C and SIGTERM go to the command; we wait for it to end.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, lambda signum, _frame: child.send_signal(signum))
        code = child.wait()
        return 128 - code if code < 0 else code
    finally:
        if lease is not None:
            lease.release()


if __name__ == "__main__":
    sys.exit(main())
