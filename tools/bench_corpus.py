#!/usr/bin/env python3
"""Side-by-side figures for the MLPerf Tiny corpus: package and arena bytes, and
single-thread latency of Ember vs LiteRT, all measured in one run on this machine.

    python3 tools/bench_corpus.py [--repeat 300] [--rounds 5] [--threads 1] [--corpus ../shared/corpus/mlperf-tiny]
    python3 tools/bench_corpus.py --load [--rounds 5]     # load + prepare time and peak RSS instead

Prints a Markdown table (the one in BENCHMARKS.md). Uses tools/.venv-litert
(created by tools/compare_litert.py's bootstrap if missing) and the release build
of ember (built if missing).

Columns:
- arena: Ember's plan (greedy by size, in-place reuse); "TFLM-style" is the same
  greedy planner with in-place reuse off, which is how TensorFlow Lite Micro's
  GreedyMemoryPlanner places activations (its real arena adds persistent
  allocations and kernel scratch on top, so it is a lower bound for TFLM).
- latency: median wall time of one inference, on --threads threads (both runtimes). Ember: `ember bench
  --repeat N --json` (inputs written in place, as LiteRT's invoke() excludes
  set_tensor), on the kernel path EMBER_ISA names or the best this CPU has.
  LiteRT: Interpreter.invoke() from Python, default kernels (XNNPACK) and
  reference kernels (BUILTIN_REF). Per model the three are measured back to back.
- ratio: Ember / LiteRT XNNPACK (below 1: Ember is faster). Ember and XNNPACK
  are run alternately for --rounds rounds of --repeat inferences each; the
  latencies are the medians over rounds and the ratio is the median of the
  per-round ratios, so drift of a shared VM hits both sides alike.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from compare_litert import VENV as LITERT_VENV  # noqa: E402
from toolvenv import ensure_venv  # noqa: E402


def median_invoke_ms(it, repeat, warmup=1):
    """Median milliseconds of `repeat` invocations of a LiteRT interpreter after `warmup` ones."""
    for _ in range(max(warmup, 1)):
        it.invoke()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        it.invoke()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def litert_latency(model, feeds, resolver, repeat, threads=1):
    from ai_edge_litert.interpreter import Interpreter
    it = Interpreter(model_path=model, experimental_op_resolver_type=resolver, num_threads=threads)
    it.allocate_tensors()
    for d in it.get_input_details():
        it.set_tensor(d["index"], feeds[d["name"]])
    return median_invoke_ms(it, repeat)


LITERT_LOAD = r"""
import resource, sys, time
import numpy as np
from ai_edge_litert.interpreter import Interpreter
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
it = Interpreter(model_path=sys.argv[1], num_threads=1)
it.allocate_tensors()
ms = (time.perf_counter() - t) * 1000
it.invoke()
print(ms, base, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def run_with_rusage(args):
    """(stdout, peak RSS KiB) of one child process."""
    p = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    out = p.stdout.read()
    _, status, usage = os.wait4(p.pid, 0)
    if status != 0:
        raise RuntimeError(f"{args[0]} failed: {status}")
    return out, usage.ru_maxrss


def load_table(a, ember):
    """Load + prepare time and peak memory: `ember bench --repeat 1` (load, prepare, one run) as a
    process of its own — of the package as `ember pack` writes it (weights pre-packed for this machine's
    path) and of one packed with `--prepack none` (weights packed at prepare) — and LiteRT's Interpreter
    creation + allocate_tensors + one invoke in a fresh Python. LiteRT's peak RSS is shown as measured and
    less the Python + LiteRT import baseline."""
    print("| model | Ember load + prepare ms (pre-packed / packed at prepare) | LiteRT create + allocate ms "
          "| Ember arena + prepared KiB (pre-packed / packed at prepare) | pre-packed KiB read in place "
          "| Ember peak RSS MiB (`ember` process) | LiteRT peak RSS MiB (less import baseline) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name in sorted(os.listdir(a.corpus)):
        model = os.path.join(a.corpus, name, "model.tflite")
        if not os.path.exists(model):
            continue
        with tempfile.TemporaryDirectory() as tmp:
            pkg, plain = os.path.join(tmp, "m.ember"), os.path.join(tmp, "plain.ember")
            if (subprocess.run([ember, "pack", model, "-o", pkg], capture_output=True).returncode != 0
                    or subprocess.run([ember, "pack", model, "-o", plain, "--prepack", "none"],
                                      capture_output=True).returncode != 0):
                continue
            loads, plains, lites, rss_e, rss_l, rss_lb = [], [], [], [], [], []
            held = {}
            for _ in range(a.rounds):
                # Interleaved, so machine drift hits all three alike.
                for path, times in ((pkg, loads), (plain, plains)):
                    out, rss = run_with_rusage([ember, "bench", path, "--repeat", "1", "--warmup", "0", "--json"])
                    bench = json.loads(out)
                    times.append(bench["load_prepare_ms"])
                    held[path] = ((bench["arena_bytes"] + bench["prepared_bytes"]) / 1024,
                                  bench.get("prepacked_bytes", 0) / 1024)
                    if path == pkg:
                        rss_e.append(rss)
                out, rss = run_with_rusage([sys.executable, "-c", LITERT_LOAD, model])
                ms, base, peak = out.split()
                lites.append(float(ms)); rss_l.append(int(peak)); rss_lb.append(int(peak) - int(base))
            med = statistics.median
            print(f"| {name} | {med(loads):.2f} / {med(plains):.2f} | {med(lites):.2f} | {held[pkg][0]:.0f} / "
                  f"{held[plain][0]:.0f} | {held[pkg][1]:.0f} | {med(rss_e) / 1024:.1f} | "
                  f"{med(rss_l) / 1024:.1f} ({med(rss_lb) / 1024:.1f}) |")


def main():
    ensure_venv(LITERT_VENV, ["ai-edge-litert", "numpy"], "bench_corpus")
    import numpy as np
    from ai_edge_litert.interpreter import OpResolverType
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--corpus", default=os.path.join(ROOT, "..", "shared", "corpus", "mlperf-tiny"))
    ap.add_argument("--threads", type=int, default=1,
                    help="threads for both runtimes (ember bench --threads, LiteRT num_threads); "
                         "the reference-kernel column stays single-threaded")
    ap.add_argument("--load", action="store_true",
                    help="instead of latency: load + prepare time and peak RSS of both runtimes")
    a = ap.parse_args()
    ember = os.path.join(ROOT, ".build", "release", "ember")
    subprocess.check_call(["swift", "build", "-c", "release", "--product", "ember"], cwd=ROOT,
                          stdout=subprocess.DEVNULL)
    if a.load:
        load_table(a, ember)
        return 0
    print("| model | .tflite bytes | .ember bytes | Ember arena | TFLM-style arena | Ember kernels | Ember ms | LiteRT XNNPACK ms "
          "| ratio | LiteRT reference ms |")
    print("|---|---:|---:|---:|---:|---|---:|---:|---:|---:|")
    for name in sorted(os.listdir(a.corpus)):
        d = os.path.join(a.corpus, name)
        model = os.path.join(d, "model.tflite")
        if not os.path.exists(model):
            continue
        meta = json.load(open(os.path.join(d, "meta.json")))
        feeds = {i["name"]: np.load(os.path.join(d, "inputs", f"00_{k}.npy")) for k, i in enumerate(meta["inputs"])}
        with tempfile.TemporaryDirectory() as tmp:
            pkg = os.path.join(tmp, "m.ember")
            r = subprocess.run([ember, "pack", model, "-o", pkg], capture_output=True, text=True)
            if r.returncode != 0:
                print(f"| {name} | {os.path.getsize(model)} | not packed: {r.stderr.strip()[:90]}… | | | | | |")
                continue
            info = json.loads(subprocess.check_output([ember, "inspect", pkg, "--json"]))
            flat = json.loads(subprocess.check_output([ember, "inspect", pkg, "--json", "--no-in-place"]))
            args = [ember, "bench", pkg, "--repeat", str(a.repeat), "--json", "--threads", str(a.threads)]
            for k, i in enumerate(meta["inputs"]):
                args += ["--input", f"{i['name']}={os.path.join(d, 'inputs', f'00_{k}.npy')}"]
            embers, xnns = [], []
            for _ in range(a.rounds):
                bench = json.loads(subprocess.check_output(args, text=True))
                embers.append(bench["median_us"] / 1000)
                xnns.append(litert_latency(model, feeds, OpResolverType.AUTO, a.repeat, a.threads))
            ember_ms, xnn = statistics.median(embers), statistics.median(xnns)
            ratio = statistics.median(e / x for e, x in zip(embers, xnns))
            ref = litert_latency(model, feeds, OpResolverType.BUILTIN_REF, a.repeat)
            print(f"| {name} | {os.path.getsize(model)} | {os.path.getsize(pkg)} | {info['variants'][0]['arena_bytes']} | "
                  f"{flat['variants'][0]['arena_bytes']} | {bench['isa']} | {ember_ms:.3f} | {xnn:.3f} | {ratio:.2f}× | {ref:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
