#!/usr/bin/env python3
"""Runs one Stable Diffusion measurement in a fresh process under `/usr/bin/time -v` and appends one
JSON line to LOG: the runner's own JSON (the last stdout line starting with '{', or --stats-json FILE
for `nextgpt sd`), tagged with runtime/type/size/steps, plus the process's wall time and peak RSS
as /usr/bin/time saw them (`time_peak_rss_bytes`, `time_wall_seconds`).

    tools/bench/sd_measure.py --log out/bench/bench_sd.jsonl --runtime ours --type q8_0 --size 512 --steps 3 \
        [--stats-json STATS.json] -- COMMAND ARGS...

Exits non-zero (after printing the tail of the command's stderr) when the command fails; nothing is logged then.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--log", required=True)
    ap.add_argument("--runtime", required=True)
    ap.add_argument("--type", required=True)
    ap.add_argument("--size", type=int, required=True)
    ap.add_argument("--steps", type=int, required=True)
    ap.add_argument("--stats-json", help="the command writes its JSON here instead of stdout")
    ap.add_argument("command", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        ap.error("no command")

    with tempfile.NamedTemporaryFile("r", suffix=".time", delete=False) as t:
        time_file = t.name
    if args.stats_json and os.path.exists(args.stats_json):
        os.remove(args.stats_json)
    print(f"[{args.runtime} {args.type} {args.size}x{args.size}, {args.steps} steps] {' '.join(command)}", file=sys.stderr, flush=True)
    proc = subprocess.run(["/usr/bin/time", "-v", "-o", time_file] + command, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)
    timing = open(time_file).read()
    os.remove(time_file)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        sys.stderr.write(f"\nfailed (exit {proc.returncode}): {' '.join(command)}\n")
        sys.exit(proc.returncode or 1)

    if args.stats_json:
        result = json.load(open(args.stats_json))
    else:
        lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
        if not lines:
            sys.exit(f"no JSON line on the stdout of: {' '.join(command)}\n{proc.stdout[-2000:]}")
        result = json.loads(lines[-1])

    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", timing)
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", timing)
    seconds = None
    if wall:
        seconds = 0.0
        for part in wall.group(1).split(":"):
            seconds = seconds * 60 + float(part)
    record = {"runtime": args.runtime, "type": args.type, "size": args.size, "steps": args.steps}
    record.update({k: v for k, v in result.items() if k not in record})
    record["time_peak_rss_bytes"] = int(rss.group(1)) * 1024 if rss else None
    record["time_wall_seconds"] = seconds
    with open(args.log, "a") as f:
        f.write(json.dumps(record) + "\n")
    steps = result.get("step_seconds") or []
    print(f"  steps {['%.2f' % s for s in steps]} s, VAE decode {result.get('vae_decode_seconds')} s, "
          f"peak RSS {record['time_peak_rss_bytes'] and record['time_peak_rss_bytes'] / 1e9:.2f} GB", file=sys.stderr)


if __name__ == "__main__":
    main()
