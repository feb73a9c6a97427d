#!/usr/bin/env python3
"""A whole NExT-GPT run on the tiny system, re-created on PyTorch (issue 14's "whole tiny runs"):
rgb8.png through imagebind/data.py's vision transform and ImageBind, `prepare_generation_embedding`
of the demo's turn text, transformers' greedy generate on the delta-augmented Vicuna (the demo's
top_p 0.01 keeps only the most likely token), the [IMG0..3] run appended to the reply and fed
(what `nextgpt run --force-output image` does: the tiny random model never writes one), the
final-norm hidden states at the run through the image TextFcLayer, then diffusers'
StableDiffusionPipeline with `prompt_embeds` and fixed latents.
→ Tests/Fixtures/references/bundles/nextgpt/run-image-f32.safetensors: `ids` (the reply, run
included), `conditioning` [1, 77, D], `latents`, `image` [H, W, 3] in [0, 1], and the run's
settings in the metadata.

    tools/.venv/bin/python tools/references/bundle_nextgpt_run.py --nextgpt .build/debug/nextgpt
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import torch
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tools", "fixtures"))
import bundle_imagebind  # noqa: E402
import bundle_sd_pipeline  # noqa: E402
from bundle_imagebind_preprocess import TRANSFORM  # noqa: E402
from bundle_lib import container_weights, load_container_weights  # noqa: E402
from bundle_llama import add_delta_lora, load_model  # noqa: E402
from bundle_nextgpt_inference import RUNS, Tokenizer, prepare_generation_embedding  # noqa: E402
from bundle_nextgpt_projections import projector  # noqa: E402

OUT = os.path.join(ROOT, "Tests", "Fixtures", "references", "bundles", "nextgpt")
CONVERT = ["--vicuna", "Tests/Fixtures/vicuna", "--delta", "Tests/Fixtures/nextgpt-delta", "--delta-lora-alpha", "16",
           "--imagebind", "Tests/Fixtures/imagebind/imagebind_huge.pth", "--sd15", "Tests/Fixtures/sd15", "--type", "f32"]
IMAGE = "Tests/Fixtures/images/rgb8.png"
TEXT = "What is in this picture? Draw it."
MAX_NEW_TOKENS = 10
SD = dict(steps=3, guidance_scale=7.5, height=16, width=16)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nextgpt", default=os.path.join(ROOT, ".build", "debug", "nextgpt"))
    args = ap.parse_args()
    from safetensors.torch import save_file
    with tempfile.TemporaryDirectory() as tmp:
        container = os.path.join(tmp, "tiny-f32.gguf")
        subprocess.run([os.path.abspath(args.nextgpt), "convert", *CONVERT, "--no-source-hash", "-o", container],
                       cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        with torch.no_grad():
            imagebind, modality = bundle_imagebind.load_model(container)
            x = TRANSFORM(Image.open(os.path.join(ROOT, IMAGE)).convert("RGB")).unsqueeze(0)
            feature = imagebind({modality.VISION: x})[modality.VISION]

            model = load_model("Tests/Fixtures/vicuna", container)
            add_delta_lora(model, container, 16.0)
            embed = model.model.embed_tokens
            proj_w = container_weights(container, "nextgpt.llama_proj")
            llama_proj = torch.nn.Linear(proj_w["weight"].shape[1], proj_w["weight"].shape[0])
            load_container_weights(llama_proj, container, "nextgpt.llama_proj")
            tok = Tokenizer()
            # demo_app.py's first turn: '### Human: <Image>path</Image> ' + ' ' + text
            prompt = f"### Human: <Image>{IMAGE}</Image>  {TEXT}"
            inputs_embeds = prepare_generation_embedding(prompt, feature, tok, embed, llama_proj)
            stops = [tok.sp.eos_id()] + ([tok.sp.piece_to_id("▁###")] if tok.sp.piece_to_id("▁###") != tok.sp.unk_id() else [])
            out = model.generate(inputs_embeds=inputs_embeds[None], max_new_tokens=MAX_NEW_TOKENS, do_sample=False,
                                 eos_token_id=stops, pad_token_id=0)
            reply = out[0].tolist()[-MAX_NEW_TOKENS:] if out.shape[1] > MAX_NEW_TOKENS else out[0].tolist()
            run = [tok.added[t] for t in RUNS["image"]]
            assert run[0] not in reply, "the tiny model wrote an image run itself; the bundle assumes it does not"
            ids = reply + run
            full = torch.cat([inputs_embeds, embed(torch.tensor(ids))], dim=0)
            hidden = model.model(inputs_embeds=full[None]).last_hidden_state[0]
            run_hidden = hidden[-len(run):]
            layer, _ = projector(container, "image")
            conditioning = layer(run_hidden[None], embed(torch.tensor([run])))

            pipe, _ = bundle_sd_pipeline.load_pipeline(container)
            g = torch.Generator("cpu").manual_seed(4)
            f = pipe.vae_scale_factor
            latents = torch.randn((1, pipe.unet.config.in_channels, SD["height"] // f, SD["width"] // f), generator=g)
            image = bundle_sd_pipeline.txt2img(pipe, prompt_embeds=conditioning.clone(), latents=latents.clone(),
                                               num_inference_steps=SD["steps"], guidance_scale=SD["guidance_scale"],
                                               height=SD["height"], width=SD["width"])
    path = os.path.join(OUT, "run-image-f32.safetensors")
    save_file({"ids": torch.tensor(ids, dtype=torch.int32), "conditioning": conditioning.contiguous(),
               "latents": latents.contiguous(), "image": image.contiguous(), "feature": feature.contiguous()}, path,
              metadata={"nextgpt.reference.generator": "tools/references/bundle_nextgpt_run.py",
                        "nextgpt.reference.convert": json.dumps(CONVERT),
                        "nextgpt.reference.run": json.dumps({"image": IMAGE, "text": TEXT, "max_new_tokens": MAX_NEW_TOKENS,
                                                              "force_output": "image", **SD}),
                        "nextgpt.reference.torch": torch.__version__})
    print(path, os.path.getsize(path), "bytes", "reply+run ids:", ids)


if __name__ == "__main__":
    main()
