#!/usr/bin/env python3
"""Reference bundles for ImageBind's image pre-processing (issue 11 §2, NEXTGPT.md §3.5):
`imagebind_preprocess_image` probes with the transform of `imagebind/data.py`
`load_and_transform_vision_data` (torchvision `Resize(224, BICUBIC)` on the PIL image, `CenterCrop(224)`,
`ToTensor`, CLIP `Normalize`), run by torchvision and Pillow themselves.

Inputs are uint8 RGB [H, W, 3] stored U8: seeded smooth gradients with noise and hard edges (so
Pillow's clipping between the passes matters), and Tests/Fixtures/images/photo420.jpg as Pillow
decodes it. A f32 `pixel_values` [1, 3, 224, 224] is 602 KB, so one probe stores it and every
probe stores `pixels`, the uint8 224 × 224 crop `ToTensor` receives (pixel_values is exactly
(pixels / 255 − mean) / std in f32, which the one f32 probe checks). Three bundles, each < 1 MB.
The probes need an `imagebind` component only to satisfy verify; its weights are not read.

It also writes imagebind/photo420-embedding.safetensors: `embedding` [1, D], what
`load_and_transform_vision_data(["photo420.jpg"])` then the tiny fixture model (f32 container
weights, as bundle_imagebind.py loads them) give, for the file → embedding helper.

    tools/.venv/bin/python tools/references/bundle_imagebind_preprocess.py --nextgpt .build/debug/nextgpt
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import PIL
import torch
import torchvision
from PIL import Image
from torchvision import transforms

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
from bundle_lib import Bundle  # noqa: E402

OUT = os.path.join(ROOT, "Tests", "Fixtures", "references", "bundles", "imagebind")
COMPONENT = "imagebind"
CONVERT = ["--imagebind", "Tests/Fixtures/imagebind/imagebind_huge.pth", "--type", "f32"]

# imagebind/data.py load_and_transform_vision_data, verbatim.
TRANSFORM = transforms.Compose([
    transforms.Resize(224, interpolation=transforms.InterpolationMode.BICUBIC),
    transforms.CenterCrop(224),
    transforms.ToTensor(),
    transforms.Normalize(mean=(0.48145466, 0.4578275, 0.40821073), std=(0.26862954, 0.26130258, 0.27577711)),
])
CROP = transforms.Compose(TRANSFORM.transforms[:2])

# bundle file → [(probe, width, height or a fixture path, store pixel_values)]
BUNDLES = {
    "preprocess-image": [("photo420", "Tests/Fixtures/images/photo420.jpg", True), ("upscale_97x61", (97, 61), False)],
    "preprocess-image-sizes": [("upscale_300x200", (300, 200), False), ("upscale_150x260", (150, 260), False),
                               ("identity_224x224", (224, 224), False)],
    # 252×230 resizes to 245×224: crop offset round(10.5) = 10 (half to even).
    "preprocess-image-downscale": [("downscale_252x230", (252, 230), False), ("downscale_460x250", (460, 250), False)],
}


def synthetic(width, height, seed):
    g = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    base = np.stack([255 * x / max(width - 1, 1), 255 * y / max(height - 1, 1),
                     127.5 + 127.5 * np.sin(x / 3.0 + y / 5.0)], axis=-1)
    noise = g.normal(0, 40, size=base.shape)
    edges = ((x // 7 + y // 11) % 2 == 0)[..., None] * g.choice([0, 255], size=(1, 1, 3))
    rgb = np.where(g.random(size=(height, width, 1)) < 0.15, edges, base + noise)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def photo_embedding(nextgpt):
    from safetensors.torch import save_file
    import bundle_imagebind
    with tempfile.TemporaryDirectory() as tmp:
        container = os.path.join(tmp, "imagebind-f32.gguf")
        subprocess.run([nextgpt, "convert", *CONVERT, "--no-source-hash", "-o", container],
                       cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        model, modality = bundle_imagebind.load_model(container)
        photo = "Tests/Fixtures/images/photo420.jpg"
        x = TRANSFORM(Image.open(os.path.join(ROOT, photo)).convert("RGB")).unsqueeze(0)
        with torch.no_grad():
            embedding = model({modality.VISION: x})[modality.VISION]
    path = os.path.join(OUT, "photo420-embedding.safetensors")
    save_file({"embedding": embedding.contiguous()}, path,
              metadata={"nextgpt.reference.generator": "tools/references/bundle_imagebind_preprocess.py",
                        "nextgpt.reference.input": photo + " through load_and_transform_vision_data (Pillow decode)",
                        "nextgpt.reference.convert": json.dumps(CONVERT),
                        "nextgpt.reference.torch": torch.__version__})
    print(path, os.path.getsize(path), "bytes")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nextgpt", default=os.path.join(ROOT, ".build", "debug", "nextgpt"))
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    seed = 0
    for bundle_name, cases in BUNDLES.items():
        b = Bundle()
        for name, source, store_values in cases:
            if isinstance(source, str):
                image = Image.open(os.path.join(ROOT, source)).convert("RGB")
            else:
                seed += 1
                image = Image.fromarray(synthetic(*source, seed), "RGB")
            rgb = np.asarray(image)
            b.tensors[f"{name}.rgb"] = torch.from_numpy(rgb.copy())
            pixels = torch.from_numpy(np.asarray(CROP(image)).copy())
            assert tuple(pixels.shape) == (224, 224, 3)
            b.tensors[f"{name}.pixels"] = pixels
            expect = {"pixels": f"{name}.pixels"}
            if store_values:
                values = TRANSFORM(image).unsqueeze(0)
                assert torch.equal(values, TRANSFORM.transforms[3](TRANSFORM.transforms[2](CROP(image))).unsqueeze(0))
                expect["pixel_values"] = values
            b.probe(name, COMPONENT, "imagebind_preprocess_image", {}, {"rgb": f"{name}.rgb"}, expect, rel_l2=1e-4)
        path = os.path.join(OUT, f"{bundle_name}.safetensors")
        b.save(path, {"nextgpt.reference.convert": json.dumps(CONVERT),
                      "nextgpt.reference.generator": "tools/references/bundle_imagebind_preprocess.py",
                      "nextgpt.reference.transform": "imagebind/data.py load_and_transform_vision_data (torchvision)",
                      "nextgpt.reference.torch": torch.__version__,
                      "nextgpt.reference.torchvision": torchvision.__version__,
                      "nextgpt.reference.pillow": PIL.__version__})
        size = os.path.getsize(path)
        assert size < 1 << 20, f"{path} is {size} bytes"
        print(path, size, "bytes")
    photo_embedding(os.path.abspath(args.nextgpt))


if __name__ == "__main__":
    main()
