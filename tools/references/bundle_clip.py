#!/usr/bin/env python3
"""Reference bundles for the CLIP text side of Stable Diffusion 1.5 and ZeroScope (issue 5 §1):
`clip_encode` probes from transformers' CLIPTextModel (last_hidden_state, diffusers'
`encode_prompt(clip_skip=k)` hidden states, pooler_output) and `clip_tokenize` probes, for the
sd15 and zeroscope fixture pipelines converted at f32, f16 and q8_0.

The PyTorch model is loaded from the pipeline's `text_encoder/` and then given the container's
dequantized weights, so a quantized container is compared with PyTorch running exactly the
weights our runtime reads. Tokenizer ids are the slow CLIPTokenizer's, taken from
Tests/Fixtures/references/clip_tokenizer_cases.json (tools/references/clip_tokenizer_cases.py,
which needs transformers < 5); the prompts fed to the model are tokenized the same way.

    /work/venv/bin/python tools/references/bundle_clip.py --nextgpt .build/debug/nextgpt
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
from bundle_lib import Bundle, load_container_weights  # noqa: E402

OUT = os.path.join(ROOT, "Tests", "Fixtures", "references", "bundles", "sd")
CASES_FILE = os.path.join(ROOT, "Tests", "Fixtures", "references", "clip_tokenizer_cases.json")
TYPES = ["f32", "f16", "q8_0"]
# The fixtures' linear weights are below the converter's small-tensor size and stay f16 at q8_0;
# these variants force them to the quantized type, so the quantized kernels run too (sd15 only).
FORCED = {"q8_0-linears": ["--type", "q8_0", "--tensor-type", r"text_encoder\..*(proj|fc[12])\.weight$=q8_0"],
          "q4_0-linears": ["--type", "q4_0", "--tensor-type", r"text_encoder\..*(proj|fc[12])\.weight$=q4_0"]}
# (bundle name, convert arguments, pipeline folder, text encoder component, tokenizer name in the cases file)
PIPELINES = [
    ("sd15", ["--sd15", "Tests/Fixtures/sd15"], "Tests/Fixtures/sd15", "sd15.text_encoder", "sd15"),
    ("zeroscope", ["--zeroscope", "Tests/Fixtures/zeroscope"], "Tests/Fixtures/zeroscope", "zeroscope.text_encoder", "zeroscope"),
]
PROMPTS = [
    "A Photograph Of An Astronaut Riding A Horse On The Moon, Highly Detailed, 8K, Trending On ArtStation",
    "",
    "it's a dog's life, isn't it? we're here, they've gone, I'm sure you'll see, he'd know",
    ", ".join(["a castle on a hill at dawn"] * 12),
]
TOKENIZE_TEXTS = PROMPTS + ["naïve café résumé", "中文,英文 mixed漢字text", "emoji 🙂 😀😃 👍🏽 👨‍👩‍👧 ❤️ 🇫🇷",
                            "multiple     spaces    here", "!<|endoftext|>!", "a" + "!" * 80]


def convert_args(args, qtype):
    return args + FORCED.get(qtype, ["--type", qtype])


def convert(nextgpt, args, qtype, out):
    subprocess.run([nextgpt, "convert", *convert_args(args, qtype), "--no-source-hash", "-o", out],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL)


def slow_tokenizer_ids(tokenizer_name):
    with open(CASES_FILE, encoding="utf-8") as f:
        cases = json.load(f)["cases"]
    return {c["text"]: c for c in cases if c["tokenizer"] == tokenizer_name}


def load_model(folder, container, component):
    from transformers import CLIPTextModel
    model = CLIPTextModel.from_pretrained(os.path.join(ROOT, folder, "text_encoder"), dtype=torch.float32).eval()
    # transformers 5 keeps the `text_model.` level out of the module tree (its key mapping adds it
    # back for checkpoints), so the container prefix includes it.
    _, missing = load_container_weights(model, container, f"{component}.text_model")
    missing = [k for k in missing if not k.endswith("position_ids")]
    assert not missing, f"container lacks {missing}"
    return model


def encode_prompt(model, ids, clip_skip):
    """diffusers' StableDiffusionPipeline.encode_prompt text-encoder step."""
    out = model(ids, output_hidden_states=True)
    assert len(out.hidden_states) == model.config.num_hidden_layers + 1
    final_layer_norm = getattr(model, "text_model", model).final_layer_norm
    # hidden_states[-1] is the last layer's output before the final norm.
    assert torch.allclose(final_layer_norm(out.hidden_states[-1]), out.last_hidden_state, atol=1e-6)
    if clip_skip == 0:
        return out.last_hidden_state
    return final_layer_norm(out.hidden_states[-(clip_skip + 1)])


