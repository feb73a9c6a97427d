#!/usr/bin/env python3
"""Reference bundles for NExT-GPT's own projections (NEXTGPT.md §1.1, §1.2) on the tiny delta
Tests/Fixtures/nextgpt-delta: `llama_proj` (nn.Linear, ImageBind embedding → one LLM position) and
`output_projection` (`TextFcLayer` in `transformer` mode: signal-token hidden states → decoder
conditioning) for the image, video and audio projectors, at f32 and q8_0.

The PyTorch modules are nn.Linear and tools/fixtures/fx_textfc.py's TextFcLayer (NExT-GPT's
`model/layers.py` re-created: nn.Transformer(batch_first, norm_first, dropout 0, nhead 4)), given the
container's dequantized weights, so a quantized container is compared with PyTorch running exactly
the weights our runtime reads. Inputs are seeded, rounded to f16 and stored f16.

    tools/.venv/bin/python tools/references/bundle_nextgpt_projections.py --nextgpt .build/debug/nextgpt
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tools", "fixtures"))
from bundle_lib import Bundle, container_weights, load_container_weights  # noqa: E402
from fx_textfc import TextFcLayer  # noqa: E402

OUT = os.path.join(ROOT, "Tests", "Fixtures", "references", "bundles", "nextgpt")
COMPONENT = "nextgpt"
MODULES = {"image": "gen_text_hidden_fcs.0", "video": "gen_text_hidden_fcs_video.0", "audio": "gen_text_hidden_fcs_audio.0"}
# Signal tokens per projector in NExT-GPT: [IMG0..3], [VID0..23], [AUD0..7].
SIGNAL_TOKENS = {"image": 4, "video": 24, "audio": 8}
# The fixture's projector tensors are below the converter's small-tensor size and stay f16 at q8_0;
# the q8_0 bundle forces every 2-D projector and llama_proj weight whose rows hold 32-blocks.
FORCED_Q8_0 = r"nextgpt\.(llama_proj\.weight|gen_text_hidden_fcs.*(in_proj_weight|out_proj\.weight|linear[12]\.weight|fc\.weight|model\.weight))$=q8_0"


def convert_args(qtype):
    forced = ["--tensor-type", FORCED_Q8_0] if qtype == "q8_0" else []
    return ["--vicuna", "Tests/Fixtures/vicuna", "--delta", "Tests/Fixtures/nextgpt-delta", "--delta-lora-alpha", "16",
            "--type", qtype] + forced


def projector(container, modality):
    prefix = f"{COMPONENT}.{MODULES[modality]}"
    weights = container_weights(container, prefix)
    hidden, in_dim = weights["fc.weight"].shape
    out_dim = weights["model.weight"].shape[0]
    layers = len({k.split(".")[3] for k in weights if k.startswith("tfm.encoder.layers.")})
    ff = weights["tfm.encoder.layers.0.linear1.weight"].shape[0]
    queries = weights["query_embs"].shape[1]
    layer = TextFcLayer(in_dim, out_dim, SIGNAL_TOKENS[modality], queries, mode="transformer", hidden_dim=hidden,
                        num_layers=layers, dim_feedforward=ff, nhead=4).eval()
    _, missing = load_container_weights(layer, container, prefix)
    assert not missing, f"container lacks {missing}"
    return layer, in_dim


def make_bundle(nextgpt, qtype, tmp):
    container = os.path.join(tmp, f"nextgpt-{qtype}.gguf")
    subprocess.run([nextgpt, "convert", *convert_args(qtype), "--no-source-hash", "-o", container],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    g = torch.Generator().manual_seed(5)
    b = Bundle()
    exact = qtype == "f32"
    tol = 1e-5 if exact else 3e-2
    with torch.no_grad():
        proj_w = container_weights(container, f"{COMPONENT}.llama_proj")
        llama_proj = nn.Linear(proj_w["weight"].shape[1], proj_w["weight"].shape[0])
        load_container_weights(llama_proj, container, f"{COMPONENT}.llama_proj")
        embedding = torch.nn.functional.normalize(torch.randn(3, llama_proj.in_features, generator=g), dim=-1).half().float()
        b.tensors["embedding"] = embedding.half()
        b.probe("llama_proj", COMPONENT, "llama_proj", {}, {"embedding": "embedding"},
                {"out": llama_proj(embedding).unsqueeze(1)}, rel_l2=tol)
        for modality in MODULES:
            layer, in_dim = projector(container, modality)
            batches = [1, 2] if modality == "image" else [1]
            for batch in batches:
                n = SIGNAL_TOKENS[modality]
                hidden = torch.randn(batch, n, in_dim, generator=g).half().float()
                embeds = (0.02 * torch.randn(batch, n, in_dim, generator=g)).half().float()
                name = f"{modality}_b{batch}"
                b.tensors[f"{name}.hidden"] = hidden.half()
                b.tensors[f"{name}.input_embs"] = embeds.half()
                out = layer(hidden, embeds)
                b.probe(f"output_projection_{name}", COMPONENT, "output_projection", {"modality": modality},
                        {"hidden": f"{name}.hidden", "input_embs": f"{name}.input_embs"}, {"out": out}, rel_l2=tol)
                if not exact:
                    b.probe(f"output_projection_{name}_f32_activations", COMPONENT, "output_projection",
                            {"modality": modality, "activations": "f32"},
                            {"hidden": f"{name}.hidden", "input_embs": f"{name}.input_embs"},
                            {"out": f"output_projection_{name}.out"}, rel_l2=1e-5)
    path = os.path.join(OUT, f"projections-{qtype}.safetensors")
    b.save(path, {"nextgpt.reference.convert": json.dumps(convert_args(qtype)),
                  "nextgpt.reference.generator": "tools/references/bundle_nextgpt_projections.py",
                  "nextgpt.reference.torch": torch.__version__})
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nextgpt", default=os.path.join(ROOT, ".build", "debug", "nextgpt"))
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for qtype in ["f32", "q8_0"]:
            path = make_bundle(os.path.abspath(args.nextgpt), qtype, tmp)
            print(path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
