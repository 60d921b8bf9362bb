#!/usr/bin/env bash
# The README's first command: installs the npm packages, builds, starts the Clair emulator (v4 and v1)
# on loopback, runs `hyperclair health` against each, and stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then npm ci --no-audit --no-fund; fi
npm run build --silent
exec npx tsx scripts/demo.ts "$@"
