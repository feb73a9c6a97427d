"""The official OpenAI Python client against `nextgpt serve`: a chat with an image (whole and
streamed), the model list, and an image generation, on the tiny container.

    tools/.venv/bin/pip install openai
    tools/.venv/bin/python tools/server/openai_check.py
"""
import base64
import os
import sys

from openai import OpenAI

from tiny_server import FIXTURES, serve


def main():
    with open(os.path.join(FIXTURES, "images", "photo420.jpg"), "rb") as f:
        image = "data:image/jpeg;base64," + base64.b64encode(f.read()).decode()
    with serve("--api-key", "local-key") as (base, _):
        client = OpenAI(base_url=base + "/v1", api_key="local-key")
        models = [m.id for m in client.models.list()]
        print("models:", models)

        messages = [{"role": "user", "content": [
            {"type": "text", "text": "What is in this picture? Draw it."},
            {"type": "image_url", "image_url": {"url": image}},
        ]}]
        # NExT-GPT's own fields travel in extra_body (the client sends them as top-level JSON).
        extra = {"top_k": 50, "force_outputs": ["image"], "image_options": {"num_inference_steps": 4, "height": 64, "width": 64}}
        reply = client.chat.completions.create(model="nextgpt", messages=messages, max_tokens=16, temperature=1.0, top_p=0.01,
                                               extra_body=extra)
        message = reply.choices[0].message
        media = (message.model_extra or {}).get("media", [])
        print("reply:", repr(message.content), "finish:", reply.choices[0].finish_reason, "usage:", reply.usage.model_dump())
        print("media:", [(m["type"], m["url"]) for m in media])

        pieces = []
        final_media = []
        for chunk in client.chat.completions.create(model="nextgpt", messages=messages, max_tokens=16, stream=True, extra_body=extra):
            delta = chunk.choices[0].delta
            if delta.content:
                pieces.append(delta.content)
            final_media += (delta.model_extra or {}).get("media", [])
        print(f"streamed: {len(pieces)} pieces, same text as the whole reply: {''.join(pieces) == message.content}, media: {len(final_media)}")

        images = client.images.generate(model="sd15", prompt="a red fox in the snow", size="64x64", n=1,
                                        response_format="b64_json", extra_body={"steps": 4, "seed": 1})
        print("images.generate:", len(base64.b64decode(images.data[0].b64_json)), "bytes of PNG")

        ok = "nextgpt" in models and message.content is not None and [m["type"] for m in media] == ["image"] \
            and "".join(pieces) == message.content and len(final_media) == 1
        print("OK" if ok else "FAILED")
        sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
