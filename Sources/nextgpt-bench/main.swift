print("nextgpt-bench: kernel benchmarks (see tools/bench)")
