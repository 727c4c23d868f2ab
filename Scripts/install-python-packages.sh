#!/usr/bin/env bash
# Installs the Python packages the tests use, when any is missing: nbformat (Jupyter's own
# validator checks every notebook the runner writes) and safetensors with numpy (a checkpoint
# written by Python's safetensors must load). Idempotent; fails if they still cannot be imported.
set -euo pipefail
importable() { python3 -c "import $1" 2>/dev/null; }
missing=()
importable nbformat || missing+=(nbformat)
importable safetensors.numpy || missing+=(safetensors)
importable numpy || missing+=(numpy)
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
echo "installing (pip): ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
if ! python3 -m pip --version >/dev/null 2>&1; then
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-pip >/dev/null
fi
# A Python whose packages the system manages (Debian's) needs --break-system-packages.
python3 -m pip install -q "${missing[@]}" 2>/dev/null ||
  python3 -m pip install -q --break-system-packages "${missing[@]}"
for module in nbformat safetensors.numpy numpy; do
  importable "$module" || { echo "python3 cannot import $module after installing it" >&2; exit 1; }
done
