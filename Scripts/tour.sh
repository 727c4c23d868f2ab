#!/usr/bin/env bash
# The main job: runs the tour notebook headless. The executed notebook is written back to
# notebooks/00-tour.ipynb and its figures to figures/. Extra arguments go to `tessera run`
# (e.g. -p trainingSteps 1000).
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/install-system-packages.sh
swift build -c release
.build/release/tessera run notebooks/00-tour.ipynb --export-figures figures --timeout 900 "$@"
echo "executed notebook: notebooks/00-tour.ipynb; figures: figures/tour-*.png, figures/tour-*.svg"
