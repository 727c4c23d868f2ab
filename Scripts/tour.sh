#!/usr/bin/env bash
# The main job. Until the tour notebook lands this runs the core benchmark in its quick form:
# matmul, softmax, layerNorm, elementwise and an MLP step, as JSON lines.
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/install-system-packages.sh
swift build -c release --product tessera
.build/release/tessera bench core --quick "$@"
