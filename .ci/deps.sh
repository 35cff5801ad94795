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
  libmicrohttpd-dev libcjson-dev libssl-dev zlib1g-dev libcrypt-dev ca-certificates"
# the private cluster (no DATABASE_URL) and the test suite need the server binaries
RUN_PKGS="postgresql-15 postgresql-client-15 curl"
TEST_PKGS="python3 python3-prometheus-client docker-compose"

PKGS="$BUILD_PKGS"
if [ "${1:-}" != "--build" ]; then PKGS="$PKGS $RUN_PKGS $TEST_PKGS"; fi

$SUDO apt-get update
# shellcheck disable=SC2086
$SUDO apt-get install -y --no-install-recommends $PKGS
