#!/usr/bin/env python3
"""Reference bundles for NExT-GPT's inference path on the tiny system (issue 14 §1-§4, NEXTGPT.md
§1.3-§1.5): `prompt_logits` (prepare_generation_embedding, then the delta-augmented Vicuna) and
`signal_conditioning` (hidden states at a signal-token run → that modality's TextFcLayer).

NExT-GPT's code is re-created here from NEXTGPT.md's reading of `anyToImageVideoAudio.py`:
- `prepare_generation_embedding`: `re.split(r' <|> ', prompt + '\\n### Assistant:')`; a chunk starting
  with `Image>`/`Audio>`/`Video>` becomes `[embed(<Img>), Σ llama_proj(feature), embed(</Img>)]` over the
  paths `re.findall(r'Image>(.*?)<\\/Image', chunk)` (all three modalities use <Img>); every other chunk
  is `[embed(BOS)] + embed(tokenizer(chunk, add_special_tokens=False))`, tokenized as transformers
  4.29.2's slow LlamaTokenizer does (tools/fixtures/fx_spm_cases.py's `hf429_encode`).
- the language model is transformers' LlamaForCausalLM given the container's weights with the delta's
  LoRA hooked in as peft adds it (bundle_llama.py), resized to the delta's vocabulary;
- the signal-token hidden states are the final-norm states at the positions whose input tokens are
  the run, the projector's `input_embs` the run's input embeddings (`gen_prefix_embs`), and the
  projector tools/fixtures/fx_textfc.py's TextFcLayer (bundle_nextgpt_projections.py).
ImageBind features are seeded random unit vectors (the ImageBind calls have their own bundles).

    tools/.venv/bin/python tools/references/bundle_nextgpt_inference.py --nextgpt .build/debug/nextgpt
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

import sentencepiece as spm
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tools", "fixtures"))
from bundle_lib import Bundle, container_weights, load_container_weights  # noqa: E402
from bundle_llama import add_delta_lora, load_model  # noqa: E402
from bundle_nextgpt_projections import MODULES, projector  # noqa: E402
from fx_spm_cases import hf429_encode  # noqa: E402

OUT = os.path.join(ROOT, "Tests", "Fixtures", "references", "bundles", "nextgpt")
DELTA = os.path.join(ROOT, "Tests", "Fixtures", "nextgpt-delta")
GENERATE_STEPS = 12
RUNS = {"image": [f"[IMG{i}]" for i in range(4)], "video": [f"[VID{i}]" for i in range(24)],
        "audio": [f"[AUD{i}]" for i in range(8)]}


def convert_args(qtype):
    return ["--vicuna", "Tests/Fixtures/vicuna", "--delta", "Tests/Fixtures/nextgpt-delta", "--delta-lora-alpha", "16",
            "--type", qtype]


class Tokenizer:
    def __init__(self):
        self.sp = spm.SentencePieceProcessor(model_file=os.path.join(DELTA, "tokenizer.model"))
        with open(os.path.join(DELTA, "added_tokens.json")) as f:
            self.added = json.load(f)
        self.specials = {"<s>": self.sp.bos_id(), "</s>": self.sp.eos_id(), "<unk>": self.sp.unk_id()}
        self.bos = self.sp.bos_id()

    def __call__(self, text):  # tokenizer(text, add_special_tokens=False).input_ids
        return hf429_encode(self.sp, text, self.added, self.specials)


def prepare_generation_embedding(prompt, media, tok, embed, llama_proj):
    text = prompt + "\n### Assistant:"
    parts, next_media = [], 0
    for chunk in re.split(r' <|> ', text):
        kind = next((k for k in ("Image", "Audio", "Video") if chunk.startswith(k + ">")), None)
        paths = re.findall(kind + r'>(.*?)<\/' + kind, chunk) if kind else []
        if paths:
            features = [llama_proj(media[next_media + i:next_media + i + 1]) for i in range(len(paths))]
            next_media += len(paths)
            parts += [embed(torch.tensor(tok("<Img>"))), torch.cat(features).sum(dim=0).unsqueeze(0), embed(torch.tensor(tok("</Img>")))]
        else:
            parts += [embed(torch.tensor([tok.bos])), embed(torch.tensor(tok(chunk), dtype=torch.long))]
    assert media is None or next_media == media.shape[0]
    return torch.cat(parts, dim=0)


def make_bundle(nextgpt, qtype, tmp):
    container = os.path.join(tmp, f"nextgpt-inference-{qtype}.gguf")
    subprocess.run([nextgpt, "convert", *convert_args(qtype), "--no-source-hash", "-o", container],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    model = load_model("Tests/Fixtures/vicuna", container)
    add_delta_lora(model, container, 16.0)
    embed = model.model.embed_tokens
    proj_w = container_weights(container, "nextgpt.llama_proj")
    llama_proj = torch.nn.Linear(proj_w["weight"].shape[1], proj_w["weight"].shape[0])
    load_container_weights(llama_proj, container, "nextgpt.llama_proj")
    tok = Tokenizer()
    g = torch.Generator().manual_seed(23)
    d = llama_proj.in_features

    def features(n):
        return torch.nn.functional.normalize(torch.randn(n, d, generator=g), dim=-1).half().float()

    prompts = [
        ("image", "### Human: <Image>cat.png</Image>  describe it", 1),
        ("audio", "### Human: <Audio>dog.wav</Audio>  hi", 1),
        ("two_in_one_tag", "### Human: <Image>a.png</Image><Image>b.png</Image> both", 2),
        ("text_only", "### Human:  Tell me a story about a robot.", 0),
        ("angle_brackets", "### Human:  is 3 > 2 and 1 < 4? <b>bold</b> x <Image> y", 0),
        ("second_tag_is_text", "### Human: <Image>a.png</Image> <Audio>b.wav</Audio>  compare", 1),
        ("second_turn", "### Human: <Image>cat.png</Image>  describe it\n### Assistant: A cat.[IMG0][IMG1][IMG2][IMG3]\n### Human:  make it blue", 1),
    ]
    b = Bundle()
    tol = 1e-5 if qtype == "f32" else 5e-2
    with torch.no_grad():
        for name, prompt, count in prompts:
            media = features(count) if count else None
            inputs_embeds = prepare_generation_embedding(prompt, media, tok, embed, llama_proj)
            logits = model(inputs_embeds=inputs_embeds[None]).logits[0]
            inputs = {"media": media.half()} if media is not None else {}
            # inputs_embeds for the media cases only: the logits already cover the text-only ones.
            expect = {"logits": logits, "inputs_embeds": inputs_embeds} if count else {"logits": logits}
            b.probe(f"prompt_logits_{name}", "vicuna", "prompt_logits", {"prompt": prompt, "activations": "f32",
                    "delta_lora_mode": "runtime"}, inputs, expect, rel_l2=tol)
        every = "### Human: <Image>a.png</Image> <Audio>b.wav</Audio> <Video>c.mp4</Video>  compare them"
        media = features(3)
        # every_tag: the same construction with the three tags all read as media (the runtime's option).
        parts = [embed(torch.tensor([tok.bos])), embed(torch.tensor(tok("### Human:")))]
        for i in range(3):
            parts += [embed(torch.tensor(tok("<Img>"))), llama_proj(media[i:i + 1]), embed(torch.tensor(tok("</Img>")))]
        parts += [embed(torch.tensor([tok.bos])), embed(torch.tensor(tok(" compare them\n### Assistant:")))]
        inputs_embeds = torch.cat(parts, dim=0)
        b.probe("prompt_logits_every_tag", "vicuna", "prompt_logits",
                {"prompt": every, "chunking": "every_tag", "activations": "f32", "delta_lora_mode": "runtime"},
                {"media": media.half()}, {"logits": model(inputs_embeds=inputs_embeds[None]).logits[0],
                                          "inputs_embeds": inputs_embeds}, rel_l2=tol)

        # nextgpt_generate: the demo samples with top_p 0.01, which keeps only the most likely token,
        # so HF's greedy generate from the same inputs_embeds gives the ids; it stops on ▁### or EOS.
        stop_ids = [tok.sp.eos_id()] + ([tok.sp.piece_to_id("▁###")] if tok.sp.piece_to_id("▁###") != tok.sp.unk_id() else [])
        for name, prompt, count in [("text", "### Human:  Tell me a story about a robot.", 0),
                                    ("image", "### Human: <Image>cat.png</Image>  describe it", 1)]:
            media = features(count) if count else None
            inputs_embeds = prepare_generation_embedding(prompt, media, tok, embed, llama_proj)
            out = model.generate(inputs_embeds=inputs_embeds[None], max_new_tokens=GENERATE_STEPS, do_sample=False,
                                 eos_token_id=stop_ids, pad_token_id=0)
            ids = out[0, -GENERATE_STEPS:] if out.shape[1] > GENERATE_STEPS else out[0]
            b.probe(f"generate_{name}", "vicuna", "nextgpt_generate",
                    {"prompt": prompt, "max_new_tokens": GENERATE_STEPS, "activations": "f32", "delta_lora_mode": "runtime"},
                    {"media": media.half()} if media is not None else {}, {"ids": ids.to(torch.int32)}, rel_l2=0, max_abs=0)

        # signal_conditioning: a reply holding all three runs, as generation would feed them.
        reply = "### Human:  draw\n### Assistant: Here." + "".join(RUNS["image"]) + " and " + "".join(RUNS["video"]) \
            + " then " + "".join(RUNS["audio"]) + "\n###"
        ids = [tok.bos] + tok(reply)
        hidden = model.model(torch.tensor([ids])).last_hidden_state[0]
        expect = {}
        for modality, run in RUNS.items():
            run_ids = [tok.added[t] for t in run]
            start = next(i for i in range(len(ids)) if ids[i:i + len(run_ids)] == run_ids)
            layer, _ = projector(container, modality)
            expect[modality] = layer(hidden[start:start + len(run_ids)][None], embed(torch.tensor([run_ids])))
        b.probe("signal_conditioning", "vicuna", "signal_conditioning", {"activations": "f32", "delta_lora_mode": "runtime"},
                {"ids": torch.tensor(ids, dtype=torch.int32)}, expect, rel_l2=tol)
    path = os.path.join(OUT, f"inference-{qtype}.safetensors")
    b.save(path, {"nextgpt.reference.convert": json.dumps(convert_args(qtype)),
                  "nextgpt.reference.generator": "tools/references/bundle_nextgpt_inference.py",
                  "nextgpt.reference.torch": torch.__version__})
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nextgpt", default=os.path.join(ROOT, ".build", "debug", "nextgpt"))
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = make_bundle(os.path.abspath(args.nextgpt), "f32", tmp)
        print(path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
