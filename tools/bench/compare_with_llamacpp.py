#!/usr/bin/env python3
"""Checks that our container and llama.cpp's GGUF of the same LLaMA checkpoint hold the same
quantized bytes: every tensor except attn_q / attn_k, which llama.cpp row-permutes for its RoPE
layout (compared after undoing that permutation).

    python tools/bench/compare_with_llamacpp.py ours.gguf llamacpp.gguf
"""
import sys

import numpy as np
from gguf import GGUFReader

NAMES = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight",
         "output.weight": "lm_head.weight"}
BLOCK = {"attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
         "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
         "ffn_down": "mlp.down_proj", "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm"}


def hf_name(name):
    if name in NAMES:
        return NAMES[name]
    _, layer, part, kind = name.split(".")
    return f"model.layers.{layer}.{BLOCK[part]}.{kind}"


def unpermute(rows, heads):
    """Inverse of llama.cpp's permute(w, n_head): (heads, rows/heads/2, 2) -> (heads, 2, rows/heads/2)."""
    n = rows.shape[0]
    return rows.reshape(heads, n // heads // 2, 2, -1).swapaxes(1, 2).reshape(rows.shape)


def main():
    ours, theirs = GGUFReader(sys.argv[1]), GGUFReader(sys.argv[2])
    heads = int(theirs.fields["llama.attention.head_count"].parts[-1][0])
    kv_heads = int(theirs.fields.get("llama.attention.head_count_kv", theirs.fields["llama.attention.head_count"]).parts[-1][0])
    by_name = {t.name: t for t in ours.tensors}
    same = permuted = differ = 0
    for t in theirs.tensors:
        mine = by_name["vicuna." + hf_name(t.name)]
        a, b = np.array(mine.data), np.array(t.data)
        if t.name.endswith(("attn_q.weight", "attn_k.weight")):
            b = unpermute(b, heads if "attn_q" in t.name else kv_heads)
            permuted += 1
        if a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b):
            same += 1
        else:
            differ += 1
            print("differs:", t.name, mine.tensor_type.name, t.tensor_type.name)
    print(f"{same} of {len(theirs.tensors)} tensors byte-identical ({permuted} after undoing llama.cpp's q/k permutation), {differ} differ")
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
