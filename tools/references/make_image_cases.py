#!/usr/bin/env python3
"""Small image fixtures and what Pillow decodes them to (diffusers loads images with Pillow and
`convert("RGB")`).

Writes Tests/Fixtures/images/*.png|jpg and Tests/Fixtures/images/pillow-decoded.safetensors:
`<file name>` = uint8 RGB values as f32 [H, W, 3].

    /work/venv/bin/python tools/references/make_image_cases.py
"""
import os
import struct
import zlib

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "Fixtures", "images")
os.makedirs(OUT, exist_ok=True)
rng = np.random.default_rng(20261123)
H, W = 13, 17


def smooth(h, w, channels):
    y, x = np.mgrid[0:h, 0:w]
    planes = [127 + 100 * np.sin(x / (3 + c) + y / (4 + c) + c) for c in range(channels)]
    return np.clip(np.stack(planes, -1) + rng.normal(0, 6, (h, w, channels)), 0, 255).astype(np.uint8)


def raw_png(path, array16, color_type):
    """A 16-bit PNG written by hand (Pillow cannot write 16-bit RGB)."""
    h, w = array16.shape[:2]
    rows = b"".join(b"\x00" + array16[r].astype(">u2").tobytes() for r in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


files = {}
Image.fromarray(smooth(H, W, 3), "RGB").save(f"{OUT}/rgb8.png")
Image.fromarray(smooth(H, W, 4), "RGBA").save(f"{OUT}/rgba8.png")
Image.fromarray(smooth(H, W, 1)[..., 0], "L").save(f"{OUT}/gray8.png")
Image.fromarray(smooth(H, W, 2), "LA").save(f"{OUT}/gray_alpha8.png")
Image.fromarray(smooth(H, W, 1)[..., 0] > 127).save(f"{OUT}/gray1.png")
palette = Image.fromarray(smooth(H, W, 3), "RGB").quantize(colors=13)
palette.info["transparency"] = 2
palette.save(f"{OUT}/palette.png", transparency=2)
raw_png(f"{OUT}/rgb16.png", (rng.integers(0, 65536, (H, W, 3))).astype(np.uint16), 2)
raw_png(f"{OUT}/rgba16.png", (rng.integers(0, 65536, (H, W, 4))).astype(np.uint16), 6)
raw_png(f"{OUT}/gray16.png", (rng.integers(0, 65536, (H, W))).astype(np.uint16), 0)
Image.fromarray(smooth(29, 37, 3), "RGB").save(f"{OUT}/photo420.jpg", quality=90)
Image.fromarray(smooth(29, 37, 3), "RGB").save(f"{OUT}/photo444.jpg", quality=95, subsampling=0)

decoded = {}
for name in sorted(os.listdir(OUT)):
    if name.endswith((".png", ".jpg")):
        decoded[name] = torch.from_numpy(np.array(Image.open(f"{OUT}/{name}").convert("RGB"))).float().contiguous()
save_file(decoded, f"{OUT}/pillow-decoded.safetensors")
print({k: tuple(v.shape) for k, v in decoded.items()})
