"""NExT-GPT's prompt chunking (prepare_generation_embedding, NEXTGPT.md §1.4) on sample prompts
→ Tests/Fixtures/references/nextgpt-prompt-cases.json. The chunking below is upstream's logic:
`re.split(r' <|> ', prompt + '\\n### Assistant:')`, chunks starting with `Image>`/`Audio>`/`Video>`
are media with paths `re.findall(r'Image>(.*?)<\\/Image', chunk)`; a media chunk whose findall is empty
(upstream then crashes in torch.cat, issue #73) is recorded as text, our documented choice.
Upstream's split eats the space before a second tag (`</Image> <Audio>` splits at `> `), so that
tag stays text; `every_tag_segments` records the runtime's option that reads it as media too.

    python3 tools/references/make_prompt_cases.py
"""
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def first_turn(text, image=None, audio=None, video=None):
    # demo_app.py's first turn
    prompt = "### Human: "
    if image:
        prompt += f"<Image>{image}</Image> "
    if audio:
        prompt += f"<Audio>{audio}</Audio> "
    if video:
        prompt += f"<Video>{video}</Video> "
    return prompt + " " + text


def segments(prompt, every_tag=False):
    out = []
    for chunk in re.split(r' <|> ', prompt + '\n### Assistant:'):
        media = None
        for kind in ("Image", "Audio", "Video"):
            # every_tag: also a chunk that keeps its '<' because the previous split ate the space.
            body = chunk[1:] if every_tag and chunk.startswith("<" + kind + ">") else chunk
            if body.startswith(kind + ">"):
                paths = re.findall(kind + r'>(.*?)<\/' + kind, body)
                if paths:
                    media = {"media": kind, "paths": paths}
                break
        out.append(media or {"text": chunk})
    return out


def main():
    prompts = [
        first_turn("describe it", image="cat.png"),
        first_turn("what do you hear?", audio="dog.wav"),
        first_turn("and this?", video="clip.mp4"),
        first_turn("compare them", image="a.png", audio="b.wav", video="c.mp4"),
        first_turn("show me a cat"),
        "### Human: <Image>a.png</Image><Image>b.png</Image> both",
        "### Human: <Image>a.png</Image> <Image>b.png</Image>  two tags",
        "### Human: is 3 > 2 and 1 < 4? <b>bold</b> x <Image> y",
        "### Human: <Image>no close tag  text",
        "### Human: <Image>a\nb</Image> newline in path",
        "### Human: <Audio>x.wav</Audio> ends right there",
        "",
        " <",
        "> ",
        "### Human: héllo <Video>vidéo.mp4</Video>  ünïcode 🎉",
    ]
    cases = [{"prompt": p, "segments": segments(p), "every_tag_segments": segments(p, every_tag=True)} for p in prompts]
    out = ROOT / "Tests/Fixtures/references/nextgpt-prompt-cases.json"
    out.write_text(json.dumps({"made_by": "tools/references/make_prompt_cases.py", "cases": cases}, ensure_ascii=False, indent=1) + "\n")
    print(f"{len(cases)} cases → {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
