#!/usr/bin/env python3
"""References for ImageBind's video input (issue 11 §1-2, NEXTGPT.md §3.5), made with the real code:
pytorchvideo 0.1.5's ConstantClipsPerVideoSampler, EncodedVideoDecord.get_clip,
UniformTemporalSubsample and ShortSideScale, imagebind/data.py's get_clip_timepoints,
NormalizeVideo and SpatialCrop (the data.py file of tools/.venv's imagebind package, loaded by
path), and decord for files.

Writes
- Tests/Fixtures/references/bundles/imagebind/preprocess-video-*.safetensors: one
  `imagebind_preprocess_video` probe each (frames [T, H, W, 3] stored U8, fps, clip_sampler).
  A full `clips` output is 15 × 3 × 2 × 224 × 224 f32 = 18 MB and f16 would cost ~3e-4 of rel L2
  (above the 1e-4 tolerance), so each probe expects three exact f32 views of it instead:
  `clips_strided` = clips[..., 4::9, 4::9] (every 9th row and column, odd stride so both
  bilinear tap parities are seen), `clips_row_means` = clips.mean(-1) and
  `clips_column_means` = clips.mean(-2) (f64 means: every pixel of every clip takes part).
- Tests/Fixtures/media/decord-frames.safetensors: what decord gives for each fixture video:
  `<file>.count` (len), `<file>.fps` (get_avg_fps, F64), `<file>.sums` (per-frame sums of all
  RGB bytes, I64) and `<file>.frames` (get_batch of `<file>.indices`, U8).
- Tests/Fixtures/references/bundles/imagebind/clip-mp4-embedding.safetensors: `clips` is not
  stored (18 MB); `embedding` [1, D] is data.py's video loader on Tests/Fixtures/media/clip.mp4
  (EncodedVideoDecord over decord, as EncodedVideo.from_path builds it) and then the tiny fixture
  model from the f32 container (bundle_imagebind.load_model, run by tools/.venv's python).

    tools/.venv-audio/bin/python tools/references/bundle_imagebind_video.py --nextgpt .build/debug/nextgpt

The "pytorchvideo-main" rule is pytorchvideo 0.1.5's sampler with its one line changed by commit
9368f30 (what ImageBind's pin has), patched in below.
"""

import argparse
import importlib.util
import io
import json
import os
import subprocess
import sys
import tempfile
import types

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
OUT = os.path.join(ROOT, "Tests", "Fixtures", "references", "bundles", "imagebind")
MEDIA = os.path.join(ROOT, "Tests", "Fixtures", "media")
VENV_PYTHON = os.path.join(ROOT, "tools", ".venv", "bin", "python")
COMPONENT = "imagebind"
CONVERT = ["--imagebind", "Tests/Fixtures/imagebind/imagebind_huge.pth", "--type", "f32"]


def import_reference_code():
    """pytorchvideo 0.1.5 and imagebind/data.py with only what they import but never run stubbed:
    iopath (EncodedVideo.from_path's remote file reader; the file is read here, as from_path does),
    torchvision's removed functional_tensor (pytorchvideo's AugMix, unused), and imagebind's
    SimpleTokenizer module (text only). pytorchvideo.data's package __init__ (every dataset class) is
    skipped by registering the package without running it."""
    import pytorchvideo
    import torchvision.transforms._functional_tensor as functional_tensor

    assert pytorchvideo.__version__ == "0.1.5", pytorchvideo.__version__
    for name in ("iopath", "iopath.common", "iopath.common.file_io"):
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.modules["iopath.common.file_io"].g_pathmgr = None
    sys.modules["torchvision.transforms.functional_tensor"] = functional_tensor
    package = types.ModuleType("pytorchvideo.data")
    package.__path__ = [os.path.join(os.path.dirname(pytorchvideo.__file__), "data")]
    sys.modules["pytorchvideo.data"] = package
    for name in ("imagebind", "imagebind.models"):
        sys.modules.setdefault(name, types.ModuleType(name))
    tokenizer = types.ModuleType("imagebind.models.multimodal_preprocessors")
    tokenizer.SimpleTokenizer = None
    sys.modules[tokenizer.__name__] = tokenizer
    data_py = os.path.join(ROOT, "tools", ".venv", "lib", "python3.11", "site-packages", "imagebind", "data.py")
    spec = importlib.util.spec_from_file_location("imagebind_data", data_py)
    data = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(data)
    return data


