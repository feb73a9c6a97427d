"""Starts `nextgpt serve` on the tiny container for the server checks (browser, OpenAI client, load).

The container is converted from the committed fixtures (every component, f32) into
tools/server/out/ once; the server listens on a free loopback port and stops with the block.
"""
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OUT = os.path.join(ROOT, "tools", "server", "out")
FIXTURES = os.path.join(ROOT, "Tests", "Fixtures")


def binary():
    """The newest of the release and debug builds (NEXTGPT_BIN overrides)."""
    if os.environ.get("NEXTGPT_BIN"):
        return os.environ["NEXTGPT_BIN"]
    built = [p for p in (os.path.join(ROOT, ".build", b, "nextgpt") for b in ("release", "debug")) if os.access(p, os.X_OK)]
    if not built:
        sys.exit("build nextgpt first: swift build -c release --product nextgpt")
    return max(built, key=os.path.getmtime)


def tiny_container(nextgpt):
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, "nextgpt-tiny-f32.gguf")
    if not os.path.exists(path):
        f = FIXTURES
        subprocess.run([nextgpt, "convert", "--vicuna", f"{f}/vicuna", "--delta", f"{f}/nextgpt-delta", "--delta-lora-alpha", "16",
                        "--imagebind", f"{f}/imagebind/imagebind_huge.pth", "--sd15", f"{f}/sd15", "--audioldm", f"{f}/audioldm",
                        "--zeroscope", f"{f}/zeroscope", "--type", "f32", "-o", path], check=True, stdout=subprocess.DEVNULL)
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(*extra):
    """Yields (base URL, server process) of `nextgpt serve` on the tiny container."""
    nextgpt = binary()
    port = free_port()
    os.makedirs(OUT, exist_ok=True)
    log = open(os.path.join(OUT, "serve.log"), "w")
    process = subprocess.Popen([nextgpt, "serve", "-m", tiny_container(nextgpt), "--port", str(port), *extra],
                               stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                with urllib.request.urlopen(base + "/health", timeout=1) as r:
                    if json.load(r)["status"] == "ok":
                        break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("the server did not start; see tools/server/out/serve.log")
        yield base, process
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
