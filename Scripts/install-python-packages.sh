#!/usr/bin/env bash
# Installs the Python packages the tests use, when any is missing: nbformat (Jupyter's own
# validator checks every notebook the runner writes), safetensors with numpy (a checkpoint
# written by Python's safetensors must load), papermill and this repository's papermill engine
# (Scripts/papermill: `papermill in.ipynb out.ipynb -p x 3 --engine tessera`). Idempotent; fails
# if they still cannot be imported.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
importable() { python3 -c "import $1" 2>/dev/null; }
# The engine is installed when papermill finds it under its entry point group, from this checkout.
engine_installed() {
  python3 - "$repo/Scripts/papermill" 2>/dev/null <<'PY'
import os, sys
from importlib.metadata import entry_points
import tessera_papermill
found = [e for e in entry_points(group="papermill.engine") if e.name == "tessera"]
here = os.path.realpath(sys.argv[1])
sys.exit(0 if found and os.path.realpath(tessera_papermill.__file__).startswith(here + os.sep) else 1)
PY
}
pip_install() {
  # A Python whose packages the system manages (Debian's) needs --break-system-packages.
  python3 -m pip install -q "$@" 2>/dev/null ||
    python3 -m pip install -q --break-system-packages "$@"
}
missing=()
importable nbformat || missing+=(nbformat)
importable safetensors.numpy || missing+=(safetensors)
importable numpy || missing+=(numpy)
importable papermill || missing+=(papermill)
engine=0
engine_installed || engine=1
if [ ${#missing[@]} -eq 0 ] && [ $engine -eq 0 ]; then exit 0; fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
if ! python3 -m pip --version >/dev/null 2>&1; then
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-pip >/dev/null
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing (pip): ${missing[*]}"
  pip_install "${missing[@]}"
fi
if [ $engine -eq 1 ]; then
  # Editable: the engine follows this checkout's Scripts/papermill.
  echo "installing (pip): tessera-papermill from $repo/Scripts/papermill"
  pip_install -e "$repo/Scripts/papermill"
fi
for module in nbformat safetensors.numpy numpy papermill tessera_papermill; do
  importable "$module" || { echo "python3 cannot import $module after installing it" >&2; exit 1; }
done
engine_installed || { echo "papermill does not find the engine 'tessera' after installing it" >&2; exit 1; }
