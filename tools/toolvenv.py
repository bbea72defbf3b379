"""The virtual environments the compare and bench tools run in (tools/.venv-*): created with their
PyPI packages on first use, then the running script re-executes itself inside."""
import os
import subprocess
import sys


def ensure_venv(venv, packages, prog):
    """Re-executes the calling script with `venv`'s python, creating the venv with `packages` first."""
    py = os.path.join(venv, "bin", "python")
    if os.path.abspath(sys.executable) == os.path.abspath(py):
        return
    if not os.path.exists(py):
        print(f"{prog}: creating", venv, file=sys.stderr)
        subprocess.check_call([sys.executable, "-m", "venv", venv])
        subprocess.check_call([os.path.join(venv, "bin", "pip"), "install", "-q"] + packages)
    os.execv(py, [py] + sys.argv)


def ensure_ember(path, root):
    """Builds the release `ember` when `path` does not exist yet."""
    if not os.path.exists(path):
        subprocess.check_call(["swift", "build", "-c", "release", "--product", "ember"], cwd=root)


def npy_feeds(specs, prog):
    """{NAME: array} from NAME=path.npy arguments (numpy must be importable: call inside the venv)."""
    import numpy as np
    feeds = {}
    for spec in specs:
        name, _, path = spec.partition("=")
        if not path:
            sys.exit(f"{prog}: '{spec}' must be NAME=path.npy")
        feeds[name] = np.load(path)
    return feeds
