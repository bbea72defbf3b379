#!/usr/bin/env python3
"""Latency of Ember against ONNX Runtime on the built ONNX zoo entries, both measured in one run
on this machine, interleaved round by round.

    tools/zoo/.venv-onnx-zoo/bin/python tools/zoo/bench_onnx.py [--ember PATH] [--only NAME[,NAME]]
        [--flavours torchscript,qdq] [--repeat 50] [--rounds 5] [--warmup 5] [--markdown FILE]

Each entry (tools/zoo/.onnx-cache/<model>/<flavour>/) is packed and checked once with check.py's
check_entry, so the table says whether Ember's output matches ORT's. Then, alternating sides
(and which side goes first) for --rounds rounds:
- Ember: `ember bench PKG --repeat N --warmup W --threads 1 --json --input …` (tools/zoo/bench.py's
  ember_round), the round's median_us.
- ORT: InferenceSession (CPU EP, intra_op_num_threads=1, inter_op_num_threads=1, all graph
  optimizations on, sequential execution), session.run timed from Python after W untimed runs,
  median of N.
Latencies are medians over rounds; the ratio Ember / ORT is the median of per-round ratios
(below 1: Ember is faster).
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True
import bench  # noqa: E402  (Ember's timing round, the command line and CPU name)
import check  # noqa: E402
import make_onnx_zoo as zoo  # noqa: E402


def ort_session(model):
    import onnxruntime as ort
    o = ort.SessionOptions()
    o.intra_op_num_threads = 1
    o.inter_op_num_threads = 1
    o.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    o.log_severity_level = 3  # its optimizer's notes on unused initializers are not results
    return ort.InferenceSession(model, o, providers=["CPUExecutionProvider"])


def ort_round(session, feeds, repeat, warmup):
    for _ in range(max(warmup, 1)):
        session.run(None, feeds)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        session.run(None, feeds)
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def bench_entry(ember, meta, d, work, a):
    import numpy as np
    r = check.check_entry(ember, meta, d, work, a.timeout)
    row = {"model": meta["model"], "flavour": meta["flavour"]}
    if r["status"] not in ("match", "differs"):
        row["skip"] = f"{r['status']}: {r.get('detail', '')}"
        return row
    row["check_cell"] = check.short_cell(r)
    pkg = os.path.join(work, f"{meta['model']}-{meta['flavour']}.ember")
    session = ort_session(os.path.join(d, meta["model_file"]))
    feeds = {i["name"]: np.load(os.path.join(d, i["file"])) for i in meta["inputs"]}
    args = bench.ember_bench_args(ember, pkg, meta, d, a)
    embers, orts = [], []
    for k in range(a.rounds):
        for side in (("ember", "ort") if k % 2 == 0 else ("ort", "ember")):
            if side == "ember":
                ms, row["isa"] = bench.ember_round(args, a.timeout)
                embers.append(ms)
            else:
                orts.append(ort_round(session, feeds, a.repeat, a.warmup))
    row.update(ember_ms=statistics.median(embers), ort_ms=statistics.median(orts),
               ratio=statistics.median(e / o for e, o in zip(embers, orts)))
    return row


def write_markdown(path, rows, a, ember, seconds):
    import onnxruntime
    isas = sorted({r["isa"] for r in rows if "isa" in r})
    L = ["# ONNX zoo: Ember vs ONNX Runtime latency", "",
         f"Median ms of one inference on 1 thread, {a.rounds} interleaved rounds of {a.repeat} inferences "
         f"({a.warmup} warm-up) per side; ratio = median of per-round Ember / ORT (below 1: Ember is faster). "
         f"Ember `{ember}` (kernels {', '.join(isas) or '?'}), onnxruntime {onnxruntime.__version__} CPU EP with "
         f"all graph optimizations; {bench.cpu_name()}, {os.cpu_count()} CPUs; {time.strftime('%Y-%m-%d %H:%M')}, "
         f"{seconds:.0f} s.", "",
         "| model | flavour | Ember ms | ORT ms | ratio | Ember output vs ORT |", "|---|---|---:|---:|---:|---|"]
    for r in rows:
        if "skip" in r:
            L.append(f"| {r['model']} | {r['flavour']} | {bench.esc(r['skip'][:100])} | | | |")
        else:
            L.append(f"| {r['model']} | {r['flavour']} | {r['ember_ms']:.3f} | {r['ort_ms']:.3f} | {r['ratio']:.2f}× | "
                     f"{bench.esc(r['check_cell'])} |")
    L += ["", f"Command: `{bench.command_line()}`", ""]
    with open(path, "w") as f:
        f.write("\n".join(L))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    check.add_zoo_arguments(ap, zoo, "/tmp/onnx-zoo-bench")
    ap.add_argument("--repeat", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)  # ember_bench_args reads it
    ap.add_argument("--timeout", type=int, default=600)
    ap.add_argument("--markdown")
    a = ap.parse_args()
    ember = os.path.abspath(a.ember)
    os.makedirs(a.work, exist_ok=True)
    rows, t0 = [], time.time()
    for n, f, meta in check.built_entries(zoo, a.only, a.flavours):
        try:
            row = bench_entry(ember, meta, zoo.entry_dir(n, f), a.work, a)
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            row = {"model": n, "flavour": f, "skip": f"run failed: {e}"}
        rows.append(row)
        cell = row.get("skip") or f"Ember {row['ember_ms']:.3f} ms, ORT {row['ort_ms']:.3f} ms, {row['ratio']:.2f}×"
        print(f"{n:20s} {f:12s} {cell[:140]}", flush=True)
    if a.markdown:
        write_markdown(a.markdown, rows, a, ember, time.time() - t0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
