#!/usr/bin/env bash
# Feeds every malicious-pickle payload (Tests/Fixtures/malicious-pickles, zip and legacy forms)
# to `nextgpt convert --delta` and `--imagebind`: each run must fail naming the refused global or
# opcode (manifest.tsv), write no container, and create no /tmp/nextgpt-pickle-marker-* file.
# Prints one summary line: "pickle corpus: R/N refused, M markers, W outputs written", and keeps
# it with the date in tools/hardening/results/pickle.txt (read by report.sh).
# Usage: tools/hardening/pickle_corpus.sh [path/to/nextgpt]   (default: .build/debug/nextgpt)
set -uo pipefail
cd "$(dirname "$0")/../.."
bin=${1:-.build/debug/nextgpt}
[ -x "$bin" ] || { echo "no $bin: swift build --product nextgpt first" >&2; exit 2; }
corpus=Tests/Fixtures/malicious-pickles
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rm -rf /tmp/nextgpt-pickle-marker-*
runs=0 refused=0 written=0
while IFS=$'\t' read -r name zipext refusal _live _desc; do
  case "$name" in '#'*|'') continue ;; esac
  for file in "$corpus/$name$zipext" "$corpus/$name.legacy.pt"; do
    for flag in --delta --imagebind; do
      runs=$((runs + 1))
      out="$work/out.gguf"
      if "$bin" convert "$flag" "$file" --no-negatives --no-source-hash -o "$out" >"$work/log" 2>&1; then
        echo "ACCEPTED: $flag $file" >&2
      elif grep -qF -- "$refusal" "$work/log"; then
        refused=$((refused + 1))
      else
        echo "wrong error for $flag $file (expected '$refusal'):" >&2; cat "$work/log" >&2
      fi
      if ls -A "$work" | grep -q "out.gguf"; then written=$((written + 1)); rm -f "$work"/*out.gguf* "$work"/.out.gguf*; fi
    done
  done
done < "$corpus/manifest.tsv"
markers=$(compgen -G "/tmp/nextgpt-pickle-marker-*" | wc -l)
payloads=$(grep -vc '^#' "$corpus/manifest.tsv")
summary="pickle corpus: $payloads payloads, $refused/$runs convert runs refused naming the global or opcode, $markers markers, $written outputs written"
mkdir -p tools/hardening/results
printf '%s\n%s\n' "# $(date -u +%FT%TZ) $bin" "$summary" >tools/hardening/results/pickle.txt
echo "$summary"
[ "$refused" -eq "$runs" ] && [ "$markers" -eq 0 ] && [ "$written" -eq 0 ]
