#!/usr/bin/env bash
# Builds staxkeys and the fake Stax.ai API, then measures them as whole processes.
# Usage: bench/run.sh [driver flags]   (e.g. bench/run.sh -n 1000 -runs 1)
# Needs wrk for the throughput figures (apt-get install -y wrk); without it those rows are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/out
if ! command -v wrk >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && apt-get install -y -qq wrk) >/dev/null 2>&1 || echo "could not install wrk; throughput rows will be skipped" >&2
  fi
fi
go build -trimpath -ldflags "-s -w" -o bench/out/staxkeys .
go build -o bench/out/staxfake ./cmd/staxfake
go build -o bench/out/driver ./bench/driver
exec bench/out/driver -bin bench/out/staxkeys -fake bench/out/staxfake "$@"
