#!/usr/bin/env python3
"""Table of tools/bench/bench_llama.sh's runs: per type, metric and runtime the median over the
rounds (min–max), and the ratio of each of our runs to llama.cpp's in the same round, as median
(min–max) over the rounds (above 1: we are faster; for first token and memory, below 1 is better).
Decode is also given in GB/s (our container's bytes per token × tok/s, an upper bound by the
token-embedding table) beside the round's read bandwidth over distinct pages when measured: the
sustained rate of a whole 1 GiB pass when the log has it, else the best 16 MiB chunk."""

import json
import os
import statistics
import sys
from collections import defaultdict

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
# The whole-pass (sustained) probe when the round has it; older logs have only the best 16 MiB chunk.
best_chunk = {r.get("round", 0): r["gbs_best"] for r in rows if r["runtime"] == "bandwidth" and r["gbs_best"] > 0}
bandwidth = {r.get("round", 0): r.get("gbs_pass") or r["gbs_best"] for r in rows
             if r["runtime"] == "bandwidth" and (r.get("gbs_pass") or r["gbs_best"]) > 0}
sustained = any(r.get("gbs_pass") for r in rows if r["runtime"] == "bandwidth")
values = defaultdict(dict)  # (type, runtime, metric) -> {round: value}
weight_bytes = {}
for r in [r for r in rows if r["runtime"] != "bandwidth"]:
    t, rt, rnd = r["type"], r["runtime"], r.get("round", 0)
    for k, v in r.items():
        if k.startswith(("pp", "tg")):
            values[(t, rt, k)][rnd] = v["best"]
    values[(t, rt, "first_token_ms")][rnd] = r["first_token_seconds"]["best"] * 1000
    values[(t, rt, "peak_rss_gb")][rnd] = r["peak_rss_bytes"] / 1e9
    if rt.startswith("ours") and os.path.exists(r["model"]):
        weight_bytes[t] = os.path.getsize(r["model"])


def span(xs):
    return f"{statistics.median(xs):8.2f} ({min(xs):.2f}–{max(xs):.2f})"


if best_chunk:
    bw = list(best_chunk.values())
    print(f"read bandwidth, 2 threads, distinct pages, best 16 MiB chunk: {span(bw)} GB/s over {len(bw)} rounds")
if sustained:
    bw = list(bandwidth.values())
    print(f"read bandwidth, 2 threads, distinct pages, whole 1 GiB pass (the % below): {span(bw)} GB/s")
types = sorted({k[0] for k in values})
runtimes = sorted({k[1] for k in values}, key=lambda r: (r == "llama.cpp", r))
metrics = sorted({k[2] for k in values}, key=lambda m: (not m.startswith("pp"), not m.startswith("tg"), m))
print(f"{'type':6} {'metric':16} {'runtime':18} {'median (min–max)':>24} {'ratio to llama.cpp':>28}")
for t in types:
    for m in metrics:
        peer = values.get((t, "llama.cpp", m), {})
        for rt in runtimes:
            mine = values.get((t, rt, m))
            if not mine:
                continue
            ratio = ""
            if rt != "llama.cpp" and peer:
                rs = [mine[k] / peer[k] for k in mine if k in peer and peer[k]]
                ratio = span(rs) if rs else ""
            unit = " tok/s" if m.startswith(("pp", "tg")) else ""
            print(f"{t:6} {m + unit:16} {rt:18} {span(list(mine.values())):>24} {ratio:>28}")
            if m.startswith("tg") and t in weight_bytes:
                gbs = {k: v * weight_bytes[t] / 1e9 for k, v in mine.items()}
                pct = [100 * gbs[k] / bandwidth[k] for k in gbs if bandwidth.get(k)]
                print(f"{'':6} {'  GB/s':16} {rt:18} {span(list(gbs.values())):>24}"
                      + (f" {span(pct):>22} % of bw" if pct else ""))
