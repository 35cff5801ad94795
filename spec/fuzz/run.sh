#!/bin/sh
# run.sh SECONDS NAME... — runs each harness build/fuzz/NAME_fuzz for SECONDS, two at a time
# (the machine's two cores). New inputs go to build/fuzz/corpus/NAME (spec/fuzz/corpus/NAME
# and spec/fuzz/regress/NAME are only read), a crash, leak or timeout to
# build/fuzz/artifacts/NAME/; the log of each is build/fuzz/NAME.log. Fails if any harness did.
set -u
secs=$1
shift
mkdir -p build/fuzz
for name in "$@"; do
  mkdir -p "build/fuzz/corpus/$name" "build/fuzz/artifacts/$name" "spec/fuzz/corpus/$name" \
           "spec/fuzz/regress/$name"
done
printf '%s\n' "$@" | xargs -P 2 -I NAME sh -c '
  if build/fuzz/NAME_fuzz -max_total_time='"$secs"' -timeout=10 -rss_limit_mb=2048 \
       -print_final_stats=1 -artifact_prefix=build/fuzz/artifacts/NAME/ \
       build/fuzz/corpus/NAME spec/fuzz/corpus/NAME spec/fuzz/regress/NAME \
       >build/fuzz/NAME.log 2>&1; then
    echo "ok    NAME" >build/fuzz/NAME.result
  else
    echo "FAIL  NAME: see build/fuzz/NAME.log and build/fuzz/artifacts/NAME/" >build/fuzz/NAME.result
  fi'
status=0
for name in "$@"; do
  cat "build/fuzz/$name.result"
  grep -h -E '^(stat::number_of_executed_units|stat::peak_rss_mb)|DONE' "build/fuzz/$name.log" |
    sed 's/^/      /'
  grep -q '^ok' "build/fuzz/$name.result" || status=1
done
exit $status
