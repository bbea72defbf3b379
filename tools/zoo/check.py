#!/usr/bin/env python3
"""Pack and run every built zoo entry with Ember and compare with the LiteRT
reference-kernel outputs stored beside it; write docs/TFLITE_ZOO.md.

    bash tools/zoo/check.sh [--ember PATH] [--only NAME[,NAME]] [--flavours F[,F]]
                            [--work DIR] [--doc PATH] [--timeout S]

Integer outputs must be equal (the report gives the largest difference in codes);
float outputs are compared by max |a-b| and by rel = max|a-b| / max(max|ref|, 1e-6),
which must be at most 1e-4 to count as a match. An entry that differs is run again on the
scalar reference kernels (EMBER_ISA=scalar), which sum floats in LiteRT's reference order: the
report gives both. Run inside tools/zoo/.venv (check.sh does that; the venv is created by
make_tflite_zoo.py on first use).
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True
import make_tflite_zoo as zoo  # noqa: E402  (no TensorFlow import at module level)

REL_TOL = 1e-4


def safe_file_name(name):
    """Ember's safeFileName (Sources/ember/Common.swift): bytes other than [A-Za-z0-9_-]
    and a non-leading '.' become %XX."""
    out = []
    for i, b in enumerate(name.encode()):
        c = chr(b)
        if c.isascii() and (c.isalnum() or c in "-_" or (c == "." and i > 0)):
            out.append(c)
        else:
            out.append("%%%02X" % b)
    return "".join(out) or "%00"


def first_error_line(text):
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for ln in lines:
        if "error:" in ln:
            return ln.split("error:", 1)[1].strip()
    return lines[0] if lines else "(no message)"


def check_entry(ember, meta, d, work, timeout, isa=None):
    """Packs and runs one entry (with EMBER_ISA=isa when given) and compares it with the reference."""
    import numpy as np
    r = {"model": meta["model"], "flavour": meta["flavour"]}
    env = dict(os.environ, EMBER_ISA=isa) if isa else None
    if "conversion_error" in meta:
        r.update(status="conversion failed", detail=meta["conversion_error"].splitlines()[0])
        return r
    if "reference_error" in meta:
        r.update(status="no reference", detail=meta["reference_error"].splitlines()[0])
        return r
    tag = f"{meta['model']}-{meta['flavour']}"
    pkg = os.path.join(work, tag + ".ember")
    out = os.path.join(work, tag + "-out")
    for p in (pkg,):
        if os.path.exists(p):
            os.remove(p)
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.time()
    try:
        # meta.json may name another model file (model.onnx) and pack flags (--dim for ONNX).
        p = subprocess.run([ember, "pack", os.path.join(d, meta.get("model_file", "model.tflite")), "-o", pkg]
                           + meta.get("pack_args", []),
                           capture_output=True, text=True, timeout=timeout, cwd=work)
    except subprocess.TimeoutExpired:
        r.update(status="pack failed", detail=f"timeout after {timeout}s")
        return r
    r["pack_seconds"] = round(time.time() - t0, 2)
    if p.returncode != 0:
        msg = first_error_line(p.stderr + "\n" + p.stdout)
        r.update(status="unsupported", detail=msg)
        m = re.search(r"(?:TFLite|ONNX) ops not supported yet: (.*)$", msg)
        if m:
            r["unsupported_ops"] = {k: int(v) for k, v in re.findall(r"([A-Za-z0-9_:.]+) ×(\d+)", m.group(1))}
        return r
    args = [ember, "run", pkg, "--output", out]
    for i in meta["inputs"]:
        args += ["--input", f"{i['name']}={os.path.join(d, i['file'])}"]
    t0 = time.time()
    try:
        p = subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd=work, env=env)
    except subprocess.TimeoutExpired:
        r.update(status="run failed", detail=f"timeout after {timeout}s")
        return r
    r["run_seconds"] = round(time.time() - t0, 2)
    if p.returncode != 0:
        r.update(status="run failed", detail=first_error_line(p.stderr + "\n" + p.stdout))
        return r
    outs, ok = [], True
    for o in meta["outputs"]:
        ref = np.load(os.path.join(d, o["file"]))
        path = os.path.join(out, safe_file_name(o["name"]) + ".npy")
        if not os.path.exists(path):
            outs.append({"name": o["name"], "error": "no output file " + os.path.basename(path)})
            ok = False
            continue
        got = np.load(path)
        e = {"name": o["name"], "dtype": str(ref.dtype), "shape": list(ref.shape)}
        if got.shape != ref.shape or got.dtype != ref.dtype:
            e["error"] = f"got {got.dtype}{list(got.shape)}, reference {ref.dtype}{list(ref.shape)}"
            ok = False
            if got.size != ref.size:
                outs.append(e)
                continue
            got = got.reshape(ref.shape)
        diff = np.abs(got.astype(np.float64) - ref.astype(np.float64))
        e["max_abs"] = float(diff.max()) if diff.size else 0.0
        e["differing"] = int((diff > 0).sum())
        e["size"] = int(diff.size)
        if np.issubdtype(ref.dtype, np.integer) or ref.dtype == np.bool_:
            e["kind"] = "int"
            ok = ok and e["max_abs"] == 0
        else:
            scale = max(float(np.abs(ref.astype(np.float64)).max()) if ref.size else 0.0, 1e-6)
            e["kind"] = "float"
            e["rel"] = e["max_abs"] / scale
            if not np.isfinite(got).all():
                e["error"] = "non-finite values"
                ok = False
            ok = ok and e["rel"] <= REL_TOL
        outs.append(e)
    r["outputs"] = outs
    r["status"] = "match" if ok else "differs"
    r["detail"] = "; ".join(describe(e) for e in outs)
    return r


def describe(e):
    if "max_abs" not in e:
        return f"{e['name']}: {e['error']}"
    s = f"{e['name']}: "
    if e["kind"] == "int":
        s += "exact" if e["max_abs"] == 0 else f"max |Δ| {e['max_abs']:g} codes ({e['differing']}/{e['size']} differ)"
    else:
        s += f"max abs {e['max_abs']:.3g}, rel {e['rel']:.3g}"
    if "error" in e:
        s += f" ({e['error']})"
    return s


def reason(detail):
    """An Ember error without the node it names: 'unsupported: NODE: REASON' -> REASON."""
    msg = detail
    if msg.startswith("unsupported: "):
        msg = msg[len("unsupported: "):]
        if msg.startswith("tensor '") and "': " in msg:
            msg = msg.split("': ", 1)[1]
        elif ": " in msg:
            msg = msg.split(": ", 1)[1]
    return msg


def short_cell(r):
    st = r["status"]
    if st in ("match", "differs"):
        outs = r.get("outputs", [])
        if all(e.get("kind") == "int" and e.get("max_abs") == 0 for e in outs):
            val = "exact"
        elif any(e.get("kind") == "int" for e in outs):
            val = f"Δ{max(e.get('max_abs', 0) for e in outs):g} codes"
        else:
            val = f"rel {max(e.get('rel', float('inf')) for e in outs):.1e}"
        cell = ("match " if st == "match" else "**differs** ") + val
        if "scalar" in r:  # a difference on the SIMD path, run again on the scalar reference kernels
            cell += f" (scalar kernels: {short_cell(r['scalar']).replace('**', '')})"
        return cell
    if st == "unsupported":
        if "unsupported_ops" in r:
            return "unsupported: " + ", ".join(sorted(r["unsupported_ops"]))
        why = re.sub(r"'[^']*'", "'…'", reason(r["detail"]))
        return "unsupported: " + (why[:77] + "…" if len(why) > 78 else why).replace("|", "/")
    return f"{st}"


def blocker_key(r):
    """What blocks an entry that did not import: one key per op, or the error's kind."""
    if "unsupported_ops" in r:
        return list(r["unsupported_ops"])
    msg = reason(r["detail"])
    msg = re.sub(r"'[^']*'", "'…'", msg)
    msg = re.sub(r"\[[^\]]*\]", "[…]", msg)
    msg = re.sub(r"\b\d+\b", "N", msg)
    return [msg[:140]]


