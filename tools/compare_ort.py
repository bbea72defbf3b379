#!/usr/bin/env python3
"""Run the same .npy inputs through ONNX Runtime and through `ember run`; print the largest
difference per output.

    python3 tools/compare_ort.py MODEL.onnx --input NAME=x.npy [--input ...]
            [--pack-arg=--dim --pack-arg=seq<=128 ...] [--optimized] [--ember .build/release/ember]

The first run creates a virtual environment in tools/.venv-onnx and installs onnx, onnxruntime
and numpy from PyPI into it. ORT runs on the CPU execution provider with graph optimizations
disabled (as the conformance and zoo checks do; --optimized turns them on). Arguments for
`ember pack` (dims, bounds, --freeze, --keep-qdq) go in --pack-arg, one per flag or value.
Ember is built with `swift build -c release` if --ember is absent. Exit status 1 when an output
differs by more than --rtol of the reference's largest magnitude.
"""
import argparse
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from toolvenv import ensure_ember, ensure_venv, npy_feeds  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
VENV = os.path.join(HERE, ".venv-onnx")


def main():
    ensure_venv(VENV, ["onnx", "onnxruntime", "numpy"], "compare_ort")
    import numpy as np
    import onnxruntime as ort

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--input", action="append", default=[], metavar="NAME=path.npy")
    ap.add_argument("--pack-arg", action="append", default=[], metavar="ARG", help="an argument for ember pack (repeatable)")
    ap.add_argument("--optimized", action="store_true", help="run ORT with all graph optimizations")
    ap.add_argument("--rtol", type=float, default=1e-4, help="largest difference / largest |reference| that passes")
    ap.add_argument("--ember", default=os.path.join(ROOT, ".build", "release", "ember"))
    a = ap.parse_args()
    ensure_ember(a.ember, ROOT)

    feeds = npy_feeds(a.input, "compare_ort")

    options = ort.SessionOptions()
    if not a.optimized:
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(a.model, options, providers=["CPUExecutionProvider"])
    missing = [i.name for i in session.get_inputs() if i.name not in feeds]
    if missing:
        sys.exit("compare_ort: missing " + ", ".join(f"--input {m}=…" for m in missing))
    names = [o.name for o in session.get_outputs()]
    reference = dict(zip(names, session.run(None, {i.name: feeds[i.name] for i in session.get_inputs()})))

    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        pkg = os.path.join(tmp, "model.ember")
        packed = subprocess.run([a.ember, "pack", a.model, "-o", pkg] + a.pack_arg, capture_output=True, text=True)
        if packed.returncode != 0:
            sys.exit("compare_ort: ember pack failed: " + packed.stderr.strip())
        args = [a.ember, "run", pkg, "--output", tmp]
        for spec in a.input:
            args += ["--input", spec]
        ran = subprocess.run(args, capture_output=True, text=True)
        if ran.returncode != 0:
            sys.exit("compare_ort: ember run failed: " + ran.stderr.strip())
        for name, ref in reference.items():
            safe = "".join(c if c.isalnum() or c in ".-_" else "_" for c in name)
            got = np.load(os.path.join(tmp, safe + ".npy"))
            if got.shape != ref.shape:
                print(f"{name}: shape {list(got.shape)}, ORT gives {list(ref.shape)}")
                worst = float("inf")
                continue
            diff = np.abs(got.astype(np.float64) - ref.astype(np.float64))
            scale = max(float(np.abs(ref.astype(np.float64)).max(initial=0)), 1e-6)
            rel = float(diff.max(initial=0)) / scale
            print(f"{name}: {ref.dtype}{list(ref.shape)} max abs diff {diff.max(initial=0):.3g}, rel {rel:.3g}"
                  f" ({int((diff > 0).sum())} of {diff.size} elements differ) vs ORT")
            worst = max(worst, rel)
    return 0 if worst <= a.rtol else 1


if __name__ == "__main__":
    sys.exit(main())
