#!/usr/bin/env python3
"""Writes a LLaMA-7B-shaped Hugging Face folder with random fp16 weights in two `.bin` shards
(the transformers-4.x layout Vicuna-7B v0 was published in). For benchmarks only: ~13.5 GB,
never committed.

    tools/.venv/bin/python tools/bench/make_llama7b.py OUT_DIR [--tokenizer Tests/Fixtures/vicuna/tokenizer.model]
"""
import argparse
import json
import os
import shutil
from collections import OrderedDict

import torch

CONFIG = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096,
    "intermediate_size": 11008, "num_hidden_layers": 32, "num_attention_heads": 32,
    "num_key_value_heads": 32, "max_position_embeddings": 2048, "rms_norm_eps": 1e-6,
    "vocab_size": 32000, "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0,
    "hidden_act": "silu", "tie_word_embeddings": False, "torch_dtype": "float16",
}


def shapes(c):
    h, i, v = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    yield "model.embed_tokens.weight", (v, h)
    for n in range(c["num_hidden_layers"]):
        p = f"model.layers.{n}."
        for m in ("q_proj", "k_proj", "v_proj", "o_proj"):
            yield p + f"self_attn.{m}.weight", (h, h)
        yield p + "mlp.gate_proj.weight", (i, h)
        yield p + "mlp.down_proj.weight", (h, i)
        yield p + "mlp.up_proj.weight", (i, h)
        yield p + "input_layernorm.weight", (h,)
        yield p + "post_attention_layernorm.weight", (h,)
    yield "model.norm.weight", (h,)
    yield "lm_head.weight", (v, h)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--tokenizer", default=os.path.join(os.path.dirname(__file__), "../../Tests/Fixtures/vicuna/tokenizer.model"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    gen = torch.Generator().manual_seed(args.seed)
    entries = list(shapes(CONFIG))
    half = CONFIG["num_hidden_layers"] // 2
    shards = [[], []]
    for name, shape in entries:
        first = name.startswith("model.embed_tokens") or (name.startswith("model.layers.") and int(name.split(".")[2]) < half)
        shards[0 if first else 1].append((name, shape))
    weight_map, total = {}, 0
    for k, shard in enumerate(shards):
        fname = f"pytorch_model-0000{k + 1}-of-00002.bin"
        sd = OrderedDict()
        for name, shape in shard:
            if len(shape) == 1:
                t = torch.ones(shape, dtype=torch.float16)
            else:
                t = (torch.randn(shape, generator=gen, dtype=torch.float32) * 0.02).to(torch.float16)
            sd[name] = t
            weight_map[name] = fname
            total += t.numel() * 2
        torch.save(sd, os.path.join(args.out, fname))
        print(f"wrote {fname}: {len(sd)} tensors", flush=True)
        del sd
    with open(os.path.join(args.out, "pytorch_model.bin.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(CONFIG, f, indent=2)
    with open(os.path.join(args.out, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0}, f)
    shutil.copy(args.tokenizer, os.path.join(args.out, "tokenizer.model"))
    with open(os.path.join(args.out, "tokenizer_config.json"), "w") as f:
        json.dump({"tokenizer_class": "LlamaTokenizer", "add_bos_token": True, "add_eos_token": False}, f)


if __name__ == "__main__":
    main()
