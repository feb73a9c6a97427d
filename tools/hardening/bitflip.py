"""Corrupts a converted container and checks that `nextgpt verify-file` names the damage.

Each trial damages a fresh copy of the container: one random bit flipped (uniform over the
file, plus a second set aimed at the header: metadata and tensor records), or one random 4 KiB
page zeroed. verify-file must exit 1 and name what is damaged: the tensor whose bytes hold the
flipped bit, or the header/metadata block, or the padding. Zeroing a page that is already zero
changes nothing and is not counted.

Usage: python tools/hardening/bitflip.py CONTAINER [--nextgpt BIN] [--flips 1000] [--header-flips 200]
       [--pages 100] [--seed 0]
Prints one summary line per kind (kept with the date in tools/hardening/results/bitflip.txt, read
by tools/hardening/report.sh); exits 1 if any damage went unnamed.
"""

import argparse
import datetime
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile


def tensor_ranges(path):
    """(name, start, end) of every tensor's bytes, and the data offset: a minimal GGUF v3 reader."""
    with open(path, "rb") as f:
        data = f.read()
    pos = 0

    def take(fmt):
        nonlocal pos
        values = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return values[0] if len(values) == 1 else values

    def string():
        nonlocal pos
        n = take("Q")
        s = data[pos:pos + n].decode("utf-8", "replace")
        pos += n
        return s

    sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}

    def value(t):
        nonlocal pos
        if t == 8:
            return string()
        if t == 9:
            et, n = take("I"), take("Q")
            return [value(et) for _ in range(n)]
        raw = data[pos:pos + sizes[t]]
        pos += sizes[t]
        return raw

    assert take("I") == 0x46554747, "not GGUF"
    take("I")
    n_tensors, n_kv = take("Q"), take("Q")
    alignment = 32
    for _ in range(n_kv):
        key, t = string(), take("I")
        v = value(t)
        if key == "general.alignment":
            alignment = struct.unpack("<I", v)[0]
    records = []
    # ggml type → (block size, bytes per block) for the types the converter writes.
    blocks = {0: (1, 4), 1: (1, 2), 30: (1, 2), 8: (32, 34), 2: (32, 18), 12: (256, 144)}
    for _ in range(n_tensors):
        name = string()
        dims = [take("Q") for _ in range(take("I"))]
        t, offset = take("I"), take("Q")
        count = 1
        for d in dims:
            count *= d
        block, size = blocks[t]
        records.append((name, offset, count // block * size))
    data_offset = (pos + alignment - 1) // alignment * alignment
    return [(n, data_offset + o, data_offset + o + b) for n, o, b in records], data_offset, len(data)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("container")
    parser.add_argument("--nextgpt", default=os.path.join(here, "..", "..", ".build", "debug", "nextgpt"))
    parser.add_argument("--flips", type=int, default=1000)
    parser.add_argument("--header-flips", type=int, default=200)
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--results", default=os.path.join(here, "results", "bitflip.txt"))
    args = parser.parse_args()
    rng = random.Random(args.seed)
    tensors, data_offset, size = tensor_ranges(args.container)
    with open(args.container, "rb") as f:
        original = f.read()
    work = tempfile.mkdtemp()
    copy = os.path.join(work, "damaged.gguf")
    clean = subprocess.run([args.nextgpt, "verify-file", args.container], capture_output=True, text=True)
    if clean.returncode != 0:
        sys.exit(f"the undamaged container does not verify: {clean.stdout}{clean.stderr}")

    def expected(lo, hi):
        """What the report must name for damage to bytes [lo, hi)."""
        names = [n for n, s, e in tensors if s < hi and lo < e]
        return names

    def trial(damaged, lo, hi):
        with open(copy, "wb") as f:
            f.write(damaged)
        r = subprocess.run([args.nextgpt, "verify-file", copy], capture_output=True, text=True)
        out = r.stdout + r.stderr
        if r.returncode == 0:
            return False, "verify-file passed"
        names = expected(lo, hi)
        if names:
            missing = [n for n in names if f"tensor '{n}'" not in out]
            # A flip that also hits the header is named as header damage; tensor bytes must be named.
            return (not missing), f"does not name {missing}: {out.strip()[:200]}"
        named = any(word in out for word in ("header", "metadata", "padding", "after the last tensor"))
        return named, f"names neither header nor padding: {out.strip()[:200]}"

    results = {}
    kinds = [("bit flips (uniform)", args.flips, 0, size, "bit"), ("bit flips (header)", args.header_flips, 0, data_offset, "bit"),
             ("zeroed 4 KiB pages", args.pages, 0, size, "page")]
    failed = 0
    for label, count, lo, hi, kind in kinds:
        detected = unchanged = 0
        done = 0
        while done < count:
            damaged = bytearray(original)
            if kind == "bit":
                at = rng.randrange(lo, hi)
                damaged[at] ^= 1 << rng.randrange(8)
                span = (at, at + 1)
            else:
                page = rng.randrange(0, (size + 4095) // 4096)
                start, end = page * 4096, min(size, page * 4096 + 4096)
                if not any(original[start:end]):
                    unchanged += 1
                    continue
                damaged[start:end] = bytes(end - start)
                # Only the bytes that changed must be named.
                changed = [i for i in range(start, end) if original[i] != 0]
                span = (changed[0], changed[-1] + 1)
            ok, why = trial(bytes(damaged), *span)
            done += 1
            if ok:
                detected += 1
            else:
                failed += 1
                print(f"  UNNAMED {label} at {span}: {why}")
        results[label] = (detected, count, unchanged)
        extra = f" ({unchanged} all-zero pages skipped)" if kind == "page" else ""
        print(f"{label}: {detected}/{count} detected and named{extra}")
    shutil.rmtree(work)
    os.makedirs(os.path.dirname(os.path.abspath(args.results)), exist_ok=True)
    with open(args.results, "w") as f:
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        f.write(f"# {stamp} {args.container} seed {args.seed}\n")
        for label, (detected, count, _) in results.items():
            f.write(f"{label}: {detected}/{count} detected and named\n")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
