#!/usr/bin/env python3
"""llama.cpp (through llama-cpp-python built from source) measured the way `nextgpt bench`
measures our runtime: the same seeded prompt ids, prefill of each length from an empty cache,
greedy decode ignoring end-of-sequence, time to first token, peak RSS. Prints one JSON object.

    python tools/bench/llamacpp_bench.py -m model.gguf --prompt 64,512 --generate 32 --threads 2
"""

import argparse
import json
import resource
import time

import numpy as np


def seeded_ids(state, vocabulary, n):
    """Same sequence as SeededIds in Sources/nextgpt/BenchCommand.swift."""
    out = []
    mask = (1 << 64) - 1
    for _ in range(n):
        state = (state * 6364136223846793005 + 1442695040888963407) & mask
        out.append(3 + (state >> 33) % max(vocabulary - 3, 1))
    return state, out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-m", "--model", required=True)
    ap.add_argument("--prompt", default="64,512")
    ap.add_argument("--generate", type=int, default=32)
    ap.add_argument("--repetitions", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    from llama_cpp import Llama

    lengths = [int(x) for x in args.prompt.split(",")]
    t0 = time.time()
    llm = Llama(model_path=args.model, n_threads=args.threads, n_threads_batch=args.threads, n_ctx=max(lengths) + args.generate + 8,
                n_batch=max(lengths) + args.generate + 8, n_ubatch=max(lengths), logits_all=False, verbose=False, use_mmap=True)
    load = time.time() - t0
    vocab = llm.n_vocab()
    state = 42
    results = {"model": args.model, "threads": args.threads, "load_seconds": load}

    def summary(values):
        return {"best": max(values), "mean": sum(values) / len(values)}

    for length in lengths:
        rates = []
        for _ in range(args.repetitions):
            state, ids = seeded_ids(state, vocab, length)
            llm.reset()
            start = time.time()
            llm.eval(ids)
            rates.append(length / (time.time() - start))
        results[f"pp{length}"] = summary(rates)

    decode, first = [], []
    for _ in range(args.repetitions):
        state, ids = seeded_ids(state, vocab, lengths[0])
        llm.reset()
        start = time.time()
        llm.eval(ids)
        token = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        first.append(time.time() - start)
        decode_start = time.time()
        for _ in range(args.generate - 1):
            llm.eval([token])
            token = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        decode.append((args.generate - 1) / (time.time() - decode_start))
    results[f"tg{args.generate}"] = summary(decode)
    results["decode_rates"] = decode
    results["first_token_seconds"] = {"best": min(first), "mean": sum(first) / len(first)}
    results["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps(results, sort_keys=True))


if __name__ == "__main__":
    main()
