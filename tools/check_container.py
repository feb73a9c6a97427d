#!/usr/bin/env python3
"""Check a converted GGUF container against the upstream checkpoints it was made from.

    tools/.venv/bin/python tools/check_container.py OUT.gguf \\
        --component sd15.unet.=Tests/Fixtures/sd15/unet \\
        --component llm.=Tests/Fixtures/vicuna  [--allow-missing 'rotary_emb\\.inv_freq$'] ...

Naming rule: a container tensor is called `<component prefix><upstream key>`. Every `--component
PREFIX=PATH` names the prefix and the file or folder the component came from (a single checkpoint file,
a sharded folder with an index json, a diffusers component folder such as `.../sd15/unet`, ...). Without
any --component the checker looks for string KVs `<prefix>source.root` in the container and uses those
(relative paths resolved against the current directory, then the container's directory).

Every GGUF tensor under a component prefix is dequantized with gguf-py and compared with its source:
  F32 / F16 / BF16        exact, against the source cast to that type
  I8 / I16 / I32 / I64    exact
  Q8_0                    per 32-block max |err| <= 0.5*d + 127*|d - d16|   (d = amax/127, d16 its fp16)
  Q4_0                    per 32-block max |err| <= d + 8*|d - d16|         (d = amax/8)
  Q4_K                    relative L2 error <= 0.1 over the tensor
  other quant types       relative L2 error <= a per-type bound (Q4_1 .1, Q5_x .06, Q6_K .03, Q2_K/Q3_K .3)
Quantized weights whose PyTorch shape is not 2-D may be stored flattened; the container then holds an INT64
array KV `nextgpt.orig_shape.<tensor name>` (PyTorch order) used to reshape before comparing.
Exit status 1 on any mismatch, on a source tensor missing from the container (unless --allow-missing
matches), or on a container tensor under a component prefix that has no source (unless --allow-extra).

Name-renaming rules (source key -> container key) are pluggable: see RENAME_RULES. `identity` is always
tried; `--rename RULE` adds more (e.g. `vae-attn` maps legacy VAE attention names query/key/value/proj_attn
to to_q/to_k/to_v/to_out.0). `--rename-from-ldm` is reserved for original-LDM single files (not yet
implemented).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# ----------------------------------------------------------------------------------------------
# source loading


WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt")
INDEX_NAMES = ("model.safetensors.index.json", "diffusion_pytorch_model.safetensors.index.json",
               "pytorch_model.bin.index.json", "diffusion_pytorch_model.bin.index.json")


class LazySource:
    """Key -> tensor access over one or more checkpoint files (loaded on first use)."""

    def __init__(self, files: list[Path]):
        self.files = files
        self._keys: "OrderedDict[str, Path]" = OrderedDict()
        self._loaded: dict[Path, dict] = {}
        for f in files:
            for k in self._list_keys(f):
                self._keys.setdefault(k, f)

    @staticmethod
    def _torch_load(path: Path):
        import torch
        try:
            obj = torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
        except Exception:
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
        while isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
            obj = obj["state_dict"]
        if isinstance(obj, dict) and "module" in obj and isinstance(obj["module"], dict) and len(obj) < 8:
            obj = obj["module"]
        return obj

    def _list_keys(self, path: Path) -> list[str]:
        if path.suffix == ".safetensors":
            from safetensors import safe_open
            with safe_open(str(path), "pt") as f:
                return list(f.keys())
        obj = self._torch_load(path)
        self._loaded[path] = obj
        return [k for k, v in obj.items() if hasattr(v, "shape")]

    def keys(self):
        return list(self._keys.keys())

    def get(self, key: str):
        import torch
        path = self._keys[key]
        if path.suffix == ".safetensors":
            from safetensors import safe_open
            with safe_open(str(path), "pt") as f:
                t = f.get_tensor(key)
        else:
            t = self._loaded[path][key]
        if isinstance(t, torch.nn.Parameter):
            t = t.detach()
        return t


def resolve_source_files(path: Path, variant: str | None) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(path)
    for idx in INDEX_NAMES:
        cands = [path / idx]
        if variant:
            base, ext = idx.rsplit(".index.json", 1)[0], ".index.json"
            stem, wext = base.rsplit(".", 1)
            cands.insert(0, path / f"{stem}.{variant}.{wext}{ext}")
        for c in cands:
            if c.exists():
                wm = json.loads(c.read_text())["weight_map"]
                return [path / f for f in OrderedDict.fromkeys(wm.values())]
    files = sorted(p for p in path.iterdir() if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES))

    def variant_of(p: Path):
        parts = p.name.split(".")
        return parts[-2] if len(parts) >= 3 else None

    plain = [p for p in files if variant_of(p) is None]
    var = [p for p in files if variant_of(p) is not None]
    if variant:
        chosen = [p for p in var if variant_of(p) == variant]
        if chosen:
            plain = chosen
    if not plain:
        plain = var
    # diffusers/transformers preference: safetensors over pickles when both exist for the same stem
    st = [p for p in plain if p.suffix == ".safetensors"]
    if st:
        return st
    if not plain:
        raise FileNotFoundError(f"no weight files in {path}")
    return plain


# ----------------------------------------------------------------------------------------------
# renaming rules: functions source_key -> list of candidate container keys (without prefix)

def _rule_identity(k: str) -> list[str]:
    return [k]


_VAE_ATTN = {"query": "to_q", "key": "to_k", "value": "to_v", "proj_attn": "to_out.0"}


def _rule_vae_attn(k: str) -> list[str]:
    m = re.match(r"^(.*\.mid_block\.attentions\.\d+)\.(query|key|value|proj_attn)\.(weight|bias)$", k)
    if m:
        return [f"{m.group(1)}.{_VAE_ATTN[m.group(2)]}.{m.group(3)}"]
    return []


def _rule_from_ldm(k: str) -> list[str]:
    raise NotImplementedError("--rename-from-ldm: LDM -> diffusers renaming is not implemented yet")


RENAME_RULES = {
    "identity": _rule_identity,
    "vae-attn": _rule_vae_attn,
    "from-ldm": _rule_from_ldm,
}


# ----------------------------------------------------------------------------------------------
# comparisons

REL_L2_BOUNDS = {"Q4_K": 0.1, "Q4_1": 0.1, "Q5_0": 0.06, "Q5_1": 0.06, "Q5_K": 0.06, "Q6_K": 0.03,
                 "Q3_K": 0.3, "Q2_K": 0.3, "Q8_1": 0.02, "Q8_K": 0.02, "MXFP4": 0.2}


def block_bound(src_blocks: np.ndarray, qname: str) -> np.ndarray:
    b = src_blocks.astype(np.float64)
    amax = np.abs(b).max(axis=1)
    if qname == "Q8_0":
        d = amax / 127.0
        d16 = d.astype(np.float16).astype(np.float64)
        return (0.5 * d + 127.0 * np.abs(d - d16)) * (1 + 1e-6) + 1e-12
    if qname == "Q4_0":
        d = amax / 8.0
        d16 = d.astype(np.float16).astype(np.float64)
        return (d + 8.0 * np.abs(d - d16)) * (1 + 1e-6) + 1e-12
    raise ValueError(qname)


@dataclass
class Row:
    name: str
    qtype: str
    shape: tuple
    status: str
    metric: str = ""
    detail: str = ""


@dataclass
class Component:
    prefix: str
    path: Path
    source: LazySource | None = None
    key_of: dict = field(default_factory=dict)   # container key (no prefix) -> source key


def torch_to_numpy_as(t, qname: str) -> np.ndarray:
    """Cast a torch source tensor to the container's storage type and return it as numpy (float32 view for
    F16/BF16 so comparisons are exact)."""
    import torch
    if qname == "F32":
        return t.to(torch.float32).numpy()
    if qname == "F16":
        return t.to(torch.float16).to(torch.float32).numpy()
    if qname == "BF16":
        return t.to(torch.bfloat16).to(torch.float32).numpy()
    if qname in ("I8", "I16", "I32", "I64"):
        return t.numpy().astype(np.int64)
    if qname == "F64":
        return t.to(torch.float64).numpy()
    return t.to(torch.float32).numpy()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("gguf", nargs="?", help="container to check")
    ap.add_argument("--component", action="append", default=[], metavar="PREFIX=PATH")
    ap.add_argument("--variant", default=None, help="prefer weight files of this variant (e.g. fp16)")
    ap.add_argument("--rename", action="append", default=[], choices=sorted(RENAME_RULES), help="extra rename rule")
    ap.add_argument("--rename-from-ldm", action="store_true", help="(reserved) map original-LDM names")
    ap.add_argument("--allow-missing", action="append", default=[], metavar="REGEX",
                    help="source keys matching this may be absent from the container")
    ap.add_argument("--allow-extra", action="append", default=[], metavar="REGEX",
                    help="container keys (without prefix) matching this may have no source")
    ap.add_argument("--quiet", action="store_true", help="print only failures and the summary")
    ap.add_argument("--self-test", action="store_true", help="build small GGUFs from Tests/Fixtures and check them")
    args = ap.parse_args(argv)

    if args.self_test:
        return self_test()
    if not args.gguf:
        ap.error("OUT.gguf is required")

    import gguf
    from gguf import GGMLQuantizationType as Q

    reader = gguf.GGUFReader(args.gguf)
    kv = {}
    for name, fld in reader.fields.items():
        try:
            kv[name] = fld.contents()
        except Exception:
            pass

    comps: list[Component] = []
    specs = list(args.component)
    if not specs:
        for k, v in kv.items():
            if k.endswith("source.root") and isinstance(v, str):
                specs.append(f"{k[:-len('source.root')]}={v}")
    if not specs:
        print("no --component given and no `<prefix>source.root` KVs in the container", file=sys.stderr)
        return 2
    for spec in specs:
        if "=" not in spec:
            ap.error(f"--component wants PREFIX=PATH, got {spec!r}")
        prefix, p = spec.split("=", 1)
        path = Path(p)
        if not path.exists() and not path.is_absolute():
            alt = Path(args.gguf).resolve().parent / p
            if alt.exists():
                path = alt
        comps.append(Component(prefix, path))

    rules = ["identity"] + list(args.rename)
    if args.rename_from_ldm:
        rules.append("from-ldm")
    for c in comps:
        c.source = LazySource(resolve_source_files(c.path, args.variant))
        for sk in c.source.keys():
            for r in rules:
                for ck in RENAME_RULES[r](sk):
                    c.key_of.setdefault(ck, sk)

    comps.sort(key=lambda c: -len(c.prefix))
    rows: list[Row] = []
    seen: dict[int, set] = {id(c): set() for c in comps}
    ignored = 0
    for t in reader.tensors:
        comp = next((c for c in comps if t.name.startswith(c.prefix)), None)
        qname = t.tensor_type.name
        ggml_shape = tuple(int(x) for x in t.shape)
        np_shape = tuple(reversed(ggml_shape))
        if comp is None:
            ignored += 1
            continue
        ck = t.name[len(comp.prefix):]
        sk = comp.key_of.get(ck)
        if sk is None:
            if any(re.search(rx, ck) for rx in args.allow_extra):
                rows.append(Row(t.name, qname, np_shape, "extra-ok"))
            else:
                rows.append(Row(t.name, qname, np_shape, "EXTRA", detail="no source tensor"))
            continue
        seen[id(comp)].add(sk)
        src = comp.source.get(sk)
        src_shape = tuple(src.shape)
        orig_key = f"nextgpt.orig_shape.{t.name}"
        target_shape = tuple(int(x) for x in kv[orig_key]) if orig_key in kv else np_shape
        try:
            if qname in ("F32", "F16", "BF16", "F64", "I8", "I16", "I32", "I64"):
                data = np.asarray(t.data)
                if qname == "BF16":
                    data = gguf.quants.dequantize(data, t.tensor_type)
                deq = data.reshape(target_shape)
            else:
                deq = gguf.quants.dequantize(np.asarray(t.data), t.tensor_type).reshape(target_shape)
        except Exception as e:  # noqa: BLE001
            rows.append(Row(t.name, qname, np_shape, "FAIL", detail=f"cannot decode: {e}"))
            continue
        if tuple(deq.shape) != src_shape:
            if int(np.prod(deq.shape)) == int(np.prod(src_shape)) == 1:
                deq = deq.reshape(src_shape)
            else:
                rows.append(Row(t.name, qname, np_shape, "FAIL",
                                detail=f"shape {tuple(deq.shape)} != source {src_shape}"))
                continue
        ref = torch_to_numpy_as(src, qname)
        if qname in ("F32", "F16", "BF16", "F64", "I8", "I16", "I32", "I64"):
            a = deq.astype(np.float64) if qname.startswith(("F", "B")) else deq.astype(np.int64)
            b = ref.astype(np.float64) if qname.startswith(("F", "B")) else ref.astype(np.int64)
            same = np.array_equal(a, b, equal_nan=qname.startswith(("F", "B")))
            diff = float(np.nanmax(np.abs(a - b))) if a.size and not same else 0.0
            rows.append(Row(t.name, qname, np_shape, "ok" if same else "FAIL",
                            metric="exact" if same else f"max|d|={diff:.3g}"))
            continue
        x = ref.astype(np.float32).reshape(-1)
        y = deq.astype(np.float32).reshape(-1)
        if qname in ("Q8_0", "Q4_0"):
            # blocks run along the innermost (ggml ne0) dimension of the stored tensor
            xb = ref.astype(np.float32).reshape(-1, 32)
            yb = deq.astype(np.float32).reshape(-1, 32)
            err = np.abs(xb - yb).max(axis=1)
            bound = block_bound(xb, qname)
            worst = float((err / np.maximum(bound, 1e-30)).max()) if err.size else 0.0
            ok = bool((err <= bound).all())
            rows.append(Row(t.name, qname, np_shape, "ok" if ok else "FAIL", metric=f"err/bound={worst:.3f}"))
            continue
        bound = REL_L2_BOUNDS.get(qname)
        if bound is None:
            rows.append(Row(t.name, qname, np_shape, "FAIL", detail=f"no comparison rule for {qname}"))
            continue
        num = float(np.linalg.norm((x - y).astype(np.float64)))
        den = float(np.linalg.norm(x.astype(np.float64)))
        rel = num / den if den > 0 else num
        rows.append(Row(t.name, qname, np_shape, "ok" if rel <= bound else "FAIL",
                        metric=f"relL2={rel:.4f} (<= {bound})"))

    for c in comps:
        for sk in c.source.keys():
            if sk in seen[id(c)]:
                continue
            if any(re.search(rx, sk) for rx in args.allow_missing):
                rows.append(Row(c.prefix + sk, "-", tuple(c.source.get(sk).shape), "missing-ok"))
            else:
                rows.append(Row(c.prefix + sk, "-", tuple(c.source.get(sk).shape), "MISSING",
                                detail=f"source {c.path}"))

    bad = [r for r in rows if r.status in ("FAIL", "MISSING", "EXTRA")]
    w = max([len(r.name) for r in rows] + [20])
    for r in rows:
        if args.quiet and r not in bad:
            continue
        print(f"{r.name:<{w}}  {r.qtype:<6} {str(r.shape):<22} {r.status:<10} {r.metric} {r.detail}".rstrip())
    counts = {}
    for r in rows:
        counts[r.status] = counts.get(r.status, 0) + 1
    print(f"\n{len(rows)} rows: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
          + (f"; {ignored} container tensors outside the given prefixes" if ignored else ""))
    if bad:
        print(f"FAILED: {len(bad)} problem(s)")
        return 1
    print("OK")
    return 0


# ----------------------------------------------------------------------------------------------
# self test: write containers with gguf-py from the committed fixtures and check them

def self_test() -> int:
    import tempfile

    import gguf
    import torch
    from gguf import GGMLQuantizationType as Q

    root = Path(__file__).resolve().parent.parent / "Tests" / "Fixtures"
    sys.path.insert(0, str(Path(__file__).resolve().parent / "fixtures"))
    try:
        from fx_quant import ggml_c_quantize      # ggml's C Q4_K quantizer, if llama_cpp is importable
    except Exception:                              # noqa: BLE001
        ggml_c_quantize = None
    comps = {"sd15.unet.": root / "sd15" / "unet", "sd15.vae.": root / "sd15" / "vae",
             "llm.": root / "vicuna", "nextgpt.": root / "nextgpt-delta" / "pytorch_model.pt",
             "ib.": root / "imagebind" / "imagebind_huge.pth", "zs.unet.": root / "zeroscope" / "unet"}
    tmp = Path(tempfile.mkdtemp(prefix="check_container_"))

    def write(path: Path, corrupt: bool, drop: bool):
        w = gguf.GGUFWriter(str(path), "nextgpt")
        pending = [corrupt]
        for prefix, p in comps.items():
            w.add_string(f"{prefix}source.root", str(p))
            src = LazySource(resolve_source_files(p, None))
            for i, k in enumerate(src.keys()):
                if drop and prefix == "llm." and k.endswith("inv_freq"):
                    continue
                t = src.get(k)
                name = prefix + k
                a = t.to(torch.float32).numpy() if t.dtype.is_floating_point else t.numpy()
                if a.ndim == 0:
                    a = a.reshape(1)
                flat = a.reshape(a.shape[0], -1) if t.dim() >= 2 else None
                if flat is not None and flat.shape[-1] % 32 == 0 and t.dtype.is_floating_point:
                    qt = Q.Q8_0 if i % 2 == 0 else Q.Q4_0
                    qd = None
                    if i % 3 == 0 and flat.shape[-1] % 256 == 0 and ggml_c_quantize is not None:
                        qd = ggml_c_quantize(flat, int(Q.Q4_K), 144, 256)
                        if qd is not None:
                            qt = Q.Q4_K
                    if qd is None:
                        qd = gguf.quants.quantize(flat, qt)
                    if pending[0]:          # flip bits in the first quantized tensor's first block
                        pending[0] = False
                        qd = qd.copy()
                        qd[0, 2:10] ^= 0x11
                    w.add_tensor(name, qd, raw_shape=qd.shape, raw_dtype=qt)
                    if t.dim() != 2:
                        w.add_array(f"nextgpt.orig_shape.{name}", [int(s) for s in t.shape])
                elif t.dtype == torch.float16:
                    w.add_tensor(name, t.numpy())
                else:
                    w.add_tensor(name, a)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()

    good, badq, missing = tmp / "good.gguf", tmp / "bad.gguf", tmp / "missing.gguf"
    write(good, False, False)
    write(badq, True, False)
    write(missing, False, True)
    r1 = main([str(good)])
    r2 = main([str(badq), "--quiet"])
    r3 = main([str(missing), "--quiet"])
    r4 = main([str(missing), "--quiet", "--allow-missing", r"rotary_emb\.inv_freq$"])
    ok = r1 == 0 and r2 == 1 and r3 == 1 and r4 == 0
    import shutil
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nself-test: good={r1} corrupted={r2} missing={r3} missing-allowed={r4} -> {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