# --embed runs in tools/.venv (the model), which has neither pytorchvideo nor decord.
EMBED_ONLY = "--embed" in sys.argv
if not EMBED_ONLY:
    data = import_reference_code()
    import decord  # noqa: E402
    import numpy as np  # noqa: E402
    import torch  # noqa: E402
    import torchvision  # noqa: E402
    from pytorchvideo import transforms as pv_transforms  # noqa: E402
    from pytorchvideo.data import clip_sampling  # noqa: E402
    from pytorchvideo.data.encoded_video_decord import EncodedVideoDecord  # noqa: E402
    from safetensors.torch import save_file  # noqa: E402
    sys.path.insert(0, HERE)
    from bundle_lib import Bundle  # noqa: E402

    # The "pytorchvideo-main" rule: 0.1.5's sampler with commit 9368f30's one line (shared with the
    # clip-sampler cases and the audio references).
    from make_clip_sampler_cases import MainRuleSampler  # noqa: E402

    SAMPLERS = {"pytorchvideo-0.1.5": clip_sampling.ConstantClipsPerVideoSampler, "pytorchvideo-main": MainRuleSampler}

    class TensorReader:
        """Stands in for decord.VideoReader over frames already decoded ([T, H, W, 3] uint8), so
        EncodedVideoDecord.get_clip runs unchanged."""

        def __init__(self, frames, fps):
            self.frames, self.fps = frames, fps

        def __len__(self):
            return self.frames.shape[0]

        def get_avg_fps(self):
            return self.fps

        def get_batch(self, indices):
            return self.frames[list(indices)]


def tensor_video(frames, fps):
    video = EncodedVideoDecord.__new__(EncodedVideoDecord)
    video._decode_audio, video._video_name = False, "frames"
    video._av_reader = TensorReader(frames, fps)
    video._fps = fps
    video._duration = float(len(video._av_reader)) / float(video._fps)
    return video


def file_video(path):
    """EncodedVideo.from_path(path, decoder="decord", decode_audio=False): the file's bytes in a
    BytesIO, given to EncodedVideoDecord."""
    with open(path, "rb") as fh:
        video_file = io.BytesIO(fh.read())
    return EncodedVideoDecord(video_file, os.path.basename(path), decode_audio=False)


def transform_video(video, rule, clip_duration=2, clips_per_video=5):
    """The body of data.py's load_and_transform_video_data for one video, verbatim."""
    video_transform = torchvision.transforms.Compose([
        pv_transforms.ShortSideScale(224),
        data.NormalizeVideo(mean=(0.48145466, 0.4578275, 0.40821073), std=(0.26862954, 0.26130258, 0.27577711)),
    ])
    clip_sampler = SAMPLERS[rule](clip_duration=clip_duration, clips_per_video=clips_per_video)
    frame_sampler = pv_transforms.UniformTemporalSubsample(num_samples=clip_duration)
    all_clips_timepoints = data.get_clip_timepoints(clip_sampler, video.duration)
    all_video = []
    for clip_timepoints in all_clips_timepoints:
        clip = video.get_clip(clip_timepoints[0], clip_timepoints[1])
        if clip is None:
            raise ValueError("No clip found")
        video_clip = frame_sampler(clip["video"])
        video_clip = video_clip / 255.0
        all_video.append(video_clip)
    all_video = [video_transform(clip) for clip in all_video]
    all_video = data.SpatialCrop(224, num_crops=3)(all_video)
    return torch.stack([torch.stack(all_video, dim=0)], dim=0)


