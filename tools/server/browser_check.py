"""The chat page in a real browser: headless Chromium (Debian's `chromium`) driven over the
Chrome DevTools protocol uploads an image, sends a prompt asking for a picture and a sound, waits
for the streamed reply with its image and audio player, and saves a screenshot.

    apt-get install -y chromium; tools/.venv/bin/pip install websocket-client
    tools/.venv/bin/python tools/server/browser_check.py      # → tools/server/out/browser-check.png

Exits non-zero if the page does not show the reply, an image and an audio player.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import websocket  # websocket-client

from tiny_server import FIXTURES, OUT, free_port, serve


class DevTools:
    def __init__(self, url):
        self.ws = websocket.create_connection(url, timeout=60, suppress_origin=True)
        self.next_id = 0

    def __call__(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def js(self, expression):
        result = self("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait(self, expression, timeout, what):
        deadline = time.time() + timeout
        while time.time() < deadline:
            value = self.js(expression)
            if value:
                return value
            time.sleep(0.2)
        raise TimeoutError(f"timed out waiting for {what}")


def main():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        sys.exit("install Debian's chromium: apt-get install -y chromium")
    image = os.path.join(FIXTURES, "images", "photo420.jpg")
    screenshot = os.path.join(OUT, "browser-check.png")
    with serve() as (base, _), tempfile.TemporaryDirectory() as profile:
        port = free_port()
        browser = subprocess.Popen([chromium, "--headless=new", "--no-sandbox", "--disable-gpu", f"--remote-debugging-port={port}",
                                    f"--user-data-dir={profile}", "--window-size=1280,900", "about:blank"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(100):
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json", timeout=1) as r:
                        pages = [t for t in json.load(r) if t["type"] == "page"]
                    if pages:
                        break
                except OSError:
                    pass
                time.sleep(0.1)
            tab = DevTools(pages[0]["webSocketDebuggerUrl"])
            tab("Page.enable")
            tab("Emulation.setDeviceMetricsOverride", width=1280, height=900, deviceScaleFactor=1, mobile=False)
            tab("Page.navigate", url=base + "/")
            tab.wait("document.readyState === 'complete' && document.getElementById('status').textContent.includes('out')", 30, "the page")
            # Per-turn settings, as a person would set them: small sizes and few steps for the tiny model.
            tab.js("""(() => {
                const set = (id, v) => { const el = document.getElementById(id); el.value = v; };
                document.getElementById('force_image').checked = true;
                document.getElementById('force_audio').checked = true;
                set('max_tokens', 16); set('image_steps', 4); set('image_size', '64x64');
                set('audio_steps', 4); set('audio_seconds', 1);
            })()""")
            # The upload, through the file input as a person's file picker fills it.
            document = tab("DOM.getDocument")
            node = tab("DOM.querySelector", nodeId=document["root"]["nodeId"], selector="#file")
            tab("DOM.setFileInputFiles", nodeId=node["nodeId"], files=[image])
            tab.wait("document.querySelectorAll('#attachments .chip').length === 1", 10, "the attachment")
            tab.js("""(() => {
                document.getElementById('prompt').value = 'What is in this picture? Draw it and let me hear it.';
                document.getElementById('composer').requestSubmit();
            })()""")
            reply = ".msg.assistant"
            done = tab.wait(f"(() => {{ const m = document.querySelector('{reply}'); return m && m.dataset.done; }})()", 300, "the reply")
            if done != "true":
                raise RuntimeError("the reply failed: " + tab.js(f"document.querySelector('{reply}').innerText"))
            tab.wait(f"""(() => {{ const img = document.querySelector('{reply} img');
                return img && img.complete && img.naturalWidth > 0 && document.querySelector('{reply} audio') !== null; }})()""",
                     30, "the image and the audio player")
            tab.wait(f"document.querySelector('{reply} audio').readyState >= 1", 30, "the audio to load")
            state = tab.js(f"""(() => {{
                const reply = document.querySelector('{reply}');
                return {{ userImage: !!document.querySelector('.msg.user img'), text: reply.querySelector('.text').textContent,
                         image: reply.querySelector('img').naturalWidth + 'x' + reply.querySelector('img').naturalHeight,
                         audioSeconds: reply.querySelector('audio').duration, video: !!reply.querySelector('video') }};
            }})()""")
            shot = tab("Page.captureScreenshot", format="png")
            import base64
            with open(screenshot, "wb") as f:
                f.write(base64.b64decode(shot["data"]))
            print(json.dumps(state, ensure_ascii=False))
            print(f"screenshot: {screenshot}")
            if not (state["userImage"] and state["image"] == "64x64" and state["audioSeconds"] > 0):
                sys.exit("the page does not show the uploaded image, the returned image and the audio")
        finally:
            browser.terminate()
            browser.wait(timeout=30)


if __name__ == "__main__":
    main()
