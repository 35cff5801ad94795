#!/bin/sh
# spec/reliability/soak/run.sh — builds and runs the long reliability cases (`make soak`, about
# 20 minutes): outages of a minute and of five, with the production backoff (single waits up
# to 30 s). Usage: sh spec/reliability/soak/run.sh [FILTER...]   (from the repository root)
set -e
BUILD=${BUILD:-build}
make -j2 >/dev/null
PKGS="lua5.4 libcurl libpq libmicrohttpd libcjson libcrypto zlib"
# the suite's runner and harness, with the soak cases instead of the normal ones
cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 -g -Ihost -Ispec $(pkg-config --cflags $PKGS) \
    -o "$BUILD/spec/soak" spec/reliability/soak/*.c "$BUILD/spec/run.o" "$BUILD/spec/harness.o" \
    "$BUILD/spec/sched_util.o" "$BUILD/spec/reliability/rel_util.o" "$BUILD/libhost.a" \
    $(pkg-config --libs $PKGS) -lcrypt -lpthread -lm
DHIS2SYNC_BUILD="$BUILD" exec "$BUILD/spec/soak" "$@"
