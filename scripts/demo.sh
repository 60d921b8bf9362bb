#!/usr/bin/env bash
# The README's first command: installs the npm packages, builds, then analyzes a test image with
# hyperclair against the Clair emulator on loopback (v4, then v1), and stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then npm ci --no-audit --no-fund; fi
npm run build --silent
exec npx tsx scripts/demo.ts "$@"
