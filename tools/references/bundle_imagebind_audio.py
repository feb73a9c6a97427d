#!/usr/bin/env python3
"""References for ImageBind's audio input (issue 11 §1–2, NEXTGPT.md §3.5), from the real code:
imagebind/data.py's `load_and_transform_audio_data` (imagebind-unofficial, loaded from its file),
pytorchvideo 0.1.5's `ConstantClipsPerVideoSampler`, torchaudio's `resample` and Kaldi `fbank`,
and `torchaudio.load` (soundfile) for the test media.

- bundles/imagebind/preprocess-audio-*.safetensors: `imagebind_preprocess_audio` probes. Each
  probe's waveform goes through `load_and_transform_audio_data` itself, with `torchaudio.load`
  patched to return it. Waveforms are stored F16 and PyTorch ran on the rounded values, so the
  inputs are exact; a mel [1, 3, 1, 128, 204] is 313 KB of f32, so each bundle holds one or two
  waveforms. The "pytorchvideo-main" rule is pytorchvideo 0.1.5's sampler with its one changed line
  (start spacing max(clips - 1, 1), pytorchvideo commit 9368f30) patched in:
  make_clip_sampler_cases.MainRuleSampler.
- references/signal/*.safetensors: kernel cases (numpy.fft.rfft, torchaudio get_mel_banks,
  hann window, fbank, resample) for the scalar kernels' tests.
- media/reference-samples*.safetensors: what torchaudio.load gives for the test media.
- bundles/imagebind/tone16k-mono-embedding.safetensors: tone16k-mono.wav through
  load_and_transform_audio_data, then the tiny fixture model (f32 container weights) in
  tools/.venv (this venv has no timm; NEXTGPT_TORCH_PYTHON names another python), NExT-GPT's audio
  post-processing (no ×20).

    tools/.venv-audio/bin/python tools/references/bundle_imagebind_audio.py --nextgpt .build/debug/nextgpt
"""

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import types
from pathlib import Path

import numpy as np
import soundfile
import torch
import torchaudio
import torchaudio.compliance.kaldi as kaldi
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
from bundle_lib import Bundle  # noqa: E402
import make_clip_sampler_cases  # noqa: E402  (pytorchvideo 0.1.5's clip_sampling, loaded by path)

OUT = os.path.join(ROOT, "Tests", "Fixtures", "references", "bundles", "imagebind")
SIGNAL = os.path.join(ROOT, "Tests", "Fixtures", "references", "signal")
MEDIA = os.path.join(ROOT, "Tests", "Fixtures", "media")
COMPONENT = "imagebind"
CONVERT = ["--imagebind", "Tests/Fixtures/imagebind/imagebind_huge.pth", "--type", "f32"]
RULES = {"pytorchvideo-0.1.5": make_clip_sampler_cases.clip_sampling.ConstantClipsPerVideoSampler,
         "pytorchvideo-main": make_clip_sampler_cases.MainRuleSampler}


def load_imagebind_data():
    """imagebind/data.py from its file. Its imports that the audio path never touches (video
    decoding, video transforms, the text tokenizer and its model package) are stubbed; the clip
    sampler is pytorchvideo 0.1.5's own module."""
    import pytorchvideo
    stubs = {
        "pytorchvideo.transforms": {},
        "pytorchvideo.data": {},
        "pytorchvideo.data.encoded_video": {"EncodedVideo": None},
        "imagebind": {},
        "imagebind.models": {},
        "imagebind.models.multimodal_preprocessors": {"SimpleTokenizer": None},
    }
    for name, attrs in stubs.items():
        module = types.ModuleType(name)
        module.__dict__.update(attrs)
        sys.modules[name] = module
    sys.modules["pytorchvideo.data.clip_sampling"] = make_clip_sampler_cases.clip_sampling
    assert pytorchvideo.__version__ == "0.1.5"
    import importlib.metadata
    path = Path(importlib.metadata.distribution("imagebind-unofficial").locate_file("imagebind/data.py"))
    spec = importlib.util.spec_from_file_location("imagebind_data", path)
    data = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(data)
    return data


DATA = load_imagebind_data()


def transform(waveform, sample_rate, rule):
    """load_and_transform_audio_data([one file]) with torchaudio.load returning `waveform`."""
    original_load, original_sampler = DATA.torchaudio.load, DATA.ConstantClipsPerVideoSampler
    DATA.torchaudio.load = lambda path: (waveform.clone(), sample_rate)
    DATA.ConstantClipsPerVideoSampler = RULES[rule]
    try:
        return DATA.load_and_transform_audio_data(["<waveform>"], "cpu")
    finally:
        DATA.torchaudio.load, DATA.ConstantClipsPerVideoSampler = original_load, original_sampler


