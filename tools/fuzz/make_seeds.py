"""Writes the seed corpora of the fuzz targets added after the first ten (fuzz/corpus/TARGET):
reference-bundle, server, jpeg, mp4. Every seed is a small copy or cut of a committed fixture
(each under 64 KiB, libFuzzer's -max_len in tools/fuzz/run.sh), so the script needs no network
and no torch.

Usage: tools/.venv/bin/python tools/fuzz/make_seeds.py
"""

import base64
import json
import os
import shutil
import struct

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
FIXTURES = os.path.join(ROOT, "Tests", "Fixtures")
CORPUS = os.path.join(ROOT, "fuzz", "corpus")
LIMIT = 64 * 1024


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8:8 + n]), data[8 + n:]


def write_safetensors(path, header, tensors):
    """tensors: name -> (entry without data_offsets, bytes); header: __metadata__ dict."""
    out = {"__metadata__": header}
    blob = b""
    for name, (entry, raw) in tensors.items():
        out[name] = dict(entry, data_offsets=[len(blob), len(blob) + len(raw)])
        blob += raw
    text = json.dumps(out, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + blob)


def sub_bundle(source, probe_names, path):
    """A bundle holding only the named probes of `source` and the tensors they use."""
    header, blob = read_safetensors(source)
    reference = json.loads(header["__metadata__"]["nextgpt.reference"])
    probes = [p for p in reference["probes"] if p["name"] in probe_names]
    tensors = {}
    for probe in probes:
        for name in list(probe.get("inputs", {}).values()) + list(probe["expect"].values()):
            entry = {k: v for k, v in header[name].items() if k != "data_offsets"}
            start, end = header[name]["data_offsets"]
            tensors[name] = (entry, blob[start:end])
    metadata = {"nextgpt.reference": json.dumps({"version": reference["version"], "probes": probes}, separators=(",", ":"))}
    write_safetensors(path, metadata, tensors)


def data_url(path, mime):
    with open(path, "rb") as f:
        return f"data:{mime};base64,{base64.b64encode(f.read()).decode()}"


def server_seeds():
    png = data_url(os.path.join(FIXTURES, "images", "gray1.png"), "image/png")
    jpeg = data_url(os.path.join(FIXTURES, "images", "photo420.jpg"), "image/jpeg")
    with open(os.path.join(FIXTURES, "media", "ntsc.mp4"), "rb") as f:
        mp4 = f"data:video/mp4;base64,{base64.b64encode(f.read()).decode()}"
    # 64 samples of 16-bit mono PCM at 16 kHz: the smallest WAV libsndfile reads.
    samples = struct.pack("<64h", *[(i * 997) % 20000 - 10000 for i in range(64)])
    wav = b"RIFF" + struct.pack("<I", 36 + len(samples)) + b"WAVEfmt " + struct.pack("<IHHIIHH", 16, 1, 1, 16000, 32000, 2, 16)
    wav += b"data" + struct.pack("<I", len(samples)) + samples
    return {
        "chat-text.json": {"model": "nextgpt", "messages": [{"role": "user", "content": "Hello, who are you?"}], "max_tokens": 8},
        "chat-vicuna.json": {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                                          {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "A joke?"}],
                             "temperature": 0.7, "top_p": 0.9, "top_k": 40, "seed": 3, "stream": True},
        "chat-image.json": {"model": "nextgpt", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": png}}]}],
            "force_outputs": ["image"], "image_options": {"num_inference_steps": 2, "guidance_scale": 7.5, "width": 64, "height": 64},
            "media_format": "data_url"},
        "chat-jpeg-audio.json": {"messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": jpeg}},
            {"type": "input_audio", "input_audio": {"data": base64.b64encode(wav).decode(), "format": "wav"}},
            {"type": "text", "text": "Describe both."}]}],
            "audio_options": {"num_inference_steps": 3, "audio_length_in_s": 1.0, "scheduler": "ddim"}, "max_completion_tokens": 16},
        "chat-video.json": {"messages": [{"role": "user", "content": [
            {"type": "video_url", "video_url": {"url": mp4}}, {"type": "text", "text": "And this?"}]}],
            "video_options": {"num_frames": 4, "num_inference_steps": 2, "width": 64, "height": 64}, "video_fps": 4,
            "force_outputs": ["video", "audio"]},
        "images.json": {"model": "sd15", "prompt": "a red fox", "n": 2, "size": "64x64", "response_format": "b64_json",
                        "steps": 2, "negative_prompt": "blurry", "guidance_scale": 7.5, "seed": 1, "scheduler": "euler-a"},
        "audio.json": {"prompt": "rain on a roof", "seconds": 1.5, "num_inference_steps": 2, "seed": 4},
        "videos.json": {"prompt": "waves", "frames": 4, "fps": 8, "size": "64x64", "num_inference_steps": 2},
    }


def main():
    made = []

    def target(name):
        folder = os.path.join(CORPUS, name)
        os.makedirs(folder, exist_ok=True)
        return folder

    bundles = target("reference-bundle")
    ops = os.path.join(FIXTURES, "references", "bundles", "ops.safetensors")
    sub_bundle(ops, {"softmax_dim1"}, os.path.join(bundles, "ops-softmax.safetensors"))
    sub_bundle(ops, {"layer_norm_plain", "mlp.3", "conv_transpose1d_f16_depthwise", "attention_value_dim", "linear_q8_0", "gelu_tanh"},
               os.path.join(bundles, "ops-six.safetensors"))
    shutil.copy(os.path.join(FIXTURES, "references", "bundles", "llama", "llama-gqa-q4_0.safetensors"), bundles)

    requests = target("server")
    for name, body in server_seeds().items():
        with open(os.path.join(requests, name), "w") as f:
            json.dump(body, f, separators=(",", ":"))

    for name, sources in [("jpeg", ["images/photo420.jpg", "images/photo444.jpg", "images/gray8.png"]),
                          ("mp4", ["media/ntsc.mp4", "media/truncated.mp4", "media/audio-only.mp4", "media/clip.mp4", "media/clip.avi"])]:
        folder = target(name)
        for source in sources:
            shutil.copy(os.path.join(FIXTURES, source), folder)

    for name in ["reference-bundle", "server", "jpeg", "mp4"]:
        folder = os.path.join(CORPUS, name)
        for file in sorted(os.listdir(folder)):
            size = os.path.getsize(os.path.join(folder, file))
            assert size < LIMIT, f"{name}/{file} is {size} bytes"
            made.append((name, file, size))
    for name, file, size in made:
        print(f"{name}/{file}: {size} bytes")


if __name__ == "__main__":
    main()
