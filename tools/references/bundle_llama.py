#!/usr/bin/env python3
"""Reference bundles for the LLaMA runtime (issue 4): logits, hidden states and greedy ids from
transformers, and LoRA Δ (logits with adapter − logits without) from peft, for each committed
LLaMA-family fixture converted at f32, f16, q8_0, q4_0 and q4_K.

Each bundle records how its container is made (`nextgpt.reference.convert`, the `nextgpt convert`
arguments); the container itself is not committed: conversion is deterministic, so the Swift
tests (Tests/NextGPTModelsTests) re-make it and run the probes. The PyTorch model is loaded from
the upstream checkpoint and then given the container's dequantized weights, so a quantized
container is compared with PyTorch running exactly the weights our runtime reads.

    /work/venv/bin/python tools/references/bundle_llama.py --nextgpt .build/debug/nextgpt
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
from bundle_lib import Bundle, load_container_weights, container_weights  # noqa: E402

OUT = os.path.join(ROOT, "Tests", "Fixtures", "references", "bundles", "llama")
TYPES = ["f32", "f16", "q8_0", "q4_0", "q4_K"]
IDS = [1, 5, 17, 300, 999, 42, 7, 8, 9, 123, 456, 789]
GREEDY_STEPS = 12
# Tokenizer probes: the SentencePiece library's ids (plus BOS) for the component's tokenizer.model.
TEXTS = ["Hello world", "  two leading spaces", "### Human: What is in the image? ### Assistant:",
         "digits 1234567 and emoji 🙂", "Ünïcödé — テキスト", "tabs\tand\nnewlines", ""]

# (bundle name, convert arguments, HF folder, peft adapter for the Δ probes or None,
#  NExT-GPT delta LoRA (alpha) applied from the container, or None)
CASES = [
    ("vicuna", ["--vicuna", "Tests/Fixtures/vicuna"], "Tests/Fixtures/vicuna", "Tests/Fixtures/lora/vicuna-peft", None),
    ("llama-gqa", ["--vicuna", "Tests/Fixtures/llama-gqa"], "Tests/Fixtures/llama-gqa", None, None),
    ("vicuna-delta", ["--vicuna", "Tests/Fixtures/vicuna", "--delta", "Tests/Fixtures/nextgpt-delta", "--delta-lora-alpha", "16"],
     "Tests/Fixtures/vicuna", None, 16.0),
]


def convert(nextgpt, args, qtype, out):
    subprocess.run([nextgpt, "convert", *args, "--type", qtype, "--no-source-hash", "-o", out],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL)


def load_model(folder, container):
    from transformers import LlamaForCausalLM
    model = LlamaForCausalLM.from_pretrained(os.path.join(ROOT, folder), dtype=torch.float32).eval()
    rows = container_weights(container, "vicuna")["model.embed_tokens.weight"].shape[0]
    if rows != model.config.vocab_size:
        model.resize_token_embeddings(rows)
    _, missing = load_container_weights(model, container, "vicuna")
    missing = [k for k in missing if not (k == "lm_head.weight" and model.config.tie_word_embeddings)]
    assert not missing, f"container lacks {missing}"
    return model


def add_delta_lora(model, container, alpha):
    """Hooks y += (alpha / r) · B(A x) on every module the stored delta LoRA names, as peft does."""
    weights = container_weights(container, "nextgpt.lora")
    modules = dict(model.named_modules())
    handles = []
    for key in sorted(weights):
        if not key.endswith(".lora_A.weight"):
            continue
        module = key[: -len(".lora_A.weight")]
        a, b = weights[key].float(), weights[f"{module}.lora_B.weight"].float()
        scale = alpha / a.shape[0]

        def hook(m, inputs, output, a=a, b=b, scale=scale):
            return output + scale * (inputs[0] @ a.T) @ b.T
        handles.append(modules[module].register_forward_hook(hook))
    assert handles, "container has no stored delta LoRA"
    return handles


def greedy(model, ids):
    out = model.generate(torch.tensor([ids]), max_new_tokens=GREEDY_STEPS, do_sample=False,
                         eos_token_id=model.config.eos_token_id, pad_token_id=0)
    return out[0, len(ids):]


def make_bundle(nextgpt, name, args, folder, adapter, delta_alpha, qtype, tmp):
    container = os.path.join(tmp, f"{name}-{qtype}.gguf")
    convert(nextgpt, args, qtype, container)
    model = load_model(folder, container)
    delta_handles = []
    if delta_alpha is not None:
        delta_handles = add_delta_lora(model, container, delta_alpha)
    ids = torch.tensor([IDS])
    b = Bundle()
    b.tensor("ids", ids[0])
    exact = qtype in ("f32", "f16")
    with torch.no_grad():
        logits = model(ids).logits[0]
        hidden = model.model(ids).last_hidden_state[0]
        b.tensor("logits", logits)
        b.tensor("hidden", hidden)
        b.tensor("greedy", greedy(model, IDS))
    # f32 activations against the dequantized weights: the weights are exactly PyTorch's.
    f32 = {"activations": "f32"}
    if delta_alpha is not None:
        f32["delta_lora_mode"] = "runtime"  # PyTorch applies it unmerged, in f32
    b.probe("logits_f32_activations", "vicuna", "logits", f32, {"ids": "ids"}, {"logits": "logits"}, rel_l2=1e-5)
    b.probe("hidden_f32_activations", "vicuna", "hidden", f32, {"ids": "ids"}, {"hidden": "hidden"}, rel_l2=1e-5)
    b.probe("greedy_f32_activations", "vicuna", "greedy", dict(f32, max_new_tokens=GREEDY_STEPS), {"ids": "ids"}, {"ids": "greedy"}, rel_l2=0)
    # The runtime's own path: f32/f16 weights take f32 activations (exact); quantized weights take
    # 8-bit activations (ggml's scheme), whose error the tolerance bounds.
    runtime_tol = 1e-5 if exact else 5e-2
    b.probe("logits_runtime", "vicuna", "logits", {}, {"ids": "ids"}, {"logits": "logits"}, rel_l2=runtime_tol)
    b.probe("hidden_runtime", "vicuna", "hidden", {}, {"ids": "ids"}, {"hidden": "hidden"}, rel_l2=runtime_tol)
    if exact:
        b.probe("greedy_runtime", "vicuna", "greedy", {"max_new_tokens": GREEDY_STEPS}, {"ids": "ids"}, {"ids": "greedy"}, rel_l2=0)

    if delta_alpha is not None:
        for handle in delta_handles:
            handle.remove()
        with torch.no_grad():
            b.tensor("lora_delta", logits - model(ids).logits[0])
        for mode in ("merge", "merge-f16", "runtime"):
            for act in ("f32", "runtime"):
                cosine = 0.999 if (mode == "runtime" or qtype in ("f32", "f16") or mode == "merge-f16") and act == "f32" else 0.9
                b.probe(f"delta_lora_delta_{mode}_{act}_activations", "vicuna", "logits_lora_delta",
                        {"delta_lora_mode": mode, "activations": act},
                        {"ids": "ids"}, {"delta": "lora_delta"}, rel_l2=1.0, cosine=cosine)

    if adapter is not None:
        from peft import PeftModel
        with torch.no_grad():
            base = model(ids).logits[0]
            lora_model = PeftModel.from_pretrained(model, os.path.join(ROOT, adapter)).eval()
            delta = lora_model(ids).logits[0] - base
        b.tensor("lora_delta", delta)
        rel = os.path.relpath(os.path.join(ROOT, adapter), OUT)
        for mode in ("merge", "merge-f16", "runtime"):
            for act in ("f32", "runtime"):
                # Δ-cosine bar: runtime LoRA and f32 merges keep the update whole; merging into a
                # quantized type loses the part of the update below the quantization step.
                cosine = 0.999 if (mode == "runtime" or qtype in ("f32", "f16") or mode == "merge-f16") and act == "f32" else 0.9
                b.probe(f"lora_delta_{mode}_{act}_activations", "vicuna", "logits_lora_delta",
                        {"lora": [{"path": rel, "scale": 1, "mode": mode}], "activations": act},
                        {"ids": "ids"}, {"delta": "lora_delta"}, rel_l2=1.0, cosine=cosine)
    if qtype == "f32":
        import sentencepiece
        sp = sentencepiece.SentencePieceProcessor(model_file=os.path.join(ROOT, folder, "tokenizer.model"))
        for i, text in enumerate(TEXTS):
            expected = torch.tensor([sp.bos_id()] + sp.encode(text), dtype=torch.float32)
            b.probe(f"tokenize_{i}", "vicuna", "tokenize", {"text": text}, {}, {"ids": expected}, rel_l2=0)
    path = os.path.join(OUT, f"{name}-{qtype}.safetensors")
    b.save(path, {"nextgpt.reference.convert": json.dumps(args + ["--type", qtype]),
                  "nextgpt.reference.generator": "tools/references/bundle_llama.py",
                  "nextgpt.reference.torch": torch.__version__})
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nextgpt", default=os.path.join(ROOT, ".build", "debug", "nextgpt"))
    ap.add_argument("--only", help="bundle name prefix to make")
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        for name, conv, folder, adapter, delta_alpha in CASES:
            if args.only and not name.startswith(args.only):
                continue
            for qtype in TYPES:
                print(make_bundle(os.path.abspath(args.nextgpt), name, conv, folder, adapter, delta_alpha, qtype, tmp))


if __name__ == "__main__":
    main()
