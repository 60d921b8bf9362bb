#!/usr/bin/env bash
# Runs every benchmark; each prints its figures as ratios against a baseline measured in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
# The same Debian packages, npm modules and build as the tests (dockerd, registry, skopeo…).
bash test/run.sh --setup-only
status=0
for bench in bench/*.ts; do
  echo "== ${bench}"
  npx tsx "$bench" || status=1
done
exit $status
