#!/usr/bin/env bash
# A short smoke of every fuzz target (SECONDS each, default 5) and the malicious-pickle corpus
# through the CLI. Kept out of tools/test.sh: the fuzz package's cold release build with
# sanitizers takes ~15 min on a 2-core machine (fuzz/README.md).
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
