#!/usr/bin/env python3
"""Checks `nextgpt export-llama-gguf` with llama.cpp itself: converts the LLaMA fixtures at each type,
exports them, loads every export with llama-cpp-python and compares llama.cpp's logits with
transformers' computed from the container's dequantized weights (the weights the export carries).

Prints, per fixture and type, the relative L2 of llama.cpp's logits against transformers' over all
positions, and both greedy continuations. llama.cpp multiplies quantized weights with 8-bit
activations (Q8_0/Q8_K), so quantized exports differ slightly; f32/f16 should agree to ~1e-5.
The NExT-GPT delta case also exercises the stored delta LoRA (merged by the export, applied
unmerged in f32 on the transformers side) and the added-token rows.

    /work/venv/bin/python tools/bench/check_llama_export.py --nextgpt .build/debug/nextgpt
"""

import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tools", "references"))
from bundle_llama import add_delta_lora, load_model  # noqa: E402

TYPES = ["f32", "f16", "q8_0", "q4_0", "q4_K"]
# llama.cpp's rel L2 to transformers on the same weights. F16 weights take f16-rounded activations
# in ggml's CPU matmul, quantized weights 8-bit ones (Q8_0 / Q8_K); f32 is exact up to summation order.
BOUNDS = {"f32": 1e-5, "f16": 2e-3, "q8_0": 5e-2, "q4_0": 5e-2, "q4_K": 5e-2}
GREEDY_STEPS = 12
IDS = [1, 5, 17, 300, 999, 42, 7, 8, 9, 123, 456, 789]
DELTA = ["--vicuna", "Tests/Fixtures/vicuna", "--delta", "Tests/Fixtures/nextgpt-delta", "--delta-lora-alpha", "16"]
DELTA_IDS = [1, 5, 1000, 17, 300, 1001, 42, 1010, 9, 123, 1037, 789]  # 1000+: NExT-GPT's added tokens
# (name, convert arguments, export arguments, HF folder, delta LoRA alpha or None, prompt ids)
CASES = [
    ("vicuna", ["--vicuna", "Tests/Fixtures/vicuna"], [], "Tests/Fixtures/vicuna", None, IDS),
    ("llama-gqa", ["--vicuna", "Tests/Fixtures/llama-gqa"], [], "Tests/Fixtures/llama-gqa", None, IDS),
    ("vicuna-delta", DELTA, [], "Tests/Fixtures/vicuna", 16.0, DELTA_IDS),
    ("delta-mrg-f16", DELTA, ["--merged-type", "f16"], "Tests/Fixtures/vicuna", 16.0, DELTA_IDS),
]


def run(cmd):
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def hf_key(llama_name):
    """Hugging Face key of a llama.cpp tensor name."""
    fixed = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight",
             "output.weight": "lm_head.weight"}
    if llama_name in fixed:
        return fixed[llama_name]
    _, layer, module, suffix = llama_name.split(".")
    modules = {"attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm", "attn_q": "self_attn.q_proj",
               "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj", "attn_output": "self_attn.o_proj",
               "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj"}
    return f"model.layers.{layer}.{modules[module]}.{suffix}"


def export_weights(path, heads, kv_heads):
    """The export's tensors, dequantized with gguf-py, under Hugging Face keys and row order."""
    import gguf
    out = {}
    for t in gguf.GGUFReader(path).tensors:
        data = np.asarray(t.data)
        if t.tensor_type.name not in ("F32", "F16"):
            data = gguf.quants.dequantize(data, t.tensor_type)
        w = torch.from_numpy(np.array(data, dtype=np.float32).reshape([int(x) for x in reversed(t.shape)]))
        n = heads if ".attn_q." in t.name else kv_heads if ".attn_k." in t.name else None
        if n is not None:  # llama.cpp row h·d + 2i + j holds Hugging Face row h·d + j·d/2 + i
            w = w.reshape(n, w.shape[0] // n // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)
        out[hf_key(t.name)] = w
    return out


def transformers_logits(model, ids):
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].numpy()
        # argmax over the whole vocabulary, end-of-sequence included, as on the llama.cpp side
        sequence = list(ids)
        for _ in range(GREEDY_STEPS):
            sequence.append(int(model(torch.tensor([sequence])).logits[0, -1].argmax()))
    return logits, sequence[len(ids):]


