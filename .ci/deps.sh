#!/usr/bin/env bash
# Installs everything dhis2sync needs to build, serve and be tested on Debian 12.
# One script for `make deps`, .ci/run and the Dockerfile's build stage, so all three agree.
#   .ci/deps.sh            build + run + test packages
#   .ci/deps.sh --build    only what the Docker build stage needs
set -euo pipefail

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

BUILD_PKGS="build-essential pkg-config liblua5.4-dev libcurl4-openssl-dev libpq-dev
  libmicrohttpd-dev libcjson-dev libssl-dev zlib1g-dev libdeflate-dev libcrypt-dev ca-certificates"
# the private cluster (no DATABASE_URL) and the test suite need the server binaries
RUN_PKGS="postgresql-15 postgresql-client-15 curl"
# prometheus brings promtool, which checks docs/monitoring/alerts.yml (spec/metrics_test.c)
TEST_PKGS="python3 python3-prometheus-client docker-compose prometheus clang libclang-rt-14-dev"
# the web admin's browser tests (spec/web_test.c): Debian's Chromium, driven from node by
# playwright-core (spec/browser/package.json), which never downloads a browser of its own
BROWSER_PKGS="chromium fonts-dejavu-core"
# `make bench`: its HTTP rows load `dhis2sync serve` with wrk (its Python rows need python3 only)
BENCH_PKGS="wrk"

PKGS="$BUILD_PKGS"
if [ "${1:-}" != "--build" ]; then
  PKGS="$PKGS $RUN_PKGS $TEST_PKGS $BROWSER_PKGS $BENCH_PKGS"
  # Debian's node and npm, unless a node with npm is there already (another packaging of
  # nodejs would conflict with Debian's npm)
  if ! command -v npm >/dev/null 2>&1; then PKGS="$PKGS nodejs npm"; fi
fi

$SUDO apt-get update
# shellcheck disable=SC2086
$SUDO apt-get install -y --no-install-recommends $PKGS

if [ "${1:-}" != "--build" ]; then
  # playwright-core, exactly as locked; it brings no browser (tests use /usr/bin/chromium)
  cd "$(dirname "$0")/.."
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix spec/browser --no-audit --no-fund --loglevel=error
fi
