#!/usr/bin/env python3
"""Reference ids of transformers' RobertaTokenizer (5.x: the `tokenizers`-backed one, as
RobertaTokenizerFast, which AudioLDM's pipeline loads) on Tests/Fixtures/audioldm/tokenizer, for
the edge cases and generated strings of clip_tokenizer_cases.py plus RoBERTa's own
(`<mask>` with the whitespace before it, case-sensitive contractions, whitespace runs). Writes
Tests/Fixtures/references/roberta_tokenizer_cases.json:

    {"tokenizer": folder, "cases": [{"text", "ids", "short", "short_mask"}]}

`ids` = tokenizer(text).input_ids; `short` / `short_mask` = tokenizer(text, padding="max_length",
max_length=16, truncation=True) input_ids / attention_mask.

    tools/.venv/bin/python tools/references/roberta_tokenizer_cases.py
"""

import json
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
from clip_tokenizer_cases import EDGE_CASES, generated_cases  # noqa: E402

import transformers  # noqa: E402

FOLDER = "Tests/Fixtures/audioldm/tokenizer"
OUT = os.path.join(ROOT, "Tests", "Fixtures", "references", "roberta_tokenizer_cases.json")
ROBERTA_CASES = [
    "<mask>", " <mask>", "a <mask>", "a  \t<mask> b", "a<mask>b", "<mask> x", "x <mask>", "<mask><mask>", "\u3000<mask>",
    "<s>", "</s>", "<pad>", "<unk>", "a<s>b</s>c", "<S>", "< mask>", "<mask", "mask>",
    "I'm", "I'M", "you'RE", "'s'", "''", "' s", "don't'll've", "x's's", "'", "'re'", "  'll",
    "a  b", "a   b", "a \n b", "a\n\nb", "  ", " \t ", "a ", "a  ", " a", "  a", "\ta", "a\t", "\u00a0a", "a\u00a0b", "a \u00a0b",
    "1 23 456", " 12a", "a1", "½x", "٣٤", "A1B2", "x-y_z", " !?", "!? ", "a ,b", "é", "e\u0301", "ﬁ", "İ",
]


def main():
    from transformers import RobertaTokenizer
    tokenizer = RobertaTokenizer.from_pretrained(os.path.join(ROOT, FOLDER))
    rng = random.Random(20261204)
    texts = list(dict.fromkeys(ROBERTA_CASES + EDGE_CASES + generated_cases(rng, 300)))
    cases = []
    for text in texts:
        short = tokenizer(text, padding="max_length", max_length=16, truncation=True)
        cases.append({"text": text, "ids": tokenizer(text).input_ids, "short": short.input_ids, "short_mask": short.attention_mask})
    with open(OUT, "w", encoding="utf-8") as f:
        json.dump({"transformers": transformers.__version__, "tokenizer": FOLDER, "cases": cases}, f,
                  ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    print(f"{OUT}: {len(cases)} cases")


if __name__ == "__main__":
    main()
