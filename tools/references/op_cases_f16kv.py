#!/usr/bin/env python3
"""References for causal attention through an f16 KV cache (`KVCacheType.f16`), with PyTorch.

Writes Tests/Fixtures/references/op-cases-f16kv.safetensors in op_cases.py's layout. The cache
stores keys and values as IEEE binary16 (rounded to nearest even), so each case's `expect_f16kv`
is PyTorch's causal SDPA over `k.half().float()` and `v.half().float()` in f32: what the runtime
computes up to f32 rounding. `expect` is the same attention over the f32 keys and values.

The first two cases take their q/k/v from the committed op-cases.safetensors (op_cases.py's
attn_causal_gqa / attn_causal_mha), read rather than regenerated: a rerun of op_cases.py on another
machine moves the last bits of other expected values. The third is new: 40 positions, head size
32, grouped-query, so a prefill of 24 rows takes the fused kernel and later steps the row kernel.

    tools/.venv/bin/python tools/references/op_cases_f16kv.py
"""
import json
import os

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

torch.manual_seed(20261204)
torch.set_num_threads(1)
here = os.path.dirname(__file__)
refs = os.path.normpath(os.path.join(here, "..", "..", "Tests", "Fixtures", "references"))
committed = load_file(os.path.join(refs, "op-cases.safetensors"))
tensors, meta = {}, {}


def sdpa(q, k, v):
    """Causal attention, runtime layout q [T, H, D], k/v [S, Hkv, D] -> [T, H, D]."""
    qt, kt, vt = (t.transpose(0, 1)[None] for t in (q, k, v))
    out = F.scaled_dot_product_attention(qt, kt, vt, is_causal=True, enable_gqa=qt.shape[1] != kt.shape[1])
    return out[0].transpose(0, 1)


def case(name, prefill, q, k, v):
    meta[name] = json.dumps({"prefill": prefill})
    f16 = lambda t: t.half().float()
    for key, t in dict(q=q, k=k, v=v, expect=sdpa(q, k, v), expect_f16kv=sdpa(q, f16(k), f16(v))).items():
        tensors[f"{name}.{key}"] = t.detach().to(torch.float32).contiguous().clone()


case("attn_causal_gqa", 5, *(committed[f"attn_causal_gqa.{x}"] for x in "qkv"))
case("attn_causal_mha", 1, *(committed[f"attn_causal_mha.{x}"] for x in "qkv"))
case("attn_causal_long", 24, torch.randn(40, 4, 32), torch.randn(40, 2, 32), torch.randn(40, 2, 32))

out = os.path.join(refs, "op-cases-f16kv.safetensors")
save_file(tensors, out, metadata=meta)
print(f"{len(meta)} cases, {len(tensors)} tensors, {os.path.getsize(out)} bytes -> {out}")
