/// The chat page served at `/`: plain HTML and JavaScript, no build step, nothing fetched from
/// elsewhere. It speaks the same `/v1/chat/completions` stream as any client.
enum WebPage {
    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>NExT-GPT</title>
<style>
  :root { --bg: #f6f7f9; --card: #fff; --line: #d9dde3; --ink: #1d2330; --muted: #6b7280; --accent: #2456d6; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 15px/1.45 system-ui, sans-serif; color: var(--ink); background: var(--bg); display: flex; height: 100vh; }
  main { flex: 1; display: flex; flex-direction: column; min-width: 0; }
  header { padding: 10px 16px; border-bottom: 1px solid var(--line); background: var(--card); display: flex; gap: 12px; align-items: center; }
  header h1 { font-size: 17px; margin: 0; }
  #status { color: var(--muted); font-size: 13px; }
  #log { flex: 1; overflow-y: auto; padding: 16px; display: flex; flex-direction: column; gap: 12px; }
  .msg { max-width: 760px; padding: 10px 14px; border-radius: 10px; background: var(--card); border: 1px solid var(--line); white-space: pre-wrap; overflow-wrap: anywhere; }
  .user { align-self: flex-end; background: #e8efff; border-color: #c7d6ff; }
  .assistant { align-self: flex-start; }
  .msg img, .msg video { display: block; max-width: 320px; max-height: 240px; margin-top: 8px; border-radius: 6px; image-rendering: pixelated; min-width: 96px; }
  .msg audio { display: block; margin-top: 8px; width: 300px; }
  .progress, .error { font-size: 13px; color: var(--muted); margin-top: 6px; }
  .error { color: #b42318; }
  form { display: flex; gap: 8px; padding: 12px 16px; border-top: 1px solid var(--line); background: var(--card); align-items: flex-end; }
  textarea { flex: 1; resize: vertical; min-height: 44px; max-height: 200px; padding: 8px; font: inherit; border: 1px solid var(--line); border-radius: 8px; }
  button { font: inherit; padding: 8px 14px; border-radius: 8px; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; }
  button.secondary { background: #fff; color: var(--accent); }
  button:disabled { opacity: .5; cursor: default; }
  #attachments { display: flex; gap: 6px; padding: 0 16px 8px; background: var(--card); flex-wrap: wrap; }
  .chip { font-size: 12px; border: 1px solid var(--line); border-radius: 12px; padding: 2px 8px; background: #f1f3f6; }
  aside { width: 270px; border-left: 1px solid var(--line); background: var(--card); padding: 12px 14px; overflow-y: auto; font-size: 13px; }
  aside h2 { font-size: 14px; margin: 12px 0 6px; }
  aside label { display: flex; justify-content: space-between; align-items: center; gap: 8px; margin: 4px 0; }
  aside input[type=number], aside input[type=text], aside input[type=password] { width: 110px; padding: 3px 5px; border: 1px solid var(--line); border-radius: 5px; font: inherit; }
</style>
</head>
<body>
<main>
  <header><h1>NExT-GPT</h1><span id="status">connecting…</span></header>
  <div id="log" aria-live="polite"></div>
  <div id="attachments"></div>
  <form id="composer">
    <input type="file" id="file" accept="image/*,audio/*,video/*" multiple hidden>
    <button type="button" class="secondary" id="attach" title="Attach an image, audio or video">Attach</button>
    <textarea id="prompt" placeholder="Ask about a picture, a sound or a video; ask for one back…"></textarea>
    <button type="submit" id="send">Send</button>
    <button type="button" class="secondary" id="stop" disabled>Stop</button>
  </form>
</main>
<aside>
  <h2>Server</h2>
  <label>API key <input type="password" id="apikey" autocomplete="off"></label>
  <h2>Reply</h2>
  <label>Max tokens <input type="number" id="max_tokens" min="1" placeholder="auto"></label>
  <label>Temperature <input type="number" id="temperature" step="0.1" min="0" max="2" placeholder="1.0"></label>
  <label>Top p <input type="number" id="top_p" step="0.01" min="0.01" max="1" placeholder="0.01"></label>
  <label>Seed <input type="number" id="seed" min="0" placeholder="0"></label>
  <h2>Always produce</h2>
  <label><span>Image</span><input type="checkbox" id="force_image"></label>
  <label><span>Audio</span><input type="checkbox" id="force_audio"></label>
  <label><span>Video</span><input type="checkbox" id="force_video"></label>
  <h2>Image</h2>
  <label>Steps <input type="number" id="image_steps" min="1" placeholder="50"></label>
  <label>Guidance <input type="number" id="image_guidance" step="0.5" placeholder="7.5"></label>
  <label>Seed <input type="number" id="image_seed" min="0" placeholder="13"></label>
  <label>Size <input type="text" id="image_size" placeholder="512x512"></label>
  <h2>Audio</h2>
  <label>Steps <input type="number" id="audio_steps" min="1" placeholder="50"></label>
  <label>Seconds <input type="number" id="audio_seconds" step="0.5" min="0.1" placeholder="9"></label>
  <h2>Video</h2>
  <label>Steps <input type="number" id="video_steps" min="1" placeholder="50"></label>
  <label>Frames <input type="number" id="video_frames" min="1" placeholder="24"></label>
  <label>FPS <input type="number" id="video_fps" min="1" placeholder="8"></label>
  <label>Size <input type="text" id="video_size" placeholder="576x320"></label>
</aside>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const log = $("log");
const history = [];        // OpenAI messages sent so far
let attachments = [];      // {kind, name, url}
let controller = null;

$("apikey").value = localStorage.getItem("nextgpt.apikey") || "";
$("apikey").addEventListener("change", () => localStorage.setItem("nextgpt.apikey", $("apikey").value));

function headers() {
  const h = { "Content-Type": "application/json" };
  if ($("apikey").value) h.Authorization = "Bearer " + $("apikey").value;
  return h;
}

async function loadModels() {
  try {
    const r = await fetch("/v1/models", { headers: headers() });
    const body = await r.json();
    if (!r.ok) throw new Error(body.error ? body.error.message : r.statusText);
    const chat = body.data.find((m) => m.endpoint === "chat");
    $("status").textContent = chat
      ? `${chat.id}: in ${(chat.inputs || ["text"]).join(", ")} · out ${(chat.outputs || ["text"]).join(", ")}`
      : "this container does not chat (" + body.data.map((m) => m.id).join(", ") + ")";
    for (const kind of ["image", "audio", "video"]) {
      const box = $("force_" + kind);
      box.disabled = !(chat && (chat.outputs || []).includes(kind));
    }
  } catch (e) { $("status").textContent = "server: " + e.message; }
}

function mediaElement(kind, url) {
  const el = document.createElement(kind === "image" ? "img" : kind);
  el.src = url;
  if (kind !== "image") el.controls = true;
  if (kind === "image") el.alt = "image";
  el.dataset.kind = kind;
  return el;
}

function addMessage(role, text, media) {
  const div = document.createElement("div");
  div.className = "msg " + role;
  const body = document.createElement("span");
  body.className = "text";
  body.textContent = text;
  div.appendChild(body);
  for (const m of media || []) div.appendChild(mediaElement(m.kind, m.url));
  log.appendChild(div);
  log.scrollTop = log.scrollHeight;
  return div;
}

function kindOf(file) {
  const type = file.type.split("/")[0];
  return ["image", "audio", "video"].includes(type) ? type : null;
}

function readAsDataURL(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

async function attachFiles(files) {
  for (const file of files) {
    const kind = kindOf(file);
    if (!kind) { alert(file.name + ": not an image, audio or video"); continue; }
    attachments.push({ kind, name: file.name, url: await readAsDataURL(file) });
  }
  renderAttachments();
}

function renderAttachments() {
  const box = $("attachments");
  box.innerHTML = "";
  attachments.forEach((a, i) => {
    const chip = document.createElement("span");
    chip.className = "chip";
    chip.textContent = `${a.kind}: ${a.name} ✕`;
    chip.title = "remove";
    chip.onclick = () => { attachments.splice(i, 1); renderAttachments(); };
    box.appendChild(chip);
  });
}

$("attach").onclick = () => $("file").click();
$("file").onchange = (e) => { attachFiles(e.target.files); e.target.value = ""; };

function number(id) { const v = $(id).value; return v === "" ? undefined : Number(v); }
function size(id) {
  const m = /^(\d+)\s*x\s*(\d+)$/i.exec($(id).value.trim());
  return m ? { width: Number(m[1]), height: Number(m[2]) } : {};
}
function clean(o) { for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k]; return o; }

function settings() {
  const force = ["image", "audio", "video"].filter((k) => $("force_" + k).checked && !$("force_" + k).disabled);
  return clean({
    max_tokens: number("max_tokens"), temperature: number("temperature"), top_p: number("top_p"), seed: number("seed"),
    force_outputs: force.length ? force : undefined,
    image_options: clean({ num_inference_steps: number("image_steps"), guidance_scale: number("image_guidance"), seed: number("image_seed"), ...size("image_size") }),
    audio_options: clean({ num_inference_steps: number("audio_steps"), audio_length_in_s: number("audio_seconds") }),
    video_options: clean({ num_inference_steps: number("video_steps"), num_frames: number("video_frames"), ...size("video_size") }),
    video_fps: number("video_fps"),
  });
}

function partFor(a) {
  if (a.kind === "image") return { type: "image_url", image_url: { url: a.url } };
  if (a.kind === "video") return { type: "video_url", video_url: { url: a.url } };
  const m = /^data:audio\/([^;]+);base64,(.*)$/.exec(a.url);
  return m ? { type: "input_audio", input_audio: { data: m[2], format: m[1] } } : { type: "audio_url", audio_url: { url: a.url } };
}

async function send(text) {
  const content = [{ type: "text", text }, ...attachments.map(partFor)];
  addMessage("user", text, attachments.map((a) => ({ kind: a.kind, url: a.url })));
  history.push({ role: "user", content });
  attachments = [];
  renderAttachments();

  const reply = addMessage("assistant", "", []);
  const textSpan = reply.querySelector(".text");
  const progress = document.createElement("div");
  progress.className = "progress";
  reply.appendChild(progress);
  controller = new AbortController();
  $("send").disabled = true; $("stop").disabled = false;
  let answer = "";
  try {
    const r = await fetch("/v1/chat/completions", {
      method: "POST", headers: headers(), signal: controller.signal,
      body: JSON.stringify({ model: undefined, messages: history, stream: true, ...settings() }),
    });
    if (!r.ok) {
      const body = await r.json().catch(() => ({}));
      throw new Error(body.error ? `${body.error.param ? body.error.param + ": " : ""}${body.error.message}` : r.statusText);
    }
    const reader = r.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        if (event.startsWith(": progress ")) { progress.textContent = event.slice(11); continue; }
        if (!event.startsWith("data: ")) continue;
        const data = event.slice(6);
        if (data === "[DONE]") continue;
        const chunk = JSON.parse(data);
        if (chunk.error) throw new Error(chunk.error.message);
        const choice = chunk.choices[0];
        if (choice.delta.content) { answer += choice.delta.content; textSpan.textContent = answer; }
        for (const m of choice.delta.media || []) reply.appendChild(mediaElement(m.type, m.url));
        if (choice.finish_reason) progress.textContent = "";
        log.scrollTop = log.scrollHeight;
      }
    }
    history.push({ role: "assistant", content: answer });
    reply.dataset.done = "true";
  } catch (e) {
    const err = document.createElement("div");
    err.className = "error";
    err.textContent = e.name === "AbortError" ? "stopped" : e.message;
    reply.appendChild(err);
    reply.dataset.done = "error";
    history.pop();
  } finally {
    controller = null;
    $("send").disabled = false; $("stop").disabled = true;
  }
}

$("composer").onsubmit = (e) => {
  e.preventDefault();
  const text = $("prompt").value.trim();
  if (!text || controller) return;
  $("prompt").value = "";
  send(text);
};
$("prompt").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("composer").requestSubmit(); }
});
$("stop").onclick = () => controller && controller.abort();
loadModels();
</script>
</body>
</html>
"""#
}
