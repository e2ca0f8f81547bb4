"""jupyterlab-gpu-workspace: the JupyterLab extension's Python package.

It ships the prebuilt labextension. The sidecar service is the Node package in
``sidecar/``; later, ``workspace_utils`` lives here too for the user's own code.
"""
try:
    from ._version import __version__
except ImportError:  # running from a source tree that was never built
    __version__ = "dev"


def _jupyter_labextension_paths():
    return [{"src": "labextension", "dest": "jupyterlab-gpu-workspace"}]
