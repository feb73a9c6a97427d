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
settings in the metadata. Likewise text in → reply + audio (`run-audio-f32`, AudioLDM with the
[AUD0..7] run's projection) and text in → reply + video (`run-video-f32`, the [VID0..23] run's
projection as TextToVideoSDPipeline's `prompt_embeds`, fixed latents, frames [F, H, W, 3]).

    tools/.venv/bin/python tools/references/bundle_nextgpt_run.py --nextgpt .build/debug/nextgpt [--only video]
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
import bundle_audioldm_pipeline  # noqa: E402
import bundle_sd_pipeline  # noqa: E402
import bundle_zeroscope_pipeline  # noqa: E402
from bundle_imagebind_preprocess import TRANSFORM  # noqa: E402
from bundle_lib import container_weights, load_container_weights  # noqa: E402
from bundle_llama import add_delta_lora, load_model  # noqa: E402
from bundle_nextgpt_inference import RUNS, Tokenizer, prepare_generation_embedding  # noqa: E402
from bundle_nextgpt_projections import projector  # noqa: E402

OUT = os.path.join(ROOT, "Tests", "Fixtures", "references", "bundles", "nextgpt")
CONVERT = ["--vicuna", "Tests/Fixtures/vicuna", "--delta", "Tests/Fixtures/nextgpt-delta", "--delta-lora-alpha", "16",
           "--imagebind", "Tests/Fixtures/imagebind/imagebind_huge.pth", "--sd15", "Tests/Fixtures/sd15",
           "--audioldm", "Tests/Fixtures/audioldm", "--type", "f32"]
AUDIO_TEXT = "Let me hear a dog."
AUDIO = dict(steps=3, guidance_scale=7.5, audio_length_in_s=0.32)
IMAGE = "Tests/Fixtures/images/rgb8.png"
TEXT = "What is in this picture? Draw it."
MAX_NEW_TOKENS = 10
SD = dict(steps=3, guidance_scale=7.5, height=16, width=16)
VIDEO_CONVERT = CONVERT[:-2] + ["--zeroscope", "Tests/Fixtures/zeroscope", "--type", "f32"]
VIDEO_TEXT = "Show me a video of a panda."
VIDEO = dict(steps=3, guidance_scale=7.5, num_frames=3, height=16, width=24)
META = {"nextgpt.reference.generator": "tools/references/bundle_nextgpt_run.py"}


def greedy_reply(model, inputs_embeds, stops):
    out = model.generate(inputs_embeds=inputs_embeds[None], max_new_tokens=MAX_NEW_TOKENS, do_sample=False,
                         eos_token_id=stops, pad_token_id=0)
    return out[0].tolist()[-MAX_NEW_TOKENS:] if out.shape[1] > MAX_NEW_TOKENS else out[0].tolist()


def forced_run_conditioning(model, container, embed, inputs_embeds, reply, modality, tok):
    """The reply with the modality's whole run appended and fed; the run's hidden states through its projector."""
    run = [tok.added[t] for t in RUNS[modality]]
    assert run[0] not in reply, f"the tiny model wrote a {modality} run itself; the bundle assumes it does not"
    ids = reply + run
    hidden = model.model(inputs_embeds=torch.cat([inputs_embeds, embed(torch.tensor(ids))], dim=0)[None]).last_hidden_state[0]
    layer, _ = projector(container, modality)
    return ids, layer(hidden[-len(run):][None], embed(torch.tensor([run])))


def make_video_run(nextgpt, tmp):
    """Text in → reply + video: NExT-GPT's video call is `TextToVideoSDPipeline(prompt_embeds=gen_emb)`,
    the negative encoded from "" by the pipeline."""
    from safetensors.torch import save_file
    container = os.path.join(tmp, "tiny-video-f32.gguf")
    subprocess.run([nextgpt, "convert", *VIDEO_CONVERT, "--no-source-hash", "-o", container],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    with torch.no_grad():
        model = load_model("Tests/Fixtures/vicuna", container)
        add_delta_lora(model, container, 16.0)
        embed = model.model.embed_tokens
        proj_w = container_weights(container, "nextgpt.llama_proj")
        llama_proj = torch.nn.Linear(proj_w["weight"].shape[1], proj_w["weight"].shape[0])
        load_container_weights(llama_proj, container, "nextgpt.llama_proj")
        tok = Tokenizer()
        stops = [tok.sp.eos_id()] + ([tok.sp.piece_to_id("▁###")] if tok.sp.piece_to_id("▁###") != tok.sp.unk_id() else [])
        embeds = prepare_generation_embedding(f"### Human:  {VIDEO_TEXT}", None, tok, embed, llama_proj)
        ids, conditioning = forced_run_conditioning(model, container, embed, embeds, greedy_reply(model, embeds, stops),
                                                    "video", tok)
        pipe, diffusers = bundle_zeroscope_pipeline.load_pipeline(container)
        f = pipe.vae_scale_factor
        latents = torch.randn((1, pipe.unet.config.in_channels, VIDEO["num_frames"], VIDEO["height"] // f, VIDEO["width"] // f),
                              generator=torch.Generator("cpu").manual_seed(8))
        frames = bundle_zeroscope_pipeline.txt2video(
            pipe, prompt_embeds=conditioning.clone(), latents=latents.clone(), num_inference_steps=VIDEO["steps"],
            guidance_scale=VIDEO["guidance_scale"], num_frames=VIDEO["num_frames"], height=VIDEO["height"],
            width=VIDEO["width"])
    path = os.path.join(OUT, "run-video-f32.safetensors")
    save_file({"ids": torch.tensor(ids, dtype=torch.int32), "conditioning": conditioning.contiguous(),
               "latents": latents.contiguous(), "frames": frames.contiguous()}, path,
              metadata={**META, "nextgpt.reference.convert": json.dumps(VIDEO_CONVERT),
                        "nextgpt.reference.run": json.dumps({"text": VIDEO_TEXT, "max_new_tokens": MAX_NEW_TOKENS,
                                                              "force_output": "video", **VIDEO}),
                        "nextgpt.reference.torch": torch.__version__, "nextgpt.reference.diffusers": diffusers.__version__})
    print(path, os.path.getsize(path), "bytes", "reply+run ids:", ids, "frames:", tuple(frames.shape))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nextgpt", default=os.path.join(ROOT, ".build", "debug", "nextgpt"))
    ap.add_argument("--only", choices=["video"], help="make only this run's bundle")
    args = ap.parse_args()
    from safetensors.torch import save_file
    with tempfile.TemporaryDirectory() as tmp:
        make_video_run(os.path.abspath(args.nextgpt), tmp)
        if args.only == "video":
            return
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
            # text → audio: the [AUD0..7] run appended to the reply; its projector output (1, 1, P)
            # goes to AudioLDM as `prompt_embeds=gen_emb.view(1, P)`, the negative from "" (computed by
            # the pipeline, as NExT-GPT's call leaves it).
            prompt = f"### Human:  {AUDIO_TEXT}"
            a_embeds = prepare_generation_embedding(prompt, None, tok, embed, llama_proj)
            out = model.generate(inputs_embeds=a_embeds[None], max_new_tokens=MAX_NEW_TOKENS, do_sample=False,
                                 eos_token_id=stops, pad_token_id=0)
            a_reply = out[0].tolist()[-MAX_NEW_TOKENS:] if out.shape[1] > MAX_NEW_TOKENS else out[0].tolist()
            a_run = [tok.added[t] for t in RUNS["audio"]]
            assert a_run[0] not in a_reply
            a_ids = a_reply + a_run
            a_hidden = model.model(inputs_embeds=torch.cat([a_embeds, embed(torch.tensor(a_ids))], dim=0)[None]).last_hidden_state[0]
            a_layer, _ = projector(container, "audio")
            a_conditioning = a_layer(a_hidden[-len(a_run):][None], embed(torch.tensor([a_run])))
            apipe, _ = bundle_audioldm_pipeline.load_pipeline(container)
            height = int(AUDIO["audio_length_in_s"] / (float(torch.tensor(apipe.vocoder.config.upsample_rates).prod()) / apipe.vocoder.config.sampling_rate))
            fa = apipe.vae_scale_factor
            height = -(-height // fa) * fa
            a_latents = torch.randn((1, apipe.unet.config.in_channels, height // fa, apipe.vocoder.config.model_in_dim // fa),
                                    generator=torch.Generator("cpu").manual_seed(6))
            waveform = bundle_audioldm_pipeline.txt2audio(apipe, prompt_embeds=a_conditioning.reshape(1, -1).clone(),
                                                          latents=a_latents.clone(), num_inference_steps=AUDIO["steps"],
                                                          guidance_scale=AUDIO["guidance_scale"],
                                                          audio_length_in_s=AUDIO["audio_length_in_s"])
    save_file({"ids": torch.tensor(a_ids, dtype=torch.int32), "conditioning": a_conditioning.contiguous(),
               "latents": a_latents.contiguous(), "waveform": waveform.contiguous()},
              os.path.join(OUT, "run-audio-f32.safetensors"),
              metadata={"nextgpt.reference.generator": "tools/references/bundle_nextgpt_run.py",
                        "nextgpt.reference.convert": json.dumps(CONVERT),
                        "nextgpt.reference.run": json.dumps({"text": AUDIO_TEXT, "max_new_tokens": MAX_NEW_TOKENS,
                                                              "force_output": "audio", **AUDIO}),
                        "nextgpt.reference.torch": torch.__version__})
    print("run-audio-f32.safetensors reply+run ids:", a_ids, "samples:", waveform.shape)
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
