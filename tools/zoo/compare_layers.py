#!/usr/bin/env python3
"""Find the first layer where Ember and LiteRT's reference kernels part ways.

    tools/zoo/.venv/bin/python tools/zoo/compare_layers.py MODEL FLAVOUR [--ember PATH] [--isa scalar] [--all]

Packs tools/zoo/.cache/MODEL/FLAVOUR/model.tflite, runs it with `ember run --dump-all`, runs
LiteRT (OpResolverType.BUILTIN_REF, experimental_preserve_all_tensors) on the same input, and
walks LiteRT's operators in execution order comparing each output tensor Ember also has (by
name): int tensors exactly, float ones by max |Δ| relative to the tensor's range. Prints the
mismatching operators (the first few, or all with --all) with their op name and inputs.
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
from check import safe_file_name  # noqa: E402  (Ember's output file naming)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model")
    ap.add_argument("flavour")
    ap.add_argument("--ember", default=os.path.join(ROOT, ".build/release/ember"))
    ap.add_argument("--isa", help="EMBER_ISA for the Ember run (e.g. scalar)")
    ap.add_argument("--all", action="store_true", help="list every mismatching operator")
    ap.add_argument("--rtol", type=float, default=1e-5)
    a = ap.parse_args()
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    d = os.path.join(HERE, ".cache", a.model, a.flavour)
    meta = json.load(open(os.path.join(d, "meta.json")))
    work = tempfile.mkdtemp(prefix="ember-layers-")
    pkg = os.path.join(work, "m.ember")
    subprocess.run([a.ember, "pack", os.path.join(d, "model.tflite"), "-o", pkg], check=True, capture_output=True)
    feeds = {i["name"]: os.path.join(d, i.get("file", "inputs/%02d.npy" % k)) for k, i in enumerate(meta["inputs"])}
    env = dict(os.environ)
    if a.isa:
        env["EMBER_ISA"] = a.isa
    dump = os.path.join(work, "values")
    cmd = [a.ember, "run", pkg, "--dump-all", dump] + sum([["--input", f"{n}={p}"] for n, p in feeds.items()], [])
    subprocess.run(cmd, check=True, capture_output=True, env=env)

    it = Interpreter(model_path=os.path.join(d, "model.tflite"), experimental_op_resolver_type=OpResolverType.BUILTIN_REF,
                     experimental_preserve_all_tensors=True)
    it.allocate_tensors()
    for det in it.get_input_details():
        it.set_tensor(det["index"], np.load(feeds[det["name"]]))
    it.invoke()
    details = it.get_tensor_details()
    shown = compared = 0
    for op in it._get_ops_details():
        for t in op["outputs"]:
            name = details[t]["name"]
            path = os.path.join(dump, safe_file_name(name) + ".npy")
            if not os.path.exists(path):
                continue
            ours, ref = np.load(path), it.get_tensor(t)
            if ours.size != ref.size:
                continue
            compared += 1
            ours, ref = ours.reshape(-1), ref.reshape(-1)
            if np.issubdtype(ref.dtype, np.integer):
                diff = np.abs(ours.astype(np.int64) - ref.astype(np.int64))
                bad, what = diff.max() > 0, f"max |Δ| {diff.max()} codes, {int((diff > 0).sum())}/{diff.size} differ"
            else:
                span = max(float(np.abs(ref).max()), 1e-6)
                rel = float(np.abs(ours.astype(np.float64) - ref).max()) / span
                bad, what = rel > a.rtol, f"max |Δ|/range {rel:.2e}"
            if bad:
                ins = ", ".join(f"{details[i]['name']} {details[i]['dtype'].__name__}" for i in op["inputs"] if i >= 0)
                print(f"op {op['index']:4d} {op['op_name']:<22} {name}: {what}\n         inputs: {ins}")
                shown += 1
                if shown >= 5 and not a.all:
                    print("(first 5 shown; --all for every one)")
                    return
    print(f"compared {compared} tensors; {shown} mismatching operators shown")


if __name__ == "__main__":
    main()