def synthetic_frames(count, width, height, seed):
    """Smooth moving gradients with noise and hard edges, uint8 [T, H, W, 3]."""
    g = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    frames = []
    for t in range(count):
        base = np.stack([255 * ((x + 3 * t) % width) / max(width - 1, 1), 255 * y / max(height - 1, 1),
                         127.5 + 127.5 * np.sin(x / 3.0 + y / 5.0 + t / 4.0)], axis=-1)
        edges = (((x + t) // 5 + y // 7) % 2 == 0)[..., None] * 255.0
        rgb = np.where(g.random(size=(height, width, 1)) < 0.1, edges, base + g.normal(0, 25, size=base.shape))
        frames.append(np.clip(np.rint(rgb), 0, 255).astype(np.uint8))
    return torch.from_numpy(np.stack(frames))


# name → (frames, width, height, fps, rule)
PROBES = {
    "landscape_40x30": (35, 40, 30, 10.0, "pytorchvideo-0.1.5"),
    "portrait_30x44": (20, 30, 44, 8.0, "pytorchvideo-0.1.5"),
    "short_36x36": (15, 36, 36, 12.0, "pytorchvideo-0.1.5"),            # 1.25 s: every clip is the whole video
    "long_24x16": (110, 24, 16, 10.0, "pytorchvideo-0.1.5"),            # 11 s
    "long_24x16_main": (110, 24, 16, 10.0, "pytorchvideo-main"),
    "ntsc_32x24": (100, 32, 24, 30000 / 1001, "pytorchvideo-0.1.5"),    # 29.97 fps
    "downscale_240x228": (2, 240, 228, 1.0, "pytorchvideo-0.1.5"),      # the resize shrinks
}


def make_bundles():
    seed = 0
    for name, (count, width, height, fps, rule) in PROBES.items():
        seed += 1
        frames = synthetic_frames(count, width, height, seed if not name.endswith("_main") else seed - 1)
        clips = transform_video(tensor_video(frames, fps), rule)
        assert tuple(clips.shape) == (1, 15, 3, 2, 224, 224), clips.shape
        b = Bundle()
        b.tensors[f"{name}.frames"] = frames.contiguous()
        expect = {
            "clips_strided": clips[..., 4::9, 4::9],
            "clips_row_means": clips.double().mean(-1).float(),
            "clips_column_means": clips.double().mean(-2).float(),
        }
        b.probe(name, COMPONENT, "imagebind_preprocess_video", {"fps": fps, "clip_sampler": rule},
                {"frames": f"{name}.frames"}, expect, rel_l2=1e-4)
        path = os.path.join(OUT, f"preprocess-video-{name.replace('_', '-')}.safetensors")
        b.save(path, {"nextgpt.reference.convert": json.dumps(CONVERT),
                      "nextgpt.reference.generator": "tools/references/bundle_imagebind_video.py",
                      "nextgpt.reference.transform": "imagebind/data.py load_and_transform_video_data over pytorchvideo 0.1.5 EncodedVideoDecord.get_clip",
                      "nextgpt.reference.torch": torch.__version__,
                      "nextgpt.reference.torchvision": torchvision.__version__})
        size = os.path.getsize(path)
        assert size < 900_000, f"{path} is {size} bytes"
        print(path, size, "bytes")


FILES = ["clip.mp4", "clip.webm", "clip.avi", "ntsc.mp4"]


def decord_frames():
    tensors = {}
    for file in FILES:
        reader = decord.VideoReader(os.path.join(MEDIA, file))
        count = len(reader)
        every = reader.get_batch(list(range(count))).numpy()  # pytorchvideo set decord's torch bridge
        indices = sorted({0, 1, count // 2, count - 1})
        tensors[f"{file}.count"] = torch.tensor([count], dtype=torch.int64)
        tensors[f"{file}.fps"] = torch.tensor([reader.get_avg_fps()], dtype=torch.float64)
        tensors[f"{file}.sums"] = torch.from_numpy(every.reshape(count, -1).astype(np.int64).sum(1))
        tensors[f"{file}.indices"] = torch.tensor(indices, dtype=torch.int64)
        tensors[f"{file}.frames"] = torch.from_numpy(every[indices].copy())
    path = os.path.join(MEDIA, "decord-frames.safetensors")
    save_file(tensors, path, metadata={"nextgpt.reference.generator": "tools/references/bundle_imagebind_video.py",
                                       "nextgpt.reference.decord": decord.__version__})
    print(path, os.path.getsize(path), "bytes")


def clip_embedding(nextgpt):
    clips = transform_video(file_video(os.path.join(MEDIA, "clip.mp4")), "pytorchvideo-0.1.5")
    with tempfile.TemporaryDirectory() as tmp:
        clips_path = os.path.join(tmp, "clips.pt")
        torch.save(clips, clips_path)
        # The model needs tools/.venv's imagebind package (and its torch); this script runs itself there.
        subprocess.run([VENV_PYTHON, os.path.abspath(__file__), "--embed", clips_path, "--nextgpt", nextgpt],
                       cwd=ROOT, check=True)


def embed(clips_path, nextgpt):
    """Runs in tools/.venv: the clips through the fixture model from the f32 container."""
    import torch
    from safetensors.torch import save_file
    sys.path.insert(0, HERE)
    import bundle_imagebind
    clips = torch.load(clips_path)
    with tempfile.TemporaryDirectory() as tmp:
        container = os.path.join(tmp, "imagebind-f32.gguf")
        subprocess.run([nextgpt, "convert", *CONVERT, "--no-source-hash", "-o", container],
                       cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        model, modality = bundle_imagebind.load_model(container)
        with torch.no_grad():
            embedding = model({modality.VISION: clips})[modality.VISION]
    path = os.path.join(OUT, "clip-mp4-embedding.safetensors")
    save_file({"embedding": embedding.contiguous()}, path,
              metadata={"nextgpt.reference.generator": "tools/references/bundle_imagebind_video.py",
                        "nextgpt.reference.input": "Tests/Fixtures/media/clip.mp4 through load_and_transform_video_data (decord, pytorchvideo 0.1.5 rule)",
                        "nextgpt.reference.convert": json.dumps(CONVERT),
                        "nextgpt.reference.torch": torch.__version__})
    print(path, os.path.getsize(path), "bytes")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nextgpt", default=os.path.join(ROOT, ".build", "debug", "nextgpt"))
    ap.add_argument("--embed", help=argparse.SUPPRESS)
    args = ap.parse_args()
    nextgpt = os.path.abspath(args.nextgpt)
    if args.embed:
        return embed(args.embed, nextgpt)
    os.makedirs(OUT, exist_ok=True)
    make_bundles()
    decord_frames()
    clip_embedding(nextgpt)


if __name__ == "__main__":
    main()
