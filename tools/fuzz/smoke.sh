#!/usr/bin/env bash
# A short smoke of every fuzz target (SECONDS each, default 5) and the malicious-pickle corpus
# through the CLI. Kept out of tools/test.sh by default (NEXTGPT_FUZZ_SMOKE=1 runs a 4 s smoke
# there): the fuzz package's cold builds with sanitizers took 27.6 min (release) and 19.7 min
# (debug, FUZZ_CONFIGURATION=debug) on the shared 2-core machine (fuzz/README.md).
# Usage: tools/fuzz/smoke.sh [SECONDS]
set -uo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-5}
status=0
tools/fuzz/run.sh --build || exit 1
for target in $(tools/fuzz/run.sh --list); do
  tools/fuzz/run.sh "$target" "$seconds" 2>/dev/null | tail -1 || status=1
done
swift build --product nextgpt 2>&1 | tail -1
tools/hardening/pickle_corpus.sh .build/debug/nextgpt || status=1
exit $status
