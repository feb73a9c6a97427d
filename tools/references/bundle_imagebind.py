#!/usr/bin/env python3
"""Reference bundles for ImageBind as NExT-GPT runs it (issue 11 §3, NEXTGPT.md §3): `imagebind_embed`
probes for the tiny fixture Tests/Fixtures/imagebind/imagebind_huge.pth converted at f32, f16 and q8_0.

The PyTorch model is `imagebind.models.imagebind_model.ImageBindModel(**config.json)` (the
`imagebind-unofficial` package, upstream's code) given the container's dequantized weights, so a
quantized container is compared with PyTorch running exactly the weights our runtime reads.
NExT-GPT's copy applies only `Normalize` to audio (no ×20, §3.6): the `embedding` references are
taken after `modality_postprocessors.audio[0]`, and one probe checks upstream's ×20 as an option.

Inputs are seeded and stored F16 (PyTorch ran on the rounded values); the video clips hold small
integers stored I8 so the f32 bundle stays under 1 MB with a 2-clip 224×224 video.

    tools/.venv/bin/python tools/references/bundle_imagebind.py --nextgpt .build/debug/nextgpt
"""

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import types

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
from bundle_lib import Bundle, load_container_weights  # noqa: E402

OUT = os.path.join(ROOT, "Tests", "Fixtures", "references", "bundles", "imagebind")
FIXTURE = "Tests/Fixtures/imagebind/imagebind_huge.pth"
# ImageBind's tokenizer reads only a merges file; the committed 4k-merge prefix of CLIP's (the same
# merges as bpe_simple_vocab_16e6.txt, in the same order) stands in for the 1.3 MB original.
MERGES = os.path.join(ROOT, "Tests", "Fixtures", "clip-bpe-4k", "merges.txt")
MERGES_FROM_BUNDLE = "../../../clip-bpe-4k/merges.txt"
TEXTS = [
    "a dog barking in the park",
    "Hello, World! It's 5 o'clock; isn't it?",
    "Tom &amp; Jerry &lt;3 &quot;cartoons&quot; &#169; caf&eacute; &amp;amp; twice",
    "  Crème BRÛLÉE, naïve café — “quoted” ‘single’ ﬁne ＦＵＬＬ　ｗｉｄｔｈ  ",
    "Straße ΣΊΣΥΦΟΣ 東京タワー emoji 🎉🐶 <|endoftext|> after",
    " ".join(["a very long caption that keeps going"] * 16),
    "AT&T &copy 2020 &amp &#169 &#x41;&#X42; &hearts; &rarr; &EACUTE; &#128; &#0; &#xD800; a<b",
    "C1\x80\x93controls\x94 \x1b[31mred\x1b[0m zero\u200bwidth\ufeff tab\there\r\nline\u2028sep",
    "ﬀﬂﬃĳ ǅ ŉ ｶﾀｶﾅ ΑΣ. ὈΔΥΣΣΕΎΣ e\u0301 a\u0308 I'M HERE, they'VE ½ ² ٣ 1,000.5",
]
COMPONENT = "imagebind"
TYPES = ["f32", "f16", "q8_0"]
# The fixture's tensors are below the converter's small-tensor size and stay f16 at q8_0; the q8_0
# bundle forces the vision trunk's linear weights and the audio stem convolution (rows of 256) to
# Q8_0 so the quantized kernels run (the audio trunk's rows of 48 cannot form 32-blocks).
FORCED_Q8_0 = r"imagebind\.(modality_trunks\.vision\..*(in_proj_weight|out_proj\.weight|fc[12]\.weight)|modality_preprocessors\.audio\.rgbt_stem\.proj\.weight)$=q8_0"


def import_imagebind_model():
    """`import imagebind` pulls torchaudio/pytorchvideo through imagebind.data; stub that module first."""
    if "imagebind.data" not in sys.modules:
        sys.modules["imagebind.data"] = types.ModuleType("imagebind.data")
    from imagebind.models import imagebind_model
    return imagebind_model


def convert_args(qtype):
    forced = ["--tensor-type", FORCED_Q8_0] if qtype == "q8_0" else []
    return ["--imagebind", FIXTURE, "--type", qtype] + forced


def load_model(container):
    imagebind_model = import_imagebind_model()
    with open(os.path.join(ROOT, "Tests", "Fixtures", "imagebind", "config.json")) as f:
        config = json.load(f)
    model = imagebind_model.ImageBindModel(**config).eval()
    _, missing = load_container_weights(model, container, COMPONENT)
    assert not missing, f"container lacks {missing}"
    return model, imagebind_model.ModalityType


def nextgpt_embed(model, modality, x, logit_scale=False):
    """ImageBindModel.forward for one modality, with NExT-GPT's audio post-processing (Normalize
    only) unless `logit_scale` asks for upstream's."""
    reduce_list = x.ndim >= 5
    if reduce_list:
        b, s = x.shape[:2]
        x = x.reshape(b * s, *x.shape[2:])
    value = model.modality_preprocessors[modality](**{modality: x})
    head_inputs = value["head"]
    value = model.modality_trunks[modality](**value["trunk"])
    value = model.modality_heads[modality](value, **head_inputs)
    post = model.modality_postprocessors[modality]
    if modality == "audio" and not logit_scale:
        value = post[0](value)
    else:
        value = post(value)
    if reduce_list:
        value = value.reshape(b, s, -1).mean(dim=1)
    return value


