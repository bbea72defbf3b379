#!/usr/bin/env python3
"""Large GEMV against this machine's memory bandwidth: the issue's "large GEMV (int8 and int4) ≥ 80 % of
measured DRAM bandwidth" criterion, measured.

    tools/zoo/.venv-onnx-zoo/bin/python tools/bench_gemv.py [--ember PATH] [--k 8192] [--n 8192]
        [--repeat 30] [--threads 1] [--markdown FILE]

Builds one fully connected layer y = x·W (x [1, k], W [k, n], fixed seed) as an ONNX model, packs it
with `ember pack --ladder fp32,int8,int4` (int8: per-channel weights; int4: weight-only blocks of 32),
and times every rung with `ember bench --profile --json`: the layer's weight bytes over its median
time, against the read bandwidth `ember bench` measures on this core (its roofline probe, cached).
With the default 8192 × 8192 the weights are 256 MiB (fp32), 64 MiB (int8) and 32 MiB + scales (int4):
all larger than this VM's 32 MiB L3, so they stream from DRAM every inference.
Needs numpy and onnx (the ONNX zoo's venv has both: tools/zoo/make_onnx_zoo.py creates it).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def build_model(path, k, n):
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(7)
    w = (rng.standard_normal((k, n), dtype=np.float32) / np.sqrt(k)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="gemv")], "gemv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, n])],
        [numpy_helper.from_array(w, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save_model(model, path, save_as_external_data=True, location="gemv.weights")


def write_calibration(directory, k, samples=4):
    import numpy as np
    os.makedirs(directory, exist_ok=True)
    rng = np.random.default_rng(11)
    for i in range(samples):
        np.save(os.path.join(directory, f"{i:02d}.npy"), rng.standard_normal((1, k), dtype=np.float32))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ember", default=os.path.join(ROOT, ".build", "release", "ember"))
    ap.add_argument("--k", type=int, default=8192, help="input features")
    ap.add_argument("--n", type=int, default=8192, help="output features")
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1, help="ember bench --threads (a GEMV splits by output panels)")
    ap.add_argument("--markdown", help="also write the table here")
    args = ap.parse_args()
    if not os.path.exists(args.ember):
        sys.exit(f"bench_gemv: no {args.ember}; run `swift build -c release --product ember` first")
    with tempfile.TemporaryDirectory(prefix="ember-gemv-") as tmp:
        model, pkg = os.path.join(tmp, "gemv.onnx"), os.path.join(tmp, "gemv.ember")
        print(f"bench_gemv: building a {args.k} x {args.n} GEMV", file=sys.stderr)
        build_model(model, args.k, args.n)
        write_calibration(os.path.join(tmp, "calib"), args.k)
        print("bench_gemv: packing fp32, int8 and int4 rungs", file=sys.stderr)
        subprocess.run([args.ember, "pack", model, "-o", pkg, "--ladder", "fp32,int8,int4",
                        "--calib", os.path.join(tmp, "calib")], check=True, stdout=subprocess.DEVNULL)
        rows = []
        for variant in ["fp32", "int8", "int4"]:
            out = subprocess.run([args.ember, "bench", pkg, "--variant", variant, "--repeat", str(args.repeat),
                                  "--warmup", "3", "--threads", str(args.threads), "--profile", "--json"], check=True, capture_output=True, text=True)
            d = json.loads(out.stdout)
            gemv = max(d["ops"], key=lambda o: o["median_us"])
            gbs = gemv["bytes"] / gemv["median_us"] / 1e3
            rows.append((variant, d["isa"], gemv["kernel"], gemv["bytes"], gemv["median_us"], gbs,
                         gbs / d["peak"]["read_gbs"], d["peak"]["read_gbs"]))
    lines = ["| rung | kernels | kernel | bytes read | median µs | GB/s | of read peak |",
             "|---|---|---|---:|---:|---:|---:|"]
    for v, isa, kernel, b, us, gbs, share, _ in rows:
        lines.append(f"| {v} | {isa} | {kernel} | {b:,} | {us:.1f} | {gbs:.2f} | {share * 100:.0f} % |")
    lines.append(f"\nRead peak (ember's probe on one core): {rows[0][7]:.2f} GB/s; GEMV {args.k} × {args.n}, "
                 f"{args.repeat} runs per rung, {args.threads} thread(s).")
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
