#!/usr/bin/env python3
"""Latency of Ember against LiteRT's default (XNNPACK) path on the built TFLite zoo
entries, both measured in one run on this machine, interleaved round by round.

    tools/zoo/.venv/bin/python tools/zoo/bench.py [--ember PATH] [--only NAME[,NAME]]
        [--flavours float32,int8] [--repeat 100] [--rounds 5] [--warmup 10] [--threads 1]
        [--markdown FILE] [--timeout S]

Each entry (tools/zoo/.cache/<model>/<flavour>/) is packed once into a temporary
directory and run once with check.py's check_entry (`ember pack`, `ember run`, outputs
compared with the LiteRT reference outputs), so the table also says whether Ember's
output matches. Entries Ember cannot pack or run are listed as
"unsupported: <first line of the error>".

Latency, as in tools/bench_corpus.py:
- Ember: `ember bench PKG --repeat N --warmup W --threads T --json --input NAME=inputs/00.npy`
  (a process per round; inputs written in place, as LiteRT's invoke() excludes
  set_tensor), median_us of the round.
- LiteRT: Interpreter(num_threads=T) with the default resolver (XNNPACK delegate
  applied by default), invoke() timed from Python, W untimed invokes first, median of N.
- Ember and LiteRT alternate for --rounds rounds (the side that goes first alternates
  too); the latencies are the medians over rounds and the ratio Ember / LiteRT is the
  median of the per-round ratios (below 1: Ember is faster), so drift of a shared
  machine hits both sides alike.

"LiteRT ops not on XNNPACK": original nodes that no XNNPACK partition covers (found by
walking each DELEGATE node back from its outputs to its inputs); they run on LiteRT's
builtin CPU kernels, and each extra partition costs a hand-over.
"""
import argparse
import collections
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from bench_corpus import median_invoke_ms  # noqa: E402  (the corpus benchmark's timing loop)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True
import make_tflite_zoo as zoo  # noqa: E402  (no TensorFlow import at module level)
import check  # noqa: E402

DEFAULT_FLAVOURS = "float32,int8"


# ----------------------------------------------------------------------------- LiteRT
def litert_interpreter(model, threads):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType
    it = Interpreter(model_path=model, num_threads=threads, experimental_op_resolver_type=OpResolverType.AUTO)
    it.allocate_tensors()
    return it


def litert_feed(it, meta, d):
    import numpy as np
    files = {i["name"]: os.path.join(d, i["file"]) for i in meta["inputs"]}
    for k, det in enumerate(it.get_input_details()):
        path = files.get(det["name"]) or os.path.join(d, meta["inputs"][k]["file"])
        it.set_tensor(det["index"], np.load(path))


def litert_round(it, repeat, warmup):
    return median_invoke_ms(it, repeat, warmup)


def xnnpack_coverage(it):
    """(original node count, Counter of op names no XNNPACK partition covers, partitions).
    After the default delegate is applied the subgraph holds the original nodes and then
    one DELEGATE node per partition, whose inputs and outputs are the partition's
    boundary tensors."""
    ii = it._interpreter
    names = [ii.NodeName(i) for i in range(ii.NumNodes())]
    original = [i for i, n in enumerate(names) if n != "DELEGATE"]
    delegates = [i for i, n in enumerate(names) if n == "DELEGATE"]
    producer = {}
    for i in original:
        for t in ii.NodeOutputs(i):
            producer[int(t)] = i
    covered = set()
    for dnode in delegates:
        boundary = {int(t) for t in ii.NodeInputs(dnode)}
        stack = [int(t) for t in ii.NodeOutputs(dnode)]
        seen = set()
        while stack:
            p = producer.get(stack.pop())
            if p is None or p in seen:
                continue
            seen.add(p)
            stack.extend(int(t) for t in ii.NodeInputs(p) if t >= 0 and int(t) not in boundary)
        covered |= seen
    off = collections.Counter(names[i] for i in original if i not in covered)
    return len(original), off, len(delegates)


def coverage_cell(n_ops, off, partitions):
    if not off:
        return "none" + (f" ({partitions} partitions)" if partitions > 1 else "")
    if partitions == 0:
        return f"all {n_ops} (no XNNPACK partition)"
    ops = ", ".join(f"{k} ×{v}" for k, v in sorted(off.items()))
    return f"{ops} ({partitions} partition{'s' if partitions != 1 else ''})"