def signal(seconds, rate, channels, seed):
    """Tones, a sweep and seeded noise per channel (energy in every mel bin), rounded to f16."""
    g = torch.Generator().manual_seed(seed)
    n = int(round(seconds * rate))
    t = torch.arange(n, dtype=torch.float64) / rate
    rows = []
    for c in range(channels):
        f0 = 220.0 * (c + 1) + 37 * seed
        x = (0.25 * torch.sin(2 * np.pi * f0 * t) + 0.15 * torch.sin(2 * np.pi * (150 + 900 * t / seconds) * t)
             + 0.05 * torch.sin(2 * np.pi * 3100 * t + c) + 0.1 * c + 0.03 * torch.randn(n, generator=g, dtype=torch.float64))
        rows.append(x)
    return torch.stack(rows).to(torch.float16).to(torch.float32)


# bundle → [(probe, seconds, rate, channels, seed, rules)]
BUNDLES = {
    "preprocess-audio-mono5s": [("mono16k_5s", 5.0, 16000, 1, 1, list(RULES))],
    "preprocess-audio-stereo": [("stereo16k_2.6s", 2.6, 16000, 2, 2, ["pytorchvideo-0.1.5"])],
    "preprocess-audio-44k": [("stereo44k_2.1s", 2.1, 44100, 2, 3, ["pytorchvideo-0.1.5"])],
    # For D ≤ 2 s both rules start every clip at 0 (checked below).
    "preprocess-audio-short": [("mono16k_1.3s", 1.3, 16000, 1, 4, ["pytorchvideo-0.1.5"]),
                               ("mono16k_2s", 2.0, 16000, 1, 5, ["pytorchvideo-main"])],
    "preprocess-audio-odd": [("mono16k_3.37s", 3.37, 16000, 1, 6, list(RULES))],
    "preprocess-audio-long": [("mono16k_11s", 11.0, 16000, 1, 7, ["pytorchvideo-0.1.5"])],
    "preprocess-audio-long-main": [("mono16k_11s", 11.0, 16000, 1, 7, ["pytorchvideo-main"])],
}


def make_bundles():
    for bundle_name, cases in BUNDLES.items():
        b = Bundle()
        for name, seconds, rate, channels, seed, rules in cases:
            waveform = signal(seconds, rate, channels, seed)
            b.tensors[f"{name}.waveform"] = waveform.to(torch.float16).contiguous()
            if seconds <= 2:
                assert torch.equal(*(transform(waveform, rate, r) for r in RULES)), "rules agree for D ≤ 2 s"
            for rule in rules:
                mel = transform(waveform, rate, rule)
                probe = name if rule == "pytorchvideo-0.1.5" else f"{name}_main"
                args = {"clip_sampler": rule}
                if rate != 16000:
                    args["sample_rate"] = rate
                b.probe(probe, COMPONENT, "imagebind_preprocess_audio", args, {"waveform": f"{name}.waveform"},
                        {"mel": mel}, rel_l2=1e-4)
        path = os.path.join(OUT, f"{bundle_name}.safetensors")
        b.save(path, {"nextgpt.reference.convert": json.dumps(CONVERT),
                      "nextgpt.reference.generator": "tools/references/bundle_imagebind_audio.py",
                      "nextgpt.reference.transform": "imagebind/data.py load_and_transform_audio_data (torchaudio.load patched)",
                      "nextgpt.reference.torch": torch.__version__, "nextgpt.reference.torchaudio": torchaudio.__version__})
        size = os.path.getsize(path)
        assert size < 820_000, f"{path} is {size} bytes"
        print(path, size, "bytes")


def save(path, tensors, note):
    save_file({k: v.contiguous() for k, v in tensors.items()}, path,
              metadata={"nextgpt.reference.generator": "tools/references/bundle_imagebind_audio.py", "note": note,
                        "nextgpt.reference.torch": torch.__version__, "nextgpt.reference.torchaudio": torchaudio.__version__,
                        "nextgpt.reference.numpy": np.__version__})
    print(path, os.path.getsize(path), "bytes")


