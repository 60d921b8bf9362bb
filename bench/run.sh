#!/usr/bin/env bash
# Runs every benchmark; each prints its figures as ratios against a baseline measured in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules ]; then npm ci; fi
npm run build --silent
status=0
for bench in bench/*.ts; do
  echo "== ${bench}"
  npx tsx "$bench" || status=1
done
exit $status