# ----------------------------------------------------------------------------- Ember
def ember_bench_args(ember, pkg, meta, d, a):
    args = [ember, "bench", pkg, "--repeat", str(a.repeat), "--warmup", str(a.warmup),
            "--threads", str(a.threads), "--json"]
    for i in meta["inputs"]:
        args += ["--input", f"{i['name']}={os.path.join(d, i['file'])}"]
    return args


def ember_round(args, timeout):
    import json
    p = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(check.first_error_line(p.stderr + "\n" + p.stdout))
    out = json.loads(p.stdout)
    return out["median_us"] / 1000, out["isa"]


# ----------------------------------------------------------------------------- entries
def unsupported(detail):
    detail = detail.strip()
    return detail if detail.startswith("unsupported:") else "unsupported: " + detail


def bench_entry(ember, meta, d, work, a):
    r = check.check_entry(ember, meta, d, work, a.timeout)
    row = {"model": meta["model"], "flavour": meta["flavour"], "check": r["status"]}
    if r["status"] in ("conversion failed", "no reference"):
        row["skip"] = f"{r['status']}: {r.get('detail', '')}"
        return row
    if r["status"] not in ("match", "differs"):
        row["skip"] = unsupported(r.get("detail", "(no message)"))
        return row
    row["check_cell"] = check.short_cell(r)
    pkg = os.path.join(work, f"{meta['model']}-{meta['flavour']}.ember")
    model = os.path.join(d, "model.tflite")
    try:
        it = litert_interpreter(model, a.threads)
        litert_feed(it, meta, d)
        n_ops, off, parts = xnnpack_coverage(it)
        row["xnnpack"] = coverage_cell(n_ops, off, parts)
    except Exception as e:  # noqa: BLE001  (LiteRT raises ValueError/RuntimeError with its message)
        it = None
        row["litert_error"] = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    args = ember_bench_args(ember, pkg, meta, d, a)
    embers, lites = [], []
    try:
        for k in range(a.rounds):
            order = ("ember", "litert") if k % 2 == 0 else ("litert", "ember")
            for side in order:
                if side == "ember":
                    ms, row["isa"] = ember_round(args, a.timeout)
                    embers.append(ms)
                elif it is not None:
                    lites.append(litert_round(it, a.repeat, a.warmup))
    except (RuntimeError, subprocess.TimeoutExpired) as e:
        msg = f"timeout after {a.timeout}s" if isinstance(e, subprocess.TimeoutExpired) else str(e)
        row["skip"] = unsupported(msg)
        return row
    row["ember_ms"] = statistics.median(embers)
    row["ember_rounds"] = embers
    if lites:
        row["litert_ms"] = statistics.median(lites)
        row["litert_rounds"] = lites
        row["ratio"] = statistics.median(e / x for e, x in zip(embers, lites))
    return row


# ----------------------------------------------------------------------------- output
def esc(s):
    return str(s).replace("|", "/")


def table(rows):
    L = ["| model | flavour | Ember ms | LiteRT ms | ratio | Ember output vs reference | LiteRT ops not on XNNPACK |",
         "|---|---|---:|---:|---:|---|---|"]
    for r in rows:
        if "skip" in r:
            L.append(f"| {r['model']} | {r['flavour']} | {esc(r['skip'])} | | | | |")
            continue
        lite = f"{r['litert_ms']:.3f}" if "litert_ms" in r else "LiteRT failed: " + esc(r.get("litert_error", ""))
        ratio = f"{r['ratio']:.2f}×" if "ratio" in r else ""
        L.append(f"| {r['model']} | {r['flavour']} | {r['ember_ms']:.3f} | {lite} | {ratio} | "
                 f"{esc(r.get('check_cell', ''))} | {esc(r.get('xnnpack', ''))} |")
    return L


