#!/usr/bin/env bash
# Installs the Debian packages the Swift package links against, when any is missing.
set -euo pipefail
packages=(pkg-config libopenblas-dev libzstd-dev libpng-dev libsndfile1-dev
          libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libswresample-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