def blockers_section(results):
    """Each unsupported op (or other import error) with the entries it blocks (also used by check_onnx.py)."""
    blocked = [r for r in results if r["status"] == "unsupported"]
    if not blocked:
        return []
    L = ["## What blocks the entries that do not import", "",
         "Each unsupported op (or other import error) with the number of entries it blocks, and the "
         "number it blocks alone (the entry would import if just this were supported).", "",
         "| unsupported | entries blocked | blocked by it alone | models |", "|---|---|---|---|"]
    agg = {}
    for r in blocked:
        keys = blocker_key(r)
        for k in keys:
            a = agg.setdefault(k, [0, 0, set()])
            a[0] += 1
            a[1] += len(keys) == 1
            a[2].add(r["model"])
    for k, (n, alone, ms) in sorted(agg.items(), key=lambda kv: (-kv[1][0], kv[0])):
        L.append(f"| {k.replace('|', '/')} | {n} | {alone} | {', '.join(sorted(ms))} |")
    return L + [""]


def op_section(results):
    """Builtin ops across the zoo: entries using each, and entries it blocks in Ember."""
    use, total = {}, {}
    for r in results:
        meta = zoo.status(r["model"], r["flavour"]) or {}
        for op, n in meta.get("ops", {}).items():
            use.setdefault(op, set()).add((r["model"], r["flavour"]))
            total[op] = total.get(op, 0) + n
    blocks = {}
    for r in results:
        for op in r.get("unsupported_ops", {}):
            blocks[op] = blocks.get(op, 0) + 1
    n = len({k for v in use.values() for k in v})
    L = ["## TFLite builtin ops in the zoo", "",
         f"Across the {n} entries that converted (from each model.tflite's flatbuffer; "
         "`tools/zoo/.cache/ops.tsv` has the per-entry counts).", "",
         "| op | entries using it | ops in all | entries it blocks in Ember | models |", "|---|---|---|---|---|"]
    for op in sorted(use, key=lambda o: (-len(use[o]), o)):
        ms = sorted({m for m, _ in use[op]})
        L.append(f"| {op} | {len(use[op])} | {total[op]} | {blocks.get(op, 0) or ''} | {', '.join(ms)} |")
    L.append("")
    return L


