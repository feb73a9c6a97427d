#!/usr/bin/env python3
"""Reference ids of transformers' slow `CLIPTokenizer` (the one diffusers' StableDiffusionPipeline
loaded with transformers 4.x) for hundreds of strings, on three CLIP-format vocabularies:
Tests/Fixtures/sd15/tokenizer (pad `<|endoftext|>`), Tests/Fixtures/zeroscope/tokenizer (pad `!`,
which the slow tokenizer then also splits out of the text as a special token) and
Tests/Fixtures/clip-bpe-4k (a few thousand merges, tools/fixtures/make_clip_bpe_4k.py).
Writes Tests/Fixtures/references/clip_tokenizer_cases.json:

    {"tokenizers": {name: folder}, "cases": [{"tokenizer", "text", "ids", "padded"}]}

`ids` = tokenizer(text).input_ids (BOS + tokens + EOS, no truncation); `padded` = tokenizer(text,
padding="max_length", max_length=tokenizer.model_max_length, truncation=True).input_ids.

The slow tokenizer exists only in transformers < 5 (5.x's `CLIPTokenizer` is the `tokenizers`
backed one, which normalizes differently: no control-character removal, no spaces around CJK
ideographs). ftfy is hidden, so the tokenizer takes its no-ftfy path (BasicTokenizer clean-up).
Run in a venv with transformers 4.46:

    python -m venv --system-site-packages /tmp/venv-tf4
    /tmp/venv-tf4/bin/pip install "transformers==4.46.3" "tokenizers<0.21" "huggingface_hub<1.0"
    /tmp/venv-tf4/bin/python tools/references/clip_tokenizer_cases.py
"""

import json
import os
import random
import sys

sys.modules["ftfy"] = None  # the no-ftfy path: `import ftfy` raises ImportError

import transformers  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
OUT = os.path.join(ROOT, "Tests", "Fixtures", "references", "clip_tokenizer_cases.json")
TOKENIZERS = {
    "sd15": "Tests/Fixtures/sd15/tokenizer",
    "zeroscope": "Tests/Fixtures/zeroscope/tokenizer",
    "clip-bpe-4k": "Tests/Fixtures/clip-bpe-4k",
}

EDGE_CASES = [
    "", " ", "   ", "\n", "\t\n  \r\n", "a", "A", "!", "!!", "!!!", "?!", "...", "a.", "a,b", "a , b",
    "a photograph of an astronaut riding a horse",
    "A Photograph Of An Astronaut Riding A Horse On The Moon, Highly Detailed, 8K, Trending On ArtStation",
    "masterpiece, best quality, (ultra-detailed:1.2), [cinematic lighting], {soft focus}",
    "it's a dog's life, isn't it? we're here, they've gone, I'm sure you'll see, he'd know",
    "IT'S LOUD! WE'RE HERE. THEY'VE GONE. I'M OK. YOU'LL SEE. HE'D GO.", "'s 't 're 've 'm 'll 'd", "''s", "'S", "rock'n'roll",
    "don’t stop — it’s “quoted” text…", "l'été à Paris", "naïve café résumé", "Ünïcödé ÄÖÜ ß ẞ", "Ελληνικά ΟΔΟΣ Σίσυφος",
    "Русский текст", "עברית", "العربية", "हिन्दी", "ไทย", "한국어 텍스트", "日本語のテキスト", "カタカナ", "中文文本测试",
    "中文,英文 mixed漢字text", "𠀀𠀁 (CJK ext B)", "龍 龍 兀", "emoji 🙂 😀😃 👍🏽 👨‍👩‍👧 ❤️ 🇫🇷", "🙂", "a🙂b",
    "numbers 0 1 12 123 1234567890 3.14159 -42 +7 1e10 1,000,000", "١٢٣ ٤٥٦", "½ ² ³ Ⅻ ⅷ", "０１２ ＡＢＣ",
    "tab\tseparated\tvalues", "line one\nline two\r\nline three", "multiple     spaces    here",
    "  leading and trailing  ", "non\u00a0breaking\u2003em\u3000ideographic spaces", "line\u2028separator\u2029para",
    "zero\u200bwidth\u200djoiner\u00adsoft", "control\x00chars\x07here\x1f\x7f\x85", "replacement \ufffd char", "private \ue000 use",
    "combining e\u0301 a\u0308 n\u0303", "decomposed Cafe\u0301 vs café", "ﬁ ligature ﬂ", "İstanbul", "ǅ ǈ ǋ titlecase",
    "<|startoftext|>", "<|endoftext|>", "a <|endoftext|> b", "x<|endoftext|>y", "!<|endoftext|>!", "<|STARTOFTEXT|> upper",
    "<|startoftext|>hello<|endoftext|>", "<|endoftext", "|endoftext|>", "<|unknown|>", "<s> </s> [CLS] <unk>",
    "http://example.com/path?q=1&x=2#frag", "user@example.com", "C++ and C# and F#", "snake_case camelCase kebab-case",
    "$100 €50 £20 ¥1000 ₹500", "100% (half) [brackets] {braces} <angles>", "a—b–c-d", "«guillemets» „Anführung“",
    "~`^|\\/@#$%&*=+", "word" * 30, "supercalifragilisticexpialidocious", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    " ".join(["long"] * 100), ", ".join(["a castle on a hill at dawn"] * 12),
    "a" + "!" * 80, "1 2 3 4 5 6 7 8 9 0 " * 10,
]