def make_signal_cases():
    g = torch.Generator().manual_seed(1234)
    fft = {}
    for n in (2, 8, 64, 512):
        x = torch.randn(n, generator=g)
        spectrum = np.fft.rfft(x.numpy().astype(np.float64))
        fft[f"fft{n}.x"] = x
        fft[f"fft{n}.real"] = torch.from_numpy(spectrum.real.astype(np.float32))
        fft[f"fft{n}.imag"] = torch.from_numpy(spectrum.imag.astype(np.float32))
    banks, _ = kaldi.get_mel_banks(128, 512, 16000.0, 20.0, 0.0, 100.0, -500.0, 1.0)
    x = signal(0.5, 16000, 2, 9)
    fbank = kaldi.fbank(x, htk_compat=True, sample_frequency=16000, use_energy=False, window_type="hanning",
                        num_mel_bins=128, dither=0.0, frame_length=25, frame_shift=10)
    save(os.path.join(SIGNAL, "fbank.safetensors"),
         {**fft, "mel_banks": banks.to(torch.float32), "hann400": torch.hann_window(400, periodic=False),
          "fbank.x": x, "fbank.out": fbank},
         "numpy.fft.rfft (float64) of seeded inputs; kaldi.get_mel_banks(128, 512, 16000, 20, 0); "
         "fbank of a 0.5 s stereo signal with imagebind/data.py's arguments (channel 0 used)")
    resample = {}
    for name, rate, seconds in (("r44100", 44100, 0.5), ("r22050", 22050, 0.4), ("r8000", 8000, 0.3), ("r48000", 48000, 0.25)):
        x = signal(seconds, rate, 2, 10)
        resample[f"{name}.x"] = x
        resample[f"{name}.y"] = torchaudio.functional.resample(x, orig_freq=rate, new_freq=16000)
    save(os.path.join(SIGNAL, "resample.safetensors"), resample,
         "torchaudio.functional.resample(x, orig_freq=r, new_freq=16000) with its defaults, x stereo [2, n]")


def make_media_samples():
    def load(name):
        w, sr = torchaudio.load(os.path.join(MEDIA, name))
        info = soundfile.info(os.path.join(MEDIA, name))
        assert sr == info.samplerate
        return w
    pcm = {"tone16k-mono.wav": (load("tone16k-mono.wav") * 32768).to(torch.int16),
           "tone44k-stereo.wav": (load("tone44k-stereo.wav") * 32768).to(torch.int16),
           "tone.flac": (load("tone.flac") * 8388608).to(torch.int32)}
    for name, ints in pcm.items():
        scale = 32768 if ints.dtype == torch.int16 else 8388608
        assert torch.equal(ints.to(torch.float32) / scale, load(name)), f"{name}: integer PCM is exact"
    save(os.path.join(MEDIA, "reference-samples.safetensors"), pcm,
         "torchaudio.load (soundfile backend) of the lossless test media, times 2^15 (16-bit) or 2^23 (24-bit): exact integers")
    save(os.path.join(MEDIA, "reference-samples-mp3.safetensors"), {"tone44k.mp3": load("tone44k.mp3").to(torch.float16)},
         "torchaudio.load (soundfile backend: libsndfile with mpg123) of tone44k.mp3, stored F16")


def make_embedding(nextgpt):
    mel = DATA.load_and_transform_audio_data([os.path.join(MEDIA, "tone16k-mono.wav")], "cpu")
    with tempfile.TemporaryDirectory() as tmp:
        mel_path = os.path.join(tmp, "mel.pt")
        torch.save(mel, mel_path)
        script = (
            "import os, sys, subprocess, torch, json\n"
            f"sys.path.insert(0, {HERE!r})\n"
            "import bundle_imagebind\n"
            "from safetensors.torch import save_file\n"
            f"container = os.path.join({tmp!r}, 'imagebind-f32.gguf')\n"
            f"subprocess.run([{nextgpt!r}, 'convert', *{CONVERT!r}, '--no-source-hash', '-o', container], cwd={ROOT!r}, check=True, stdout=subprocess.DEVNULL)\n"
            "model, modality = bundle_imagebind.load_model(container)\n"
            f"mel = torch.load({mel_path!r})\n"
            "with torch.no_grad():\n"
            "    embedding = bundle_imagebind.nextgpt_embed(model, modality.AUDIO, mel)\n"
            f"save_file({{'embedding': embedding.contiguous(), 'mel': mel.contiguous()}}, {os.path.join(OUT, 'tone16k-mono-embedding.safetensors')!r}, metadata={{"
            "'nextgpt.reference.generator': 'tools/references/bundle_imagebind_audio.py',"
            "'nextgpt.reference.input': 'Tests/Fixtures/media/tone16k-mono.wav through load_and_transform_audio_data (pytorchvideo 0.1.5 sampler), then ImageBindModel audio with NExT-GPT post-processing (no x20)',"
            f"'nextgpt.reference.convert': json.dumps({CONVERT!r}), 'nextgpt.reference.torch': torch.__version__}})\n")
        python = os.environ.get("NEXTGPT_TORCH_PYTHON", os.path.join(ROOT, "tools", ".venv", "bin", "python"))
        subprocess.run([python, "-c", script], check=True)
    print(os.path.join(OUT, "tone16k-mono-embedding.safetensors"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nextgpt", default=os.path.join(ROOT, ".build", "debug", "nextgpt"))
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    os.makedirs(SIGNAL, exist_ok=True)
    make_signal_cases()
    make_media_samples()
    make_bundles()
    make_embedding(os.path.abspath(args.nextgpt))


if __name__ == "__main__":
    main()