def sparse_section(results):
    L = []
    for r in results:
        if r["flavour"] != "sparse":
            continue
        meta = zoo.status(r["model"], r["flavour"]) or {}
        sp = meta.get("sparse_tensors", [])
        if not L:
            L = ["## Sparse entries", "",
                 "~80 % of every conv/dense kernel set to zero with numpy, converted with "
                 "`Optimize.EXPERIMENTAL_SPARSITY`; sparse tensors counted from the flatbuffer "
                 "(Tensor.sparsity set).", "",
                 "| model | pruning | sparse tensors | of them 1x4 blocks | DENSIFY ops | Ember |", "|---|---|---|---|---|---|"]
        blocks = sum(1 for t in sp if t.get("block_map"))
        L.append(f"| {r['model']} | {meta.get('pruning', {}).get('style', '')} | {len(sp)} | {blocks} | "
                 f"{meta.get('ops', {}).get('DENSIFY', 0)} | {short_cell(r)} |")
    return L + [""] if L else []


def write_doc(path, results, ember, seconds):
    models = list(dict.fromkeys([r["model"] for r in results]))
    flavours = [f for f in zoo.FLAVOURS if any(r["flavour"] == f for r in results)]
    by = {(r["model"], r["flavour"]): r for r in results}
    counts = {}
    for r in results:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    L = []
    L.append("# TFLite model zoo: Ember against LiteRT reference kernels")
    L.append("")
    L.append("Generated by `bash tools/zoo/check.sh` from the entries that `tools/zoo/make_tflite_zoo.py` "
             "built (Keras models with random fixed-seed weights, see tools/zoo/README.md). Each entry is "
             "packed with `ember pack model.tflite -o X.ember`, run with `ember run X.ember --input NAME=inputs/00.npy "
             "--output DIR`, and compared with the outputs of LiteRT's reference kernels (BUILTIN_REF) for the same input. "
             f"Integer outputs must be equal; float outputs match when max|a-b| / max(max|ref|, 1e-6) ≤ {REL_TOL:g}. "
             "An entry that differs is run again with `EMBER_ISA=scalar` (the reference kernels, which sum in "
             "LiteRT's order); its result is given in brackets.")
    L.append("")
    fallback = [f"{r['model']}/{r['flavour']}" for r in results
                if (zoo.status(r["model"], r["flavour"]) or {}).get("reference_kernels", "BUILTIN_REF") != "BUILTIN_REF"]
    if fallback:
        L.append("Reference from LiteRT's builtin kernels without delegates instead (the reference resolver lacks an "
                 "op version; meta.json says which): " + ", ".join(fallback) + ".")
        L.append("")
    lowered = [f"{r['model']}/{r['flavour']} ({(zoo.status(r['model'], r['flavour']) or {})['reference_note'].split(' (')[0]})"
               for r in results if "reference_note" in (zoo.status(r["model"], r["flavour"]) or {})]
    if lowered:
        L.append("Reference kernels run on a copy whose data-movement op is marked version 1, because the reference "
                 "resolver registers only version 1 and later versions add nothing but element types: "
                 + ", ".join(lowered) + ".")
        L.append("")
    built = time.strftime("%Y-%m-%d %H:%M", time.localtime(os.path.getmtime(ember)))
    L.append(f"Ember binary: `{ember}` (built {built}); {len(results)} entries checked in {seconds:.0f} s: "
             + ", ".join(f"{v} {k}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1])) + ".")
    L.append("")
    L.append("| model | " + " | ".join(flavours) + " |")
    L.append("|---|" + "---|" * len(flavours))
    for m in models:
        cells = []
        for f in flavours:
            r = by.get((m, f))
            cells.append("—" if r is None else short_cell(r))
        L.append(f"| {m} | " + " | ".join(cells) + " |")
    L.append("")
    L.extend(blockers_section(results))
    L.extend(op_section(results))
    L.extend(sparse_section(results))
    # What is known about the differences (tools/zoo/DIFFERENCES.md, kept by hand with
    # tools/zoo/compare_layers.py's findings) follows the generated tables.
    write_with_entries(path, L, results, os.path.join(HERE, "DIFFERENCES.md"))


def write_with_entries(path, lines, results, notes):
    """Writes `lines`, then the every-entry table, then the hand-kept `notes` file if it exists
    (also used by check_onnx.py)."""
    L = lines + ["## Every entry", "", "| model | flavour | result | detail |", "|---|---|---|---|"]
    for r in results:
        status = r["status"] + (f" (scalar kernels: {r['scalar']['status']})" if "scalar" in r else "")
        L.append(f"| {r['model']} | {r['flavour']} | {status} | {r.get('detail', '').replace('|', '/')} |")
    L.append("")
    if os.path.exists(notes):
        L.append(open(notes).read())
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("\n".join(L))


def add_zoo_arguments(ap, zoo_module, work):
    """The flags every zoo script takes: the ember binary, which models and flavours, where outputs go."""
    ap.add_argument("--ember", default=os.path.join(ROOT, ".build", "release", "ember"))
    ap.add_argument("--only")
    ap.add_argument("--flavours", default=",".join(zoo_module.FLAVOURS))
    ap.add_argument("--work", default=work, help="where packages and outputs go")


def built_entries(zoo_module, only, flavours):
    """(model, flavour, meta) of every built entry that --only and --flavours select, in zoo order."""
    wanted = flavours.split(",")
    flavours_of = getattr(zoo_module, "flavours_of", lambda _name, w: w)
    for n in zoo_module.MODELS:
        if only and n not in only.split(","):
            continue
        for f in flavours_of(n, wanted):
            meta = zoo_module.status(n, f)
            if meta is not None:
                yield n, f, meta


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_zoo_arguments(ap, zoo, "/tmp/zoo-check")
    ap.add_argument("--doc", default=os.path.join(ROOT, "docs", "TFLITE_ZOO.md"))
    ap.add_argument("--timeout", type=int, default=600, help="seconds per pack or run")
    a = ap.parse_args()
    zoo.ensure_venv()
    ember = os.path.abspath(a.ember)
    if not os.access(ember, os.X_OK):
        sys.exit(f"check: no ember binary at {ember} (build it, or pass --ember PATH)")
    os.makedirs(a.work, exist_ok=True)
    results, t_all = [], time.time()
    for n, f, meta in built_entries(zoo, a.only, a.flavours):
        r = check_entry(ember, meta, os.path.join(zoo.CACHE, n, f), a.work, a.timeout)
        if r["status"] == "differs":
            # The SIMD kernels sum floats in another order than LiteRT's reference kernels; the scalar
            # ones keep its order, so the second run tells an order effect from a real difference.
            r["scalar"] = check_entry(ember, meta, os.path.join(zoo.CACHE, n, f), a.work, a.timeout, isa="scalar")
        results.append(r)
        scalar = f" [scalar kernels: {r['scalar']['status']}]" if "scalar" in r else ""
        print(f"{n:20s} {f:13s} {r['status']:17s} {r.get('detail', '')[:150]}{scalar}", flush=True)
    if not results:
        sys.exit("check: nothing built; run tools/zoo/make_tflite_zoo.py first")
    seconds = time.time() - t_all
    with open(os.path.join(zoo.CACHE, "check.json"), "w") as f:
        json.dump({"ember": ember, "results": results}, f, indent=1)
    write_doc(a.doc, results, ember, seconds)
    counts = {}
    for r in results:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    print(f"check: {len(results)} entries in {seconds:.0f}s: " + ", ".join(f"{v} {k}" for k, v in counts.items())
          + f"; wrote {os.path.relpath(a.doc, ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
