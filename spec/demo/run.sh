#!/usr/bin/env bash
# make demo: a district DHIS2 and a national DHIS2 (two emulators with different ids, from
# spec/demo/), dhis2sync between them with its own private PostgreSQL under build/demo/var,
# the instances, the mapping mappings/demo_district_to_national.lua and a job, run once.
# Prints where to look, then waits; Ctrl-C stops everything it started.
#   DEMO_PORT (4999) is dhis2sync's port; the emulators take free ports.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD="${BUILD:-build}"
PORT="${DEMO_PORT:-4999}"
DIR="$ROOT/build/demo"

pids=()
stop() {
  trap - INT TERM EXIT
  echo
  echo "stopping the demo..."
  # dhis2sync first: it stops its private PostgreSQL as it leaves
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[$i]}" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  echo "stopped."
  exit 0
}
trap stop INT TERM EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() {  # wait_for SECONDS URL
  local deadline=$((SECONDS + $1))
  until curl -fs -o /dev/null "$2"; do
    [ $SECONDS -lt $deadline ] || { echo "$2 did not answer in $1 s; logs in $DIR" >&2; return 1; }
    sleep 0.3
  done
}
if curl -fs -o /dev/null "http://127.0.0.1:$PORT/health" 2>/dev/null; then
  echo "port $PORT is taken (a dhis2sync is running?): stop it, or DEMO_PORT=5000 make demo" >&2
  trap - EXIT
  exit 1
fi

# a fresh demo each time: its own database, var/ and logs, the repository's db/, web/, scripts/
rm -rf "$DIR"
mkdir -p "$DIR"
ln -s "$ROOT/db" "$ROOT/web" "$ROOT/scripts" "$DIR/"

district_port=$(free_port)
"$BUILD/dhis2-emulator" --port "$district_port" --data spec/demo/district >"$DIR/district.log" 2>&1 &
pids+=($!)
national_port=$(free_port)
"$BUILD/dhis2-emulator" --port "$national_port" --data spec/demo/national >"$DIR/national.log" 2>&1 &
pids+=($!)
wait_for 30 "http://127.0.0.1:$district_port/emulator/state"
wait_for 30 "http://127.0.0.1:$national_port/emulator/state"

echo "starting dhis2sync (a private PostgreSQL under build/demo/var/pg)..."
(cd "$DIR" && exec env DHIS2SYNC_PORT="$PORT" DHIS2SYNC_MAPPINGS="$ROOT/mappings" \
   "$ROOT/$BUILD/dhis2sync" serve >"$DIR/dhis2sync.log" 2>&1) &
pids+=($!)
wait_for 60 "http://127.0.0.1:$PORT/health"

token=$(cd "$DIR" && DHIS2SYNC_MAPPINGS="$ROOT/mappings" "$ROOT/$BUILD/dhis2sync" token add demo 2>/dev/null)
api() {  # api METHOD PATH [BODY]
  curl -fsS -X "$1" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    ${3:+--data "$3"} "http://127.0.0.1:$PORT$2"
}
json_field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
basic='"auth":{"type":"basic","username":"admin","password":"district"}'
api POST /api/instances "{\"name\":\"District HMIS\",\"url\":\"http://127.0.0.1:$district_port\",$basic}" >/dev/null
api POST /api/instances "{\"name\":\"National HMIS\",\"url\":\"http://127.0.0.1:$national_port\",$basic}" >/dev/null
data_sets=$(curl -fsS -u admin:district "http://127.0.0.1:$district_port/api/dataSets?fields=id&paging=false" |
  python3 -c 'import json,sys; print(json.dumps([d["id"] for d in json.load(sys.stdin)["dataSets"]]))')
root=$(curl -fsS -u admin:district "http://127.0.0.1:$district_port/api/organisationUnits?fields=id&filter=level:eq:1&paging=false" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["organisationUnits"][0]["id"])')
job=$(api POST /api/jobs "{\"name\":\"District to national\",\"source\":\"District HMIS\",\"target\":\"National HMIS\",
  \"mapping\":\"demo_district_to_national\",\"dataSets\":$data_sets,\"orgUnits\":[\"$root\"],\"children\":true,
  \"periods\":{\"start\":\"2020-01-01\",\"end\":\"2030-12-31\"},\"incremental\":true,\"schedule\":\"0 2 * * *\"}" | json_field id)

echo "running the data value job once..."
run=$(api POST "/api/jobs/$job/run" | json_field id)
status=queued
while [ "$status" = queued ] || [ "$status" = running ]; do
  sleep 0.5
  status=$(api GET "/api/runs/$run" | json_field status)
done
counts=$(api GET "/api/runs/$run" | python3 -c 'import json,sys; c=json.load(sys.stdin)["counts"]; print("%d fetched, %d skipped by the mapping, %d imported" % (c["fetched"], c["skipped"], c["imported"]))')

cat <<EOT

  dhis2sync demo is running: http://localhost:$PORT/
  log in as admin, password: $(cat "$DIR/var/admin-password")

  The run of "District to national" $status: $counts.
  Look at:
    http://localhost:$PORT/            the dashboard: the job, its run and its figures
    http://localhost:$PORT/runs/$run   the run: counts, timings, the values the mapping skipped
    http://localhost:$PORT/mappings/demo_district_to_national
                                       the mapping (ids by CSV crosswalks, kg -> g); try it on samples
    http://localhost:$PORT/instances   District HMIS (:$district_port) and National HMIS (:$national_port)
  Logs: build/demo/*.log.   Ctrl-C stops everything.
EOT
wait "${pids[2]}"
