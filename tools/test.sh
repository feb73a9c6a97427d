#!/usr/bin/env bash
# The test command (README, CI): installs what the build needs, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
swift build --build-tests
swift test --skip-build
