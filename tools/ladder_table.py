#!/usr/bin/env python3
"""Prints the BENCHMARKS.md "Ladder rungs" tables from tools/bench_ladder.sh's reports."""
import json, sys
out = sys.argv[1] if len(sys.argv) > 1 else "bench-out/ladder"

def worst(r):
    xs = [float("inf") if x is None else x for x in r["sqnr_db"]]
    return min(xs) if xs else float("nan")

def fmt(x):
    return "∞" if x == float("inf") else f"{x:.1f}"

for m in ["ad01_fp32", "kws_float32", "resnet8_float", "vww96_float"]:
    try:
        d = json.load(open(f"{out}/{m}.json"))
        h = {r["name"]: r for r in json.load(open(f"{out}/{m}-heldout.json"))["rungs"]}
    except FileNotFoundError:
        continue
    print(f"\n**{m}**\n")
    print("| rung | weight bytes | stored bytes | zstd ratio | MACs | arena bytes | SQNR dB (3 calib samples) | SQNR dB (held out) | top-1 (3) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in d["rungs"]:
        t = r["top1_agreement"]
        held = fmt(worst(h[r["name"]])) if r["name"] in h else "-"
        print(f"| {r['name']} | {r['weight_bytes']:,} | {r['stored_bytes']:,} | {r['compression_ratio']:.2f} | {r['macs']:,} "
              f"| {r['arena_bytes']:,} | {fmt(worst(r))} | {held} | {'-' if t is None else f'{round(t * 3)}/3'} |")
