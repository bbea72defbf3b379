#!/usr/bin/env python3
"""What holding a package safely costs: `ember run` on a large package with
--file-protection lease (mapped, zero copy until a writer breaks the lease) and
copy (read whole into private memory), interleaved in one run, reporting wall
time and peak RSS of each; then the price of a lease break (a writer replacing
the file while a session runs).

    python3 tools/bench_load.py [--mb 256] [--rounds 5] [--ember .build/release/ember]

The package is written here, byte for byte per docs/FORMAT.md: one
FullyConnected layer whose f32 weights take --mb MiB, in a raw TENS section.
"""
import argparse, os, resource, struct, subprocess, sys, tempfile, time, zlib


def string(s):
    b = s.encode()
    return struct.pack("<I", len(b)) + b


def package(k, n):
    """x f32[1,k] -> FullyConnected(w f32[n,k]) -> y f32[1,n], weights raw."""
    weights = struct.pack("<f", 0.001) * (n * k)
    def value(name, dims, const=None):
        v = string(name) + bytes([1, 2 if const else 0, len(dims)])
        for d in dims:
            v += bytes([0]) + struct.pack("<q", d)
        if const:
            v += struct.pack("<IQQ", 0, 0, const)
        return v
    graph = string("big") + struct.pack("<I", 3)
    graph += value("x", [1, k]) + value("w", [n, k], len(weights)) + value("y", [1, n])
    graph += struct.pack("<I", 1) + string("fc") + struct.pack("<H", 2) + bytes([0])
    graph += struct.pack("<I", 2) + struct.pack("<ii", 0, 1) + struct.pack("<i", 2)
    graph += struct.pack("<I", 1) + struct.pack("<i", 0) + struct.pack("<I", 1) + struct.pack("<i", 2)
    meta = struct.pack("<I", 1) + string("name") + string("bench-load")
    vars_ = struct.pack("<I", 1) + string("fp32") + struct.pack("<f", float("nan")) + string("") + struct.pack("<QQQI", n * k, len(weights), 0, 0)
    sections = [(b"META", 0, meta), (b"VARS", 0, vars_), (b"GRPH", 0, graph), (b"TENS", 0, weights)]
    align = lambda x: (x + 63) // 64 * 64
    offset = align(64 + 48 * len(sections))
    table, body, offsets = b"", b"", []
    for kind, sid, payload in sections:
        offsets.append(offset)
        table += kind + struct.pack("<IQQQBBHIQ", sid, offset, len(payload), len(payload), 0, 1, 0, zlib.crc32(payload), 0)
        offset = align(offset + len(payload))
    length = offsets[-1] + len(sections[-1][2])
    header = b"EMBR" + struct.pack("<HHQIIQQII", 1, 0, 0, len(sections), 64, 64, length, zlib.crc32(table), 0) + bytes(12)
    header += struct.pack("<I", zlib.crc32(header))
    out = bytearray(header + table)
    for (kind, sid, payload), o in zip(sections, offsets):
        out += bytes(o - len(out)) + payload
    return bytes(out)


def run(cmd):
    """Wall seconds and peak RSS (MiB) of one child (measured in a fresh launcher process)."""
    script = ("import resource,subprocess,sys,time;t=time.monotonic();"
              "r=subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL,stderr=subprocess.PIPE);"
              "print(r.returncode,time.monotonic()-t,resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,r.stderr.decode()[:200].replace(' ','_'))")
    out = subprocess.run([sys.executable, "-c", script] + cmd, capture_output=True, text=True).stdout.split()
    if out[0] != "0":
        sys.exit(f"bench_load: {' '.join(cmd)} failed: {out[3:]}")
    return float(out[1]), int(out[2]) / 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=int, default=256, help="weight MiB (default 256)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--ember", default=".build/release/ember")
    a = ap.parse_args()
    k = 1024
    n = a.mb * 1024 * 1024 // 4 // k
    d = tempfile.mkdtemp(prefix="ember-bench-load-")
    pkg, x = os.path.join(d, "big.ember"), os.path.join(d, "x.npy")
    with open(pkg, "wb") as f:
        f.write(package(k, n))
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1, %d), }" % k
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    with open(x, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + struct.pack("<f", 1.0) * k)
    size = os.path.getsize(pkg)
    limit = str(size + (64 << 20))
    commands = {
        "run": [a.ember, "run", pkg, "--input", "x=" + x, "--max-memory", limit],
        "inspect": [a.ember, "inspect", pkg, "--max-memory", limit],
    }
    results = {(c, m): [] for c in commands for m in ("lease", "copy")}
    for _ in range(a.rounds):
        for (c, m) in results:
            results[(c, m)].append(run(commands[c] + ["--file-protection", m]))
    print(f"package {size / 2**20:.0f} MiB of weights ({a.rounds} interleaved rounds, page cache warm)")
    print("| command | protection | median wall s | median peak RSS MiB |")
    print("|---|---|---:|---:|")
    for (c, m), rs in results.items():
        ws, ms = sorted(r[0] for r in rs), sorted(r[1] for r in rs)
        print(f"| ember {c} | {m} | {ws[len(ws) // 2]:.3f} | {ms[len(ms) // 2]:.0f} |")
    # What kind of memory those pages are, read from /proc while a session runs.
    print("\n| protection | RssAnon MiB | RssFile MiB (clean page cache: reclaimable, shared) |")
    print("|---|---:|---:|")
    for m in ("lease", "copy"):
        p = subprocess.Popen(commands["run"] + ["--file-protection", m, "--repeat", "100"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        status = dict(line.split(":", 1) for line in open(f"/proc/{p.pid}/status"))
        kib = lambda key: int(status.get(key, "0 kB").split()[0]) / 1024
        print(f"| {m} | {kib('RssAnon'):.0f} | {kib('RssFile'):.0f} |")
        p.wait()
    # A writer replacing the file while a session runs: the lease break copies the mapping.
    repeat = "200"
    p = subprocess.Popen([a.ember, "run", pkg, "--input", "x=" + x, "--repeat", repeat, "--max-memory", limit],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    t = time.monotonic()
    with open(pkg, "r+b") as f:  # opening for writing breaks the lease; open() returns once Ember has copied
        opened = time.monotonic() - t
        f.truncate(0)
    out, err = p.communicate()
    status = "completed" if p.returncode == 0 else f"failed ({err.strip()})"
    print(f"\nlease break: the writer's open() waited {opened * 1000:.0f} ms while {size / 2**20:.0f} MiB were copied; the running session {status}")


if __name__ == "__main__":
    main()
