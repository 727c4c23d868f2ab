#!/usr/bin/env bash
# Runs the whole test suite, in release mode (numeric code is 10–100× slower in debug).
# Installs what it needs first; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
Scripts/install-system-packages.sh
Scripts/install-python-packages.sh
swift format lint --strict --recursive Sources Tests Package.swift
swift build -c release --build-tests
swift test -c release --skip-build "$@"
