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
GREEDY_STEPS = 12
# (name, convert arguments, HF folder, delta LoRA alpha or None, prompt ids)
CASES = [
    ("vicuna", ["--vicuna", "Tests/Fixtures/vicuna"], "Tests/Fixtures/vicuna", None,
     [1, 5, 17, 300, 999, 42, 7, 8, 9, 123, 456, 789]),
    ("llama-gqa", ["--vicuna", "Tests/Fixtures/llama-gqa"], "Tests/Fixtures/llama-gqa", None,
     [1, 5, 17, 300, 999, 42, 7, 8, 9, 123, 456, 789]),
    ("vicuna-delta", ["--vicuna", "Tests/Fixtures/vicuna", "--delta", "Tests/Fixtures/nextgpt-delta", "--delta-lora-alpha", "16"],
     "Tests/Fixtures/vicuna", 16.0, [1, 5, 1000, 17, 300, 1001, 42, 1010, 9, 123, 1037, 789]),
]


def run(cmd):
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def transformers_side(folder, container, delta_alpha, ids):
    model = load_model(folder, container)
    if delta_alpha is not None:
        add_delta_lora(model, container, delta_alpha)
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].numpy()
        # argmax over the whole vocabulary, end-of-sequence included, as on the llama.cpp side
        sequence = list(ids)
        for _ in range(GREEDY_STEPS):
            sequence.append(int(model(torch.tensor([sequence])).logits[0, -1].argmax()))
    return logits, sequence[len(ids):]


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
    print(f"{'case':<14}{'type':<6}{'vocab':>6}{'rel L2':>11}  greedy")
    with tempfile.TemporaryDirectory() as tmp:
        for name, conv, folder, delta_alpha, ids in CASES:
            if args.only and not name.startswith(args.only):
                continue
            for qtype in args.types.split(","):
                container = os.path.join(tmp, f"{name}-{qtype}.gguf")
                exported = os.path.join(tmp, f"{name}-{qtype}-llama.gguf")
                run([nextgpt, "convert", *conv, "--type", qtype, "--no-source-hash", "-o", container])
                run([nextgpt, "export-llama-gguf", "-m", container, "-o", exported])
                ref_logits, ref_tokens = transformers_side(folder, container, delta_alpha, ids)
                cpp_logits, cpp_tokens, vocab = llama_cpp_side(exported, ids)
                rel = float(np.linalg.norm(cpp_logits - ref_logits) / np.linalg.norm(ref_logits))
                agree = sum(a == b for a, b in zip(cpp_tokens, ref_tokens))
                bound = 1e-4 if qtype in ("f32", "f16") else 5e-2
                ok = rel <= bound and vocab == ref_logits.shape[1]
                failures += not ok
                print(f"{name:<14}{qtype:<6}{vocab:>6}{rel:>11.2e}  {agree}/{GREEDY_STEPS} agree"
                      f"{'' if ok else '  FAIL (bound %.0e)' % bound}")
                print(f"{'':<26}llama.cpp    {cpp_tokens}")
                print(f"{'':<26}transformers {ref_tokens}")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