def command_line():
    argv = [os.path.relpath(os.path.abspath(sys.argv[0]), ROOT)] + sys.argv[1:]
    py = os.path.relpath(sys.executable, ROOT) if sys.executable.startswith(ROOT) else sys.executable
    nice = os.nice(0)
    return ("nice -n %d " % nice if nice else "") + shlex.join([py] + argv)


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for ln in f:
                if ln.startswith("model name"):
                    return ln.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def write_markdown(path, rows, a, ember, seconds):
    try:
        from importlib.metadata import version
        litert = version("ai-edge-litert")
    except Exception:  # noqa: BLE001
        litert = "?"
    isas = sorted({r["isa"] for r in rows if "isa" in r})
    L = ["# TFLite zoo: Ember vs LiteRT XNNPACK latency", "",
         f"Median ms of one inference on {a.threads} thread{'s' if a.threads != 1 else ''}, "
         f"{a.rounds} interleaved rounds of {a.repeat} inferences ({a.warmup} warm-up) per side; "
         "ratio = median of per-round Ember / LiteRT (below 1: Ember is faster). "
         f"Ember `{ember}` (kernels {', '.join(isas) or '?'}), ai-edge-litert {litert} default resolver "
         f"(XNNPACK delegate); {cpu_name()}, {os.cpu_count()} CPUs; "
         f"{time.strftime('%Y-%m-%d %H:%M')}, {seconds:.0f} s.", ""]
    L += table(rows)
    L += ["", f"Command: `{command_line()}`", ""]
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(L))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ember", default=os.path.join(ROOT, ".build", "release", "ember"))
    ap.add_argument("--only", help="models, comma-separated (default: all)")
    ap.add_argument("--flavours", default=DEFAULT_FLAVOURS, help=f"default {DEFAULT_FLAVOURS}")
    ap.add_argument("--repeat", type=int, default=100, help="timed inferences per round and side")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=10, help="untimed inferences per round and side")
    ap.add_argument("--threads", type=int, default=1, help="threads for both (ember bench --threads, LiteRT num_threads)")
    ap.add_argument("--markdown", help="write the table, the setup and the command to this file")
    ap.add_argument("--timeout", type=int, default=600, help="seconds per pack, run or bench round")
    a = ap.parse_args()
    if a.repeat < 1 or a.rounds < 1 or a.warmup < 0 or a.threads < 1:
        ap.error("--repeat, --rounds and --threads must be at least 1, --warmup at least 0")
    zoo.ensure_venv()
    ember = os.path.abspath(a.ember)
    if not os.access(ember, os.X_OK):
        sys.exit(f"bench: no ember binary at {ember} (pass --ember PATH)")
    only = a.only.split(",") if a.only else None
    if only:
        unknown = [n for n in only if n not in zoo.MODELS]
        if unknown:
            sys.exit(f"bench: unknown model(s) {', '.join(unknown)}; known: {', '.join(zoo.MODELS)}")
    wanted = a.flavours.split(",")
    unknown = [f for f in wanted if f not in zoo.FLAVOURS]
    if unknown:
        sys.exit(f"bench: unknown flavour(s) {', '.join(unknown)}; known: {', '.join(zoo.FLAVOURS)}")
    names = [n for n in zoo.MODELS if not only or n in only]
    rows, t_all = [], time.time()
    with tempfile.TemporaryDirectory(prefix="zoo-bench-") as work:
        for n in names:
            for f in zoo.flavours_of(n, wanted):
                meta = zoo.status(n, f)
                if meta is None:
                    continue
                r = bench_entry(ember, meta, os.path.join(zoo.CACHE, n, f), work, a)
                rows.append(r)
                if "skip" in r:
                    print(f"{n:20s} {f:13s} {r['skip'][:150]}", flush=True)
                else:
                    lite = f"{r['litert_ms']:8.3f} ms" if "litert_ms" in r else "LiteRT failed: " + r["litert_error"]
                    ratio = f"{r['ratio']:.2f}x" if "ratio" in r else ""
                    print(f"{n:20s} {f:13s} Ember {r['ember_ms']:8.3f} ms  LiteRT {lite}  {ratio:6s} "
                          f"[{r['check']}; off XNNPACK: {r.get('xnnpack', '?')}]", flush=True)
    if not rows:
        sys.exit("bench: nothing built; run tools/zoo/make_tflite_zoo.py first")
    seconds = time.time() - t_all
    print()
    print("\n".join(table(rows)))
    print()
    print(f"Command: `{command_line()}`")
    if a.markdown:
        write_markdown(a.markdown, rows, a, ember, seconds)
        print(f"bench: wrote {a.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