def transformers_side(folder, container, exported, delta_alpha, ids):
    """Logits from the container's weights (+ the delta LoRA unmerged, in f32), and from the
    export's own weights (LoRA merged and re-encoded, as llama.cpp reads them)."""
    model = load_model(folder, container)
    handles = add_delta_lora(model, container, delta_alpha) if delta_alpha is not None else []
    from_container = transformers_logits(model, ids)
    for handle in handles:
        handle.remove()
    state = model.state_dict()
    with torch.no_grad():
        for key, value in export_weights(exported, model.config.num_attention_heads, model.config.num_key_value_heads).items():
            state[key].copy_(value)
    return from_container, transformers_logits(model, ids)


def rel_l2(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def llama_cpp_side(path, ids):
    import llama_cpp
    # An f32 KV cache: llama.cpp's default f16 cache alone moves f32 logits by ~4e-4.
    llm = llama_cpp.Llama(model_path=path, n_threads=2, logits_all=True, n_ctx=64, verbose=False,
                          type_k=llama_cpp.GGML_TYPE_F32, type_v=llama_cpp.GGML_TYPE_F32)
    llm.eval(ids)
    logits = np.array(llm.scores[: len(ids)], dtype=np.float32)
    tokens = []
    for _ in range(GREEDY_STEPS):
        step = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        tokens.append(step)
        llm.eval([step])
    vocab = llm.n_vocab()
    llm.close()
    return logits, tokens, vocab


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nextgpt", default=os.path.join(ROOT, ".build", "debug", "nextgpt"))
    ap.add_argument("--types", default=",".join(TYPES))
    ap.add_argument("--only", help="case name prefix")
    args = ap.parse_args()
    nextgpt = os.path.abspath(args.nextgpt)
    failures = 0
    print(f"{'case':<14}{'type':<6}{'vocab':>6}{'vs export':>11}{'vs container':>14}  greedy (llama.cpp vs container)")
    with tempfile.TemporaryDirectory() as tmp:
        for name, conv, export_args, folder, delta_alpha, ids in CASES:
            if args.only and not name.startswith(args.only):
                continue
            for qtype in args.types.split(","):
                if export_args and qtype in ("f32", "f16"):
                    continue  # merging into f16 only matters for quantized containers
                container = os.path.join(tmp, f"{name}-{qtype}.gguf")
                exported = os.path.join(tmp, f"{name}-{qtype}-llama.gguf")
                run([nextgpt, "convert", *conv, "--type", qtype, "--no-source-hash", "-o", container])
                run([nextgpt, "export-llama-gguf", "-m", container, *export_args, "-o", exported])
                (ref_logits, ref_tokens), (exp_logits, exp_tokens) = transformers_side(folder, container, exported, delta_alpha, ids)
                cpp_logits, cpp_tokens, vocab = llama_cpp_side(exported, ids)
                vs_export, vs_container = rel_l2(cpp_logits, exp_logits), rel_l2(cpp_logits, ref_logits)
                agree = sum(a == b for a, b in zip(cpp_tokens, ref_tokens))
                ok = vs_export <= BOUNDS[qtype] and vocab == ref_logits.shape[1]
                failures += not ok
                print(f"{name:<14}{qtype:<6}{vocab:>6}{vs_export:>11.2e}{vs_container:>14.2e}  {agree}/{GREEDY_STEPS} agree"
                      f"{'' if ok else '  FAIL (bound %.0e)' % BOUNDS[qtype]}")
                print(f"{'':<26}llama.cpp                {cpp_tokens}")
                print(f"{'':<26}transformers (container) {ref_tokens}")
                if exp_tokens != ref_tokens:
                    print(f"{'':<26}transformers (export)    {exp_tokens}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
