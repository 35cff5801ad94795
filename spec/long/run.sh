#!/bin/sh
# spec/long/run.sh — builds and runs the long acceptance test (about 11 minutes): a job
# scheduled every minute runs once a minute across one serve and two worker processes for ten
# minutes, with no overlap. Prints what it checked; the report is also left in
# build/long-test-report.txt. Also the tracker job's 100 k case (tracker_long_test.c).
# Usage: sh spec/long/run.sh   (from the repository root)
set -e
BUILD=${BUILD:-build}
make -j2 >/dev/null
PKGS="lua5.4 libcurl libpq libmicrohttpd libcjson libcrypto zlib"
mkdir -p "$BUILD/spec"
# the suite's runner and harness, with the long tests instead of the normal ones
cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 -g -Ihost -Ispec $(pkg-config --cflags $PKGS) \
    -o "$BUILD/spec/long" spec/long/*.c "$BUILD/spec/run.o" "$BUILD/spec/harness.o" \
    "$BUILD/spec/sched_util.o" "$BUILD/spec/tracker_util.o" "$BUILD/spec/tracker_sync_util.o" \
    "$BUILD/libhost.a" $(pkg-config --libs $PKGS) -lcrypt -lpthread -lm
status=0
LONG_REPORT="$PWD/$BUILD/long-test-report.txt" DHIS2SYNC_BUILD="$BUILD" "$BUILD/spec/long" -j 1 "$@" || status=$?
echo "---- report ($BUILD/long-test-report.txt)"
cat "$BUILD/long-test-report.txt" 2>/dev/null || echo "(none: the scheduling run was not among the tests run)"
exit $status
