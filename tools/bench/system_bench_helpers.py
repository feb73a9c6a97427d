#!/usr/bin/env python3
"""Helpers of tools/bench/bench_system.sh (standard library + Pillow only):

  image OUT.png [--size 512]           a seeded 512×512 RGB test picture (smooth shapes and noise)
  sample PARENT_PID OUT.jsonl          polls /proc/<child of PARENT_PID>/status every 0.2 s until it
                                       exits: time, VmRSS, RssAnon, RssFile (bytes); PARENT_PID is
                                       /usr/bin/time, whose child is `nextgpt run`
  table DIR                            the benchmark table from DIR/convert.json and DIR/run-*/ (manifest.json,
                                       time.txt = /usr/bin/time -v, rss.jsonl = the samples); prints
                                       markdown and writes DIR/summary.json

The samples are attributed to stages by the manifest's stage seconds counted back from the process's end
(the stages run back to back; what precedes the first stage is container parsing and setup), a second
trimmed off each end of a window; the stage's VmHWM from the manifest is the exact peak, the samples only
say what it was made of (anonymous copies vs mapped file pages).
"""

import json
import os
import random
import re
import sys
import time
from pathlib import Path


def make_image(out: str, size: int = 512) -> None:
    from PIL import Image, ImageDraw, ImageFilter
    rng = random.Random(14)
    img = Image.new("RGB", (size, size), (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    draw = ImageDraw.Draw(img)
    for _ in range(24):
        x0, y0 = rng.randrange(size), rng.randrange(size)
        x1, y1 = x0 + rng.randrange(20, size // 2), y0 + rng.randrange(20, size // 2)
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)([x0, y0, x1, y1], fill=colour)
    img = img.filter(ImageFilter.GaussianBlur(2))
    img.save(out)


def status(pid: int) -> dict | None:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    fields = {}
    for line in text.splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "RssAnon", "RssFile", "RssShmem", "VmHWM"):
            fields[key] = int(rest.split()[0]) * 1024
    return fields


def child_of(parent: int) -> int | None:
    try:
        kids = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    except OSError:
        return None
    return int(kids[0]) if kids else None


def sample(parent: int, out: str, interval: float = 0.2) -> None:
    child = None
    deadline = time.time() + 30
    while child is None and time.time() < deadline:
        child = child_of(parent)
        if child is None:
            if not Path(f"/proc/{parent}").exists():
                return
            time.sleep(0.02)
    if child is None:
        return
    with open(out, "w") as f:
        while True:
            s = status(child)
            if s is None or "VmRSS" not in s:   # gone, or exiting (a zombie's status has no memory lines)
                break
            s["t"] = time.time()
            f.write(json.dumps(s) + "\n")
            f.flush()
            time.sleep(interval)


def gb(n) -> str:
    return "—" if n is None else f"{n / 1e9:.2f}"


def time_v(path: Path) -> dict:
    out = {}
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        line = line.strip()
        if line.startswith("Maximum resident set size (kbytes):"):
            out["maxrss_bytes"] = int(line.split(":")[1]) * 1024
        elif line.startswith("Elapsed (wall clock) time"):
            clock = line.split("):", 1)[1].strip().split(":")
            secs = 0.0
            for part in clock:
                secs = secs * 60 + float(part)
            out["wall_seconds"] = secs
        elif line.startswith("Exit status:"):
            out["exit_status"] = int(line.split(":")[1])
    return out


def summarize_run(run: Path) -> dict:
    manifest = json.loads((run / "manifest.json").read_text()) if (run / "manifest.json").exists() else {}
    tv = time_v(run / "time.txt")
    samples = []
    if (run / "rss.jsonl").exists():
        samples = [json.loads(l) for l in (run / "rss.jsonl").read_text().splitlines() if l.strip()]
        samples = [x for x in samples if "VmRSS" in x]
    stages = [dict(s) for s in manifest.get("stages", [])]
    # Stage windows counted back from the last sample (the process's end, within one interval).
    if samples and stages:
        end = samples[-1]["t"]
        total = sum(s["seconds"] for s in stages)
        # What follows the last stage (writing the PNG and manifest) is short; start the windows there.
        start = end - total
        for s in stages:
            s["t0"], s["t1"] = start, start + s["seconds"]
            start = s["t1"]
    for s in stages:
        # A second trimmed off each end: the windows are placed to within about that, and a sample of the
        # previous stage's last moment must not count as this stage's peak (VmHWM is the exact figure).
        margin = 1.0 if s.get("t1", 0) - s.get("t0", 0) > 3 else 0.0
        window = [x for x in samples if s.get("t0", 0) + margin <= x["t"] <= s.get("t1", 0) - margin]
        if window:
            top = max(window, key=lambda x: x["VmRSS"])
            s["sampled_peak_rss"] = top["VmRSS"]
            s["anon_at_peak"] = top.get("RssAnon")
            s["file_at_peak"] = top.get("RssFile")
            s["max_anon"] = max(x.get("RssAnon", 0) for x in window)
            s["max_file"] = max(x.get("RssFile", 0) for x in window)
        s.pop("t0", None)
        s.pop("t1", None)
    stage_peak = max((s.get("peak_rss_bytes", 0) for s in stages), default=None)
    sampled_peak = max((x["VmRSS"] for x in samples), default=None)
    return {"run": run.name, "stages": stages, "time_v": tv, "stage_peak_max": stage_peak,
            "sampled_peak": sampled_peak, "reply": manifest.get("reply"), "files": manifest.get("files"),
            "signal_runs": manifest.get("signal_runs"), "forced_tokens": manifest.get("forced_tokens")}


def table(folder: str) -> None:
    root = Path(folder)
    convert = json.loads((root / "convert.json").read_text()) if (root / "convert.json").exists() else {}
    runs = [summarize_run(p) for p in sorted(root.glob("run-*")) if p.is_dir()]
    print("| item | value |\n|---|---|")
    if convert:
        print(f"| convert wall time | {convert.get('wall_seconds', 0):.0f} s |")
        print(f"| convert peak RSS | {gb(convert.get('maxrss_bytes'))} GB |")
        print(f"| container size | {gb(convert.get('container_bytes'))} GB ({convert.get('container_bytes', 0):,} bytes) |")
    print()
    print("| run | stage | seconds | peak RSS (VmHWM) GB | sampled: RSS / anon / file at peak, GB |\n|---|---|---|---|---|")
    for r in runs:
        for s in r["stages"]:
            sampled = (f"{gb(s.get('sampled_peak_rss'))} / {gb(s.get('anon_at_peak'))} / {gb(s.get('file_at_peak'))}"
                       if "sampled_peak_rss" in s else "—")
            print(f"| {r['run']} | {s['stage']} | {s['seconds']:.1f} | {gb(s.get('peak_rss_bytes'))} | {sampled} |")
        tv = r["time_v"]
        print(f"| {r['run']} | **whole process** | {tv.get('wall_seconds', 0):.1f} | max of stages {gb(r['stage_peak_max'])}; "
              f"time -v {gb(tv.get('maxrss_bytes'))} | sampled max {gb(r['sampled_peak'])} |")
    print()
    for r in runs:
        print(f"{r['run']}: signal runs {r['signal_runs']}, forced tokens {r['forced_tokens']}, files {r['files']}, "
              f"reply {json.dumps(r['reply'])[:160]}")
    (root / "summary.json").write_text(json.dumps({"convert": convert, "runs": runs}, indent=2) + "\n")


def main(argv):
    if len(argv) >= 2 and argv[0] == "image":
        size = int(argv[argv.index("--size") + 1]) if "--size" in argv else 512
        make_image(argv[1], size)
    elif len(argv) == 3 and argv[0] == "sample":
        sample(int(argv[1]), argv[2])
    elif len(argv) == 2 and argv[0] == "table":
        table(argv[1])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
