#!/usr/bin/env bash
# The main job: runs the figures notebook headless (outputs written back into
# notebooks/figures.ipynb, figures exported to figures/), then the quick core benchmark
# (JSON lines). The architecture tour notebook joins this script when it lands.
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/install-system-packages.sh
swift build -c release
.build/release/tessera run notebooks/figures.ipynb --export-figures figures "$@"
.build/release/tessera bench core --quick
