#!/usr/bin/env bash
# The test command (README, CI): installs what the build needs, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
swift build --build-tests
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
swift test --skip-build --disable-swift-testing 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One plain closing line with the XCTest totals.
# XCTest's last line: "Executed N tests, with [K tests skipped and] M failures ...".
summary=$(grep -E "^[[:space:]]*Executed [0-9]+ tests?, with " "$log" | tail -1)
if [ -n "$summary" ]; then
  executed=$(echo "$summary" | sed -E 's/.*Executed ([0-9]+) tests?.*/\1/')
  failed=$(echo "$summary" | sed -E 's/.* ([0-9]+) failures?.*/\1/')
  skipped=$(echo "$summary" | grep -oE '[0-9]+ tests? skipped' | grep -oE '^[0-9]+' || echo 0)
  echo "$((executed - failed - skipped)) passed, $failed failed, $skipped skipped"
fi
exit "$status"