def simple_tokenizer(tmp):
    import_imagebind_model()
    from imagebind.models.multimodal_preprocessors import SimpleTokenizer
    gz = os.path.join(tmp, "merges.txt.gz")
    with open(MERGES, "rb") as f, gzip.open(gz, "wb") as out:
        out.write(f.read())
    return SimpleTokenizer(bpe_path=gz)


def rounded(t, dtype):
    return t.to(dtype).to(torch.float32)


def make_bundle(nextgpt, qtype, tmp):
    container = os.path.join(tmp, f"imagebind-{qtype}.gguf")
    subprocess.run([nextgpt, "convert", *convert_args(qtype), "--no-source-hash", "-o", container],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    model, modality = load_model(container)
    g = torch.Generator().manual_seed(11)
    image = rounded(torch.randn(1, 3, 224, 224, generator=g), torch.float16)
    audio = rounded(torch.randn(1, 2, 1, 128, 204, generator=g), torch.float16)
    video = torch.randint(-2, 3, (1, 2, 3, 2, 224, 224), generator=g).to(torch.float32)
    b = Bundle()
    # The model sees exactly these values; they are stored in the narrow dtype (verify widens them).
    exact = qtype in ("f32", "f16")
    tol = 1e-5 if exact else 3e-2
    with torch.no_grad():
        cases = [("image", modality.VISION, image, torch.float16), ("audio", modality.AUDIO, audio, torch.float16)]
        if qtype == "f32":
            cases.append(("video", modality.VISION, video, torch.int8))
        for name, m, x, dtype in cases:
            b.tensors[f"{name}.x"] = x.to(dtype).contiguous()
            out = nextgpt_embed(model, m, x)
            full = model({m: x})[m]
            if m == modality.VISION:
                assert torch.allclose(out, full, atol=1e-6), "vision: NExT-GPT and upstream agree"
            else:
                assert torch.allclose(out * 20, full, rtol=1e-5, atol=1e-6), "audio: upstream is NExT-GPT's ×20"
            b.probe(f"embed_{name}", COMPONENT, "imagebind_embed", {"modality": m}, {"x": f"{name}.x"},
                    {"embedding": out}, rel_l2=tol)
            if not exact:
                b.probe(f"embed_{name}_f32_activations", COMPONENT, "imagebind_embed", {"modality": m, "activations": "f32"},
                        {"x": f"{name}.x"}, {"embedding": f"embed_{name}.embedding"}, rel_l2=1e-5)
        if qtype == "f32":
            up = model({modality.AUDIO: audio})[modality.AUDIO]
            b.probe("embed_audio_upstream_logit_scale", COMPONENT, "imagebind_embed",
                    {"modality": modality.AUDIO, "audio_logit_scale": True}, {"x": "audio.x"},
                    {"embedding": up, "normalized": "embed_audio.embedding"}, rel_l2=tol)
        if qtype == "f32":
            tokenizer = simple_tokenizer(tmp)
            rows = []
            for i, text in enumerate(TEXTS):
                ids = tokenizer(text)
                rows.append(ids)
                b.probe(f"tokenize_{i}", COMPONENT, "imagebind_tokenize", {"text": text, "bpe": MERGES_FROM_BUNDLE}, {},
                        {"ids": ids.to(torch.int32)}, rel_l2=0, max_abs=0)
            # A row over the whole 49 408-id table, its end token (the highest id) mid-sequence.
            wide = torch.randint(0, 49407, (77,), generator=g)
            wide[40] = 49407
            rows.append(wide)
            ids = torch.stack(rows).to(torch.int64)
            b.tensors["text.x"] = ids.to(torch.int32).contiguous()
            text_out = model({modality.TEXT: ids})[modality.TEXT]
            post = model.modality_postprocessors[modality.TEXT]
            normalized = post[0](model.modality_heads[modality.TEXT](
                model.modality_trunks[modality.TEXT](**model.modality_preprocessors[modality.TEXT](text=ids)["trunk"]),
                seq_len=ids.argmax(dim=-1)))
            assert torch.allclose(post[1](normalized), text_out)
            b.probe("embed_text", COMPONENT, "imagebind_embed", {"modality": modality.TEXT}, {"x": "text.x"},
                    {"embedding": text_out, "normalized": normalized}, rel_l2=tol)
    path = os.path.join(OUT, f"imagebind-{qtype}.safetensors")
    b.save(path, {"nextgpt.reference.convert": json.dumps(convert_args(qtype)),
                  "nextgpt.reference.generator": "tools/references/bundle_imagebind.py",
                  "nextgpt.reference.imagebind": "imagebind-unofficial ImageBindModel(**Tests/Fixtures/imagebind/config.json)",
                  "nextgpt.reference.torch": torch.__version__})
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nextgpt", default=os.path.join(ROOT, ".build", "debug", "nextgpt"))
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for qtype in TYPES:
            path = make_bundle(os.path.abspath(args.nextgpt), qtype, tmp)
            print(path, os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
