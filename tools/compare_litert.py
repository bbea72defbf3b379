#!/usr/bin/env python3
"""Run the same .npy inputs through LiteRT and through `ember run`; print the
largest difference per output.

    python3 tools/compare_litert.py MODEL.tflite --input NAME=x.npy [--input ...]
            [--kernels reference|default] [--ember .build/release/ember]

The first run creates a virtual environment in tools/.venv-litert and installs
ai-edge-litert and numpy from PyPI into it. `--kernels reference` (the default)
uses LiteRT's reference kernels (OpResolverType.BUILTIN_REF), the oracle Ember's
int8 kernels must equal byte for byte; `default` uses XNNPACK, which rounds
differently. Ember is built with `swift build -c release` if --ember is absent.
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
VENV = os.path.join(HERE, ".venv-litert")


def main():
    ensure_venv(VENV, ["ai-edge-litert", "numpy"], "compare_litert")
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--input", action="append", default=[], metavar="NAME=path.npy")
    ap.add_argument("--kernels", choices=["reference", "default"], default="reference")
    ap.add_argument("--ember", default=os.path.join(ROOT, ".build", "release", "ember"))
    a = ap.parse_args()
    ensure_ember(a.ember, ROOT)

    feeds = npy_feeds(a.input, "compare_litert")

    resolver = OpResolverType.BUILTIN_REF if a.kernels == "reference" else OpResolverType.AUTO
    it = Interpreter(model_path=a.model, experimental_op_resolver_type=resolver, num_threads=1)
    it.allocate_tensors()
    for d in it.get_input_details():
        if d["name"] not in feeds:
            sys.exit(f"compare_litert: missing --input {d['name']}=…")
        it.set_tensor(d["index"], feeds[d["name"]])
    it.invoke()
    litert = {d["name"]: (it.get_tensor(d["index"]), d) for d in it.get_output_details()}

    with tempfile.TemporaryDirectory() as tmp:
        pkg = os.path.join(tmp, "model.ember")
        subprocess.check_call([a.ember, "pack", a.model, "-o", pkg], stdout=subprocess.DEVNULL)
        args = [a.ember, "run", pkg, "--output", tmp]
        for spec in a.input:
            args += ["--input", spec]
        subprocess.check_call(args, stdout=subprocess.DEVNULL)
        worst = 0.0
        for name, (ref, detail) in litert.items():
            safe = "".join(c if c.isalnum() or c in ".-_" else "_" for c in name)
            got = np.load(os.path.join(tmp, safe + ".npy"))
            diff = np.abs(got.astype(np.float64) - ref.astype(np.float64))
            unit = " quanta" if np.issubdtype(ref.dtype, np.integer) else ""
            print(f"{name}: {ref.dtype}{list(ref.shape)} max abs diff {diff.max():.3g}{unit}"
                  f" ({int((diff > 0).sum())} of {diff.size} elements differ) vs LiteRT {a.kernels} kernels")
            worst = max(worst, float(diff.max()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
