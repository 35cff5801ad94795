#!/usr/bin/env bash
# make docker-test: the image built and run, not only written. Builds it from a base made out
# of Debian's packages (spec/docker/base-image.sh), runs it against a throw-away PostgreSQL,
# waits for its HEALTHCHECK, checks it runs as non-root, syncs two DHIS2 emulators through it
# and takes a backup inside it that a second container restores into another database.
# Needs root (it starts dockerd when none answers, and PostgreSQL as the postgres user).
# Prints `N passed, N failed` last.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD="${BUILD:-build}"
PG_BIN="${DHIS2SYNC_PG_BIN:-/usr/lib/postgresql/15/bin}"
IMAGE=dhis2sync:test
passed=0
failed=0
ok() { echo "ok   $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; failed=$((failed + 1)); }
finish() { echo "$passed passed, $failed failed"; [ "$failed" = 0 ]; }

tmp=$(mktemp -d /tmp/dhis2sync-docker-XXXXXX)
chmod 755 "$tmp"
pids=()
containers=()
started_dockerd=
cleanup() {
  for c in "${containers[@]}"; do docker rm -f "$c" >/dev/null 2>&1 || true; done
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -f "$tmp/pg/postmaster.pid" ]; then
    runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$tmp/pg" -m fast stop >/dev/null 2>&1 || true
  fi
  if [ -n "$started_dockerd" ]; then kill "$started_dockerd" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() {  # wait_for SECONDS CMD...: until CMD succeeds
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.5
  done
}

# ---- the engine and the base image --------------------------------------------------------
if ! docker info >/dev/null 2>&1; then
  command -v dockerd >/dev/null || { echo "dockerd is not installed (apt-get install docker.io)" >&2; exit 1; }
  dockerd >"$tmp/dockerd.log" 2>&1 &
  started_dockerd=$!
  wait_for 60 docker info || { cat "$tmp/dockerd.log" >&2; echo "dockerd did not start" >&2; exit 1; }
fi
bash spec/docker/base-image.sh

# ---- build ------------------------------------------------------------------------------------
t0=$SECONDS
# BuildKit would want a frontend image from a registry; the classic builder needs none
if DOCKER_BUILDKIT=0 docker build -q -t "$IMAGE" . >"$tmp/build.log" 2>&1; then
  base=$(docker image inspect -f '{{.Size}}' debian:12-slim)
  size=$(docker image inspect -f '{{.Size}}' "$IMAGE")
  echo "built $IMAGE in $((SECONDS - t0)) s: $(( (size - base) / 1000000 )) MB above its base ($((size / 1000000)) MB)"
  ok image_builds
else
  cat "$tmp/build.log"
  fail image_builds
  finish
fi

# ---- PostgreSQL, two emulators ---------------------------------------------------------------
pg_port=$(free_port)
mkdir -p "$tmp/pg" && chown postgres "$tmp/pg"
runuser -u postgres -- "$PG_BIN/initdb" -D "$tmp/pg" -A trust -U postgres >/dev/null
runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$tmp/pg" -w -l "$tmp/pg/server.log" \
  -o "-c listen_addresses=127.0.0.1 -p $pg_port -k $tmp/pg" start >/dev/null
for db in dhis2sync restored; do "$PG_BIN/psql" -qX -h 127.0.0.1 -p "$pg_port" -U postgres -c "CREATE DATABASE $db" postgres; done
db_url() { echo "postgresql://postgres@127.0.0.1:$pg_port/$1"; }

src_port=$(free_port)
"$BUILD/dhis2-emulator" --port "$src_port" --generate values=3000,seed=7 >"$tmp/src.log" 2>&1 &
pids+=($!)
dst_port=$(free_port)
"$BUILD/dhis2-emulator" --port "$dst_port" --generate values=0,seed=7 >"$tmp/dst.log" 2>&1 &
pids+=($!)
wait_for 30 curl -fs "http://127.0.0.1:$src_port/emulator/state"
wait_for 30 curl -fs "http://127.0.0.1:$dst_port/emulator/state"

# ---- run the image ---------------------------------------------------------------------------
port=$(free_port)
mkdir -p "$tmp/backups" && chmod 777 "$tmp/backups"
name="dhis2sync-test-$$"
# host networking: the container reaches the test's PostgreSQL and emulators on loopback.
# The image's HEALTHCHECK command, checked every second instead of every 30 s.
docker run -d --name "$name" --network host --health-interval 1s --health-start-period 60s \
  -e DATABASE_URL="$(db_url dhis2sync)" -e DHIS2SYNC_PORT="$port" \
  -e DHIS2SYNC_SECRET_KEY=docker-test-secret-key-0123456789 \
  -e DHIS2SYNC_ADMIN_PASSWORD=docker-test-password \
  -v "$tmp/backups:/app/backups" "$IMAGE" >/dev/null
containers+=("$name")
healthy() { [ "$(docker inspect -f '{{.State.Health.Status}}' "$name")" = healthy ]; }
if wait_for 90 healthy; then ok healthcheck_says_healthy; else docker logs "$name" 2>&1 | tail -20; fail healthcheck_says_healthy; finish; fi

uid=$(docker exec "$name" id -u)
if [ "$uid" != 0 ]; then ok runs_as_non_root; else fail runs_as_non_root; fi

# ---- a sync through it ---------------------------------------------------------------------
token=$(docker exec "$name" dhis2sync token add docker-test)
api() {  # api METHOD PATH [BODY]
  curl -fsS -X "$1" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    ${3:+--data "$3"} "http://127.0.0.1:$port$2"
}
selection=$(curl -fsS -u admin:district "http://127.0.0.1:$src_port/api/dataSets?fields=id&paging=false" |
  python3 -c 'import json,sys; print(json.dumps([d["id"] for d in json.load(sys.stdin)["dataSets"]]))')
root=$(curl -fsS -u admin:district "http://127.0.0.1:$src_port/api/organisationUnits?fields=id&filter=level:eq:1&paging=false" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["organisationUnits"][0]["id"])')
api POST /api/instances "{\"name\":\"src\",\"url\":\"http://127.0.0.1:$src_port\",\"auth\":{\"type\":\"basic\",\"username\":\"admin\",\"password\":\"district\"}}" >/dev/null
api POST /api/instances "{\"name\":\"dst\",\"url\":\"http://127.0.0.1:$dst_port\",\"auth\":{\"type\":\"basic\",\"username\":\"admin\",\"password\":\"district\"}}" >/dev/null
api POST /api/jobs "{\"name\":\"through-docker\",\"source\":\"src\",\"target\":\"dst\",\"dataSets\":$selection,\"orgUnits\":[\"$root\"],\"children\":true,\"periods\":{\"start\":\"1900-01-01\",\"end\":\"2100-12-31\"}}" >/dev/null
state() {  # every live value of an emulator, sorted
  local q
  q=$(python3 -c 'import json,sys; print("".join("dataSet=%s&" % d for d in json.loads(sys.argv[1])))' "$selection")
  curl -fsS -u admin:district "http://127.0.0.1:$1/api/dataValueSets?${q}orgUnit=$root&children=true&startDate=1900-01-01&endDate=2100-12-31" |
    python3 -c 'import json,sys
vals = json.load(sys.stdin).get("dataValues", [])
print("\n".join(sorted("|".join(v.get(k, "") for k in ("dataElement","period","orgUnit","categoryOptionCombo","attributeOptionCombo","value")) for v in vals if not v.get("deleted"))))'
}
if docker exec "$name" dhis2sync run through-docker >"$tmp/run.log" 2>&1 &&
   [ "$(state "$src_port" | wc -l)" -gt 1000 ] && [ "$(state "$src_port")" = "$(state "$dst_port")" ]; then
  ok sync_between_two_emulators_through_the_image
else
  cat "$tmp/run.log"
  fail sync_between_two_emulators_through_the_image
fi

# ---- backup inside it, restore by a second container into another database ------------------
if docker exec "$name" dhis2sync backup /app/backups/docker.d2s >"$tmp/backup.log" 2>&1 &&
   docker run --rm --network host -e DATABASE_URL="$(db_url restored)" \
     -e DHIS2SYNC_SECRET_KEY=docker-test-secret-key-0123456789 \
     -v "$tmp/backups:/app/backups" "$IMAGE" restore /app/backups/docker.d2s >"$tmp/restore.log" 2>&1 &&
   [ "$("$PG_BIN/psql" -qAtX -h 127.0.0.1 -p "$pg_port" -U postgres -c "SELECT name FROM jobs" restored)" = through-docker ]; then
  ok backup_and_restore_inside_the_image
else
  cat "$tmp/backup.log" "$tmp/restore.log"
  fail backup_and_restore_inside_the_image
fi

finish