POOL = (list("abcdefghijklmnopqrstuvwxyz") * 4 + list("ABCDEFGHIJKLMNOPQRSTUVWXYZ") + list("0123456789") * 2
        + list(" " * 20) + list(".,;:!?'\"-()[]{}<>/\\@#$%^&*_+=|~`") + list("éèêëàâäôöûüçñßøåæœ")
        + list("ÉÀÖÜÇÑ") + list("中文字日本語한국") + ["🙂", "👍", "❤️", "🔥", "\n", "\t", "’", "—", "…", "\u00a0", "\u200d"]
        + ["'s", "'t", "'re", "'ll", "<|endoftext|>", "<|startoftext|>"])


def generated_cases(rng, count):
    lines = []
    for name in ["spm-corpus.txt", "corpus.txt"]:
        with open(os.path.join(ROOT, "tools", "fixtures", name), encoding="utf-8") as f:
            lines += [line.strip() for line in f if line.strip()]
    cases = []
    for _ in range(count // 2):
        line = rng.choice(lines)
        words = line.split()
        start = rng.randrange(len(words))
        piece = " ".join(words[start:start + rng.randint(1, 40)])
        mode = rng.randrange(4)
        if mode == 1:
            piece = piece.upper()
        elif mode == 2:
            piece = piece.title()
        elif mode == 3:
            piece = "".join(c.upper() if rng.random() < 0.3 else c for c in piece)
        cases.append(piece)
    while len(cases) < count:
        cases.append("".join(rng.choice(POOL) for _ in range(rng.randint(1, 60))))
    return cases


def main():
    from transformers import CLIPTokenizer
    assert int(transformers.__version__.split(".")[0]) < 5, "needs the slow CLIPTokenizer of transformers < 5"
    rng = random.Random(20261123)
    texts = EDGE_CASES + generated_cases(rng, 360)
    cases = []
    for name, folder in TOKENIZERS.items():
        tokenizer = CLIPTokenizer.from_pretrained(os.path.join(ROOT, folder))
        assert tokenizer.fix_text is None
        # Every vocabulary gets the edge cases; the generated strings go to the 4k one, whose merges
        # make realistic multi-piece words, and a third of them to each small fixture.
        chosen = texts if name == "clip-bpe-4k" else EDGE_CASES + texts[len(EDGE_CASES)::3]
        for text in chosen:
            ids = tokenizer(text).input_ids
            padded = tokenizer(text, padding="max_length", max_length=tokenizer.model_max_length, truncation=True).input_ids
            cases.append({"tokenizer": name, "text": text, "ids": ids, "padded": padded})
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump({"transformers": transformers.__version__, "tokenizers": TOKENIZERS, "cases": cases}, f,
                  ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    print(f"{OUT}: {len(cases)} cases")


if __name__ == "__main__":
    main()
