#!/usr/bin/env python3
"""Table of tools/bench/bench_llama.sh's runs: best of the rounds per runtime and type, and the
ratio ours / llama.cpp (above 1: we are faster; for first token and memory, below 1 is better)."""

import json
import sys
from collections import defaultdict

rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
best = defaultdict(dict)
for r in rows:
    key = (r["type"], r["runtime"])
    for k, v in r.items():
        if k.startswith(("pp", "tg")):
            best[key][k] = max(best[key].get(k, 0), v["best"])
    best[key]["first_token_ms"] = min(best[key].get("first_token_ms", 1e18), r["first_token_seconds"]["best"] * 1000)
    best[key]["peak_rss_gb"] = min(best[key].get("peak_rss_gb", 1e18), r["peak_rss_bytes"] / 1e9)

metrics = sorted({m for v in best.values() for m in v}, key=lambda m: (not m.startswith("pp"), not m.startswith("tg"), m))
types = sorted({t for t, _ in best})
print(f"{'type':6} {'metric':16} {'ours':>10} {'llama.cpp':>10} {'ratio':>7}")
for t in types:
    ours, peer = best.get((t, "ours"), {}), best.get((t, "llama.cpp"), {})
    for m in metrics:
        if m in ours and m in peer:
            unit = " tok/s" if m.startswith(("pp", "tg")) else ""
            ratio = ours[m] / peer[m] if peer[m] else float("nan")
            print(f"{t:6} {m + unit:16} {ours[m]:10.2f} {peer[m]:10.2f} {ratio:7.2f}")