def make_bundle(nextgpt, name, args, folder, component, tokenizer_name, qtype, tmp):
    container = os.path.join(tmp, f"{name}-{qtype}.gguf")
    convert(nextgpt, args, qtype, container)
    model = load_model(folder, container, component)
    layers = model.config.num_hidden_layers
    cases = slow_tokenizer_ids(tokenizer_name)
    b = Bundle()
    exact = qtype in ("f32", "f16")
    # f32 and f16 containers run f32 activations on the very weights PyTorch has; quantized
    # weights take 8-bit activations on the runtime path, whose error the looser bar bounds.
    runtime_tol = 1e-5 if exact else 3e-2
    padded = torch.tensor([cases[p]["padded"] for p in PROMPTS])
    short = torch.tensor([cases[PROMPTS[2]]["ids"][:9] + [cases[PROMPTS[2]]["ids"][-1]]])  # unpadded, EOS last
    generator = torch.Generator().manual_seed(5)
    random_ids = torch.randint(0, model.config.vocab_size, (1, 77), generator=generator)
    b.tensor("prompts_ids", padded)
    b.tensor("short_ids", short[0])
    b.tensor("random_ids", random_ids)
    with torch.no_grad():
        for input_name, ids in [("prompts", padded), ("short", short), ("random", random_ids)]:
            out = model(ids)
            b.tensor(f"{input_name}_hidden", out.last_hidden_state)
            b.tensor(f"{input_name}_pooled", out.pooler_output)
            for activations, tol in [("runtime", runtime_tol), ("f32", 1e-5)]:
                if activations == "f32" and exact:
                    continue
                b.probe(f"encode_{input_name}_{activations}", component, "clip_encode", {"activations": activations},
                        {"ids": f"{input_name}_ids"}, {"hidden": f"{input_name}_hidden", "pooled": f"{input_name}_pooled"},
                        rel_l2=tol)
        for skip in range(1, layers + 1):
            b.tensor(f"prompts_clip_skip_{skip}", encode_prompt(model, padded, skip))
            b.probe(f"encode_prompts_clip_skip_{skip}", component, "clip_encode", {"clip_skip": skip},
                    {"ids": "prompts_ids"}, {"hidden": f"prompts_clip_skip_{skip}"}, rel_l2=runtime_tol)
        b.tensor("prompts_clip_skip_0", encode_prompt(model, padded, 0))
        b.probe("encode_prompts_clip_skip_0", component, "clip_encode", {"clip_skip": 0},
                {"ids": "prompts_ids"}, {"hidden": "prompts_clip_skip_0"}, rel_l2=runtime_tol)
    if qtype == "f32":
        for i, text in enumerate(TOKENIZE_TEXTS):
            case = cases[text]
            b.probe(f"tokenize_padded_{i}", component, "clip_tokenize", {"text": text}, {},
                    {"ids": torch.tensor(case["padded"], dtype=torch.float32)}, rel_l2=0)
            b.probe(f"tokenize_unpadded_{i}", component, "clip_tokenize",
                    {"text": text, "padding": "do_not_pad", "truncation": False}, {},
                    {"ids": torch.tensor(case["ids"], dtype=torch.float32)}, rel_l2=0)
    path = os.path.join(OUT, f"clip-{name}-{qtype}.safetensors")
    b.save(path, {"nextgpt.reference.convert": json.dumps(convert_args(args, qtype)),
                  "nextgpt.reference.generator": "tools/references/bundle_clip.py",
                  "nextgpt.reference.torch": torch.__version__})
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nextgpt", default=os.path.join(ROOT, ".build", "debug", "nextgpt"))
    ap.add_argument("--only", help="bundle name prefix to make")
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name, conv, folder, component, tokenizer_name in PIPELINES:
            if args.only and not name.startswith(args.only):
                continue
            for qtype in TYPES + (list(FORCED) if name == "sd15" else []):
                print(make_bundle(os.path.abspath(args.nextgpt), name, conv, folder, component, tokenizer_name, qtype, tmp))


if __name__ == "__main__":
    main()
