"""Keep a managed GPU workspace awake while your code runs.

The workspace stops after a while without user activity, even during long
training. Wrap long work so it holds the workspace awake while (and only
while) it runs::

    from workspace_utils import keep_awake, active_session

    for epoch in keep_awake(range(100)):
        train(epoch)

    with active_session():
        long_running_job()

Each holds a lease on the workspace service, heartbeats it from a
background thread (no signals, so it works in any thread, notebooks and
scripts alike), and releases it when the work ends, raises or is
interrupted. Save your results before the work ends: once nothing holds the
workspace, the idle clock runs again. Outside a managed workspace they warn
once and simply run your code.

From a terminal: ``keep-awake -- python train.py``.
"""

from ._lease import Lease, active_session, keep_awake

__all__ = ["Lease", "active_session", "keep_awake"]
