#!/usr/bin/env python3
"""Writes a full-size NExT-GPT delta (the layout of HF `ChocoWu/nextgpt_7b_tiva_v0`) with seeded random
values, for benchmarks only (never committed; 792 MB):

  OUT/pytorch_model.pt         torch.save of an OrderedDict of fp16 nn.Parameter, the released file's 647
                               keys and shapes (../shared/upstream/keys/nextgpt_delta_keys.tsv, NEXTGPT.md §2.2)
  OUT/added_tokens.json        <Img>, </Img>, [IMG0..3], [VID0..23], [AUD0..7] -> 32000..32037
  OUT/config.json              the Llama config after resize (vocab_size 32038), as transformers 4.29.2 wrote it
  OUT/tokenizer.model          copied from the Vicuna folder (--tokenizer)
  OUT/tokenizer_config.json, special_tokens_map.json   as the committed tiny delta (Tests/Fixtures/nextgpt-delta)

The tensors are made straight from the key list (no LLaMA-7B, ImageBind or projector module is built):
each key gets its own generator seeded from its name (fx_common.tensor_seed), weights and embeddings
N(0, 0.02²) (LoRA B nonzero, so the merge changes Vicuna), biases N(0, 0.02²), layer norms N(1, 0.02²),
the projectors' learned queries N(0, 1) as `torch.randn` in TextFcLayer.

    tools/.venv/bin/python tools/bench/make_nextgpt_delta_full.py OUT [--tokenizer /work/bench/llama7b/tokenizer.model]
"""

import argparse
import json
import os
import shutil
import sys
import time
from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE.parent / "fixtures"))
from fx_common import randn, torch_save  # noqa: E402

TAG = "nextgpt-delta-full-bench"
BASE_VOCAB = 32000
SIGNAL_TOKENS = (["<Img>", "</Img>"] + [f"[IMG{i}]" for i in range(4)] + [f"[VID{i}]" for i in range(24)]
                 + [f"[AUD{i}]" for i in range(8)])
KEYS_CANDIDATES = [ROOT.parent / "shared" / "upstream" / "keys" / "nextgpt_delta_keys.tsv",
                   Path("/work/shared/upstream/keys/nextgpt_delta_keys.tsv")]
TINY_DELTA = ROOT / "Tests" / "Fixtures" / "nextgpt-delta"

# The Llama config the released delta's config.json holds (NExT-GPT saves the resized model's config).
CONFIG = {
    "_name_or_path": "vicuna_ckpt/7b_v0", "architectures": ["LlamaForCausalLM"], "bos_token_id": 1,
    "eos_token_id": 2, "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02,
    "intermediate_size": 11008, "max_position_embeddings": 2048, "model_type": "llama",
    "num_attention_heads": 32, "num_hidden_layers": 32, "pad_token_id": 0, "rms_norm_eps": 1e-06,
    "tie_word_embeddings": False, "torch_dtype": "float16", "transformers_version": "4.29.2",
    "use_cache": True, "vocab_size": BASE_VOCAB + len(SIGNAL_TOKENS),
}


def read_keys(path: Path) -> list[tuple[str, tuple[int, ...]]]:
    entries = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        name, shape = line.split("\t")
        entries.append((name, tuple(int(s) for s in shape.strip("()").split(",") if s.strip())))
    return entries


def value(name: str, shape: tuple[int, ...]) -> torch.Tensor:
    if name.endswith("query_embs"):
        t = randn(shape, TAG, name, std=1.0)
    elif len(shape) == 1 and ".norm" in name and name.endswith("weight"):
        t = randn(shape, TAG, name, std=0.02, mean=1.0)
    else:
        t = randn(shape, TAG, name, std=0.02)
    return t.to(torch.float16)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--tokenizer", default="/work/bench/llama7b/tokenizer.model")
    ap.add_argument("--keys", default=next((str(p) for p in KEYS_CANDIDATES if p.exists()), None))
    args = ap.parse_args()
    if not args.keys:
        sys.exit("nextgpt_delta_keys.tsv not found; give --keys")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    entries = read_keys(Path(args.keys))
    assert len(entries) == 647, f"{args.keys}: {len(entries)} keys, expected 647"

    t0 = time.time()
    ckpt = OrderedDict()
    for name, shape in entries:
        ckpt[name] = nn.Parameter(value(name, shape), requires_grad=True)
    params = sum(p.numel() for p in ckpt.values())
    assert params == 396_045_568, params
    print(f"{len(ckpt)} tensors, {params:,} parameters, made in {time.time() - t0:.0f} s", flush=True)

    # Written under its own name in a scratch folder (torch.save names the archive after the file),
    # then moved: no half-written checkpoint is ever left at the final path.
    scratch = out / ".partial"
    torch_save(ckpt, scratch / "pytorch_model.pt")
    os.replace(scratch / "pytorch_model.pt", out / "pytorch_model.pt")
    scratch.rmdir()
    del ckpt

    (out / "config.json").write_text(json.dumps(CONFIG, indent=2, sort_keys=True) + "\n")
    added = {t: BASE_VOCAB + i for i, t in enumerate(SIGNAL_TOKENS)}
    (out / "added_tokens.json").write_text(json.dumps(added, indent=2, sort_keys=True) + "\n")
    shutil.copy(args.tokenizer, out / "tokenizer.model")
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(TINY_DELTA / name, out / name)
    size = (out / "pytorch_model.pt").stat().st_size
    print(f"{out / 'pytorch_model.pt'}: {size:,} bytes, written in {time.time() - t0:.0f} s", flush=True)


if __name__ == "__main__":
    main()
