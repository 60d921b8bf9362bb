#!/usr/bin/env bash
# The test command (`npm test`): installs what the tests need, builds, then runs every test file (or the
# files/folders given as arguments) under the harness, which starts the real services once per run.
# Works unattended on a fresh Debian 12 machine as root.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

now_ms() { date +%s%3N; }
elapsed() { awk -v a="$1" -v b="$(now_ms)" 'BEGIN { printf "%.1f s", (b - a) / 1000 }'; }

install_started=$(now_ms)

# 1. Debian packages: the daemons, the registry and the tools the harness drives.
packages="docker.io docker-registry skopeo apache2-utils podman runc openssl ca-certificates curl iproute2"
missing=""
for tool in dockerd docker-registry skopeo htpasswd podman runc openssl ip; do
  command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
if [ -n "$missing" ]; then
  install_line="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends -o DPkg::Lock::Timeout=300 $packages"
  if [ "$(id -u)" != "0" ]; then
    echo "test/run.sh: missing:$missing. Install them as root:" >&2
    echo "  $install_line" >&2
    exit 1
  fi
  echo "[run.sh] installing Debian packages (missing:$missing)" >&2
  # Without a policy-rc.d the packages' init scripts would start a docker daemon and a registry on :5000.
  created_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    created_policy=1
  fi
  cleanup_policy() { if [ -n "$created_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi; }
  trap cleanup_policy EXIT
  apt-get update -q </dev/null
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=300 $packages </dev/null
  cleanup_policy
  trap - EXIT
fi

# 2. npm packages, when absent or not what package-lock.json lists. npm keeps a copy of the lock in
# node_modules/.package-lock.json; comparing versions is sturdier than comparing mtimes, which other
# npm commands touch.
lock_matches() {
  [ -f node_modules/.package-lock.json ] || return 1
  node -e '
    const fs = require("fs");
    const want = JSON.parse(fs.readFileSync("package-lock.json", "utf8")).packages ?? {};
    const have = JSON.parse(fs.readFileSync("node_modules/.package-lock.json", "utf8")).packages ?? {};
    for (const [path, entry] of Object.entries(want)) {
      if (path === "" || entry.optional || entry.peer) continue;
      if (have[path]?.version !== entry.version) process.exit(1);
    }'
}
if [ ! -d node_modules ] || ! lock_matches; then
  echo "[run.sh] npm ci" >&2
  npm ci --no-audit --no-fund </dev/null
fi
install_time=$(elapsed "$install_started")

# 3. dist/, which the CLI tests run.
build_started=$(now_ms)
if ! npm run --silent build; then
  echo "test/run.sh: npm run build failed (see the TypeScript errors above)" >&2
  exit 1
fi
build_time=$(elapsed "$build_started")

# `--setup-only`: what the benchmarks need too (packages, npm modules, dist/), without running tests.
if [ "${1:-}" = "--setup-only" ]; then exit 0; fi

# 4. The test files: every test/**/*.test.ts, or those under the paths given; options go to node --test.
node_options=()
paths=()
for arg in "$@"; do
  case "$arg" in
    -*) node_options+=("$arg") ;;
    *) paths+=("$arg") ;;
  esac
done
[ ${#paths[@]} -gt 0 ] || paths=(test)
files=()
for path in "${paths[@]}"; do
  if [ -f "$path" ]; then
    files+=("$path")
  elif [ -d "$path" ]; then
    while IFS= read -r file; do files+=("$file"); done < <(find "$path" -name '*.test.ts' -not -path '*/node_modules/*')
  else
    echo "test/run.sh: no such test file or folder: $path" >&2
    exit 2
  fi
done
if [ ${#files[@]} -eq 0 ]; then
  echo "test/run.sh: no *.test.ts files under: ${paths[*]}" >&2
  exit 2
fi
mapfile -t files < <(printf '%s\n' "${files[@]}" | LC_ALL=C sort -u)

export HC_SETUP_TIMES="install ${install_time} · build ${build_time}"
# exec, so signals reach the harness directly and it can stop every service it started.
exec node --import tsx test/infra/harness.ts run -- \
  node --import tsx --test ${node_options[@]+"${node_options[@]}"} "${files[@]}"
