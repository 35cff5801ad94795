#!/usr/bin/env bash
# Checks the deployment files without a Docker engine:
#   - docker-compose.yml resolves with .env.example (`docker-compose config`), and a .env
#     lacking a required secret is refused;
#   - only dhis2sync's port 4999 is published; postgres has no port, a pg_isready healthcheck,
#     a named volume, version >= 15, and sits on an internal network only;
#   - dhis2sync waits for a healthy postgres; the worker is behind the `scale-out` profile;
#   - .env is ignored by git and docker; the Dockerfile has the stages and settings we promise;
#   - hadolint, when it is on PATH.
# Never writes .env. Without docker-compose (or `docker compose`) the compose checks are
# skipped with a message. Exit 0 when every check that ran passed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

fails=0
checks=0
ok()   { checks=$((checks + 1)); echo "ok   - $*"; }
bad()  { checks=$((checks + 1)); fails=$((fails + 1)); echo "FAIL - $*"; }
skip() { echo "skip - $*"; }
expect() { local what=$1; shift; if "$@" >/dev/null 2>&1; then ok "$what"; else bad "$what"; fi; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# ---- static checks: Dockerfile, ignore files ---------------------------------------------
expect "Dockerfile: build stage FROM debian:12-slim AS build" grep -Eq '^FROM debian:12-slim AS build' Dockerfile
expect "Dockerfile: runtime stage FROM debian:12-slim" grep -Eq '^FROM debian:12-slim[[:space:]]*$' Dockerfile
expect "Dockerfile: build stage installs with .ci/deps.sh --build" grep -Eq 'bash \.ci/deps\.sh --build' Dockerfile
expect "Dockerfile: EXPOSE 4999" grep -Eq '^EXPOSE 4999' Dockerfile
expect "Dockerfile: HEALTHCHECK on /health" grep -Eq '/health' <(sed -n '/^HEALTHCHECK/,/^$/p' Dockerfile)
last_user=$(grep -E '^USER ' Dockerfile | tail -n1 | awk '{print $2}')
if [ -n "$last_user" ] && [ "$last_user" != root ] && [ "$last_user" != 0 ]; then
    ok "Dockerfile: runs as non-root user '$last_user'"
else
    bad "Dockerfile: runs as non-root user (last USER is '${last_user:-none}')"
fi
expect "Dockerfile: runtime has pg_dump (postgresql-client-15)" grep -q 'postgresql-client-15' Dockerfile
expect ".dockerignore: excludes .env" grep -Eqx '\.env' .dockerignore
if git rev-parse --git-dir >/dev/null 2>&1; then
    expect ".gitignore: ignores .env" git check-ignore -q .env
    if [ -z "$(git ls-files .env)" ]; then ok "git: .env is not tracked"; else bad "git: .env is tracked"; fi
else
    skip "not a git checkout: .env ignore/tracking not checked"
fi

if command -v hadolint >/dev/null 2>&1; then
    expect "hadolint Dockerfile" hadolint Dockerfile
else
    skip "hadolint not installed (not packaged in Debian 12 nor on npm)"
fi

# ---- compose checks -------------------------------------------------------------------------
compose=()
if command -v docker-compose >/dev/null 2>&1; then
    compose=(docker-compose)
elif command -v docker >/dev/null 2>&1 && docker compose version >/dev/null 2>&1; then
    compose=(docker compose)
fi

if [ ${#compose[@]} -eq 0 ]; then
    skip "docker-compose not installed (apt-get install docker-compose): compose checks skipped"
elif ! command -v python3 >/dev/null 2>&1; then
    skip "python3 not installed: compose checks skipped"
else
    # A clean environment, so a developer's exported variables or .env do not leak in.
    run_compose() { env -i PATH="$PATH" HOME="${HOME:-/root}" "${compose[@]}" --env-file "$1" -f docker-compose.yml config; }

    if run_compose .env.example >"$tmp/config.yml" 2>"$tmp/config.err"; then
        ok "${compose[*]} config passes with .env.example"
        # parsed as YAML (python3-yaml, a dependency of docker-compose v1) or else as JSON (v2)
        if ! python3 -c 'import yaml' 2>/dev/null; then
            env -i PATH="$PATH" HOME="${HOME:-/root}" "${compose[@]}" --env-file .env.example \
                -f docker-compose.yml config --format json >"$tmp/config.json" 2>/dev/null
        fi
        python3 - "$tmp" <<'PY'
import json, os, re, sys
tmp = sys.argv[1]
try:
    import yaml
    cfg = yaml.safe_load(open(os.path.join(tmp, "config.yml")))
except ImportError:
    cfg = json.load(open(os.path.join(tmp, "config.json")))

results = []
def check(name, cond):
    results.append((name, bool(cond)))

svcs = cfg.get("services", {})
nets = cfg.get("networks", {}) or {}

def published(port):
    """host port of a short ('127.0.0.1:4999:4999/tcp') or long ({published: ...}) entry"""
    if isinstance(port, dict):
        return str(port.get("published", "")) or None
    parts = str(port).split("/")[0].split(":")
    return parts[-2] if len(parts) >= 2 else None  # a bare "4999" publishes a random port

check("services dhis2sync, postgres and worker exist", {"dhis2sync", "postgres", "worker"} <= set(svcs))
pubs = [(name, published(p)) for name, s in svcs.items() for p in (s.get("ports") or [])]
check("only port 4999 is published, by dhis2sync (found %s)" % pubs, pubs == [("dhis2sync", "4999")])
pg = svcs.get("postgres", {})
check("postgres publishes no port", not pg.get("ports") and not pg.get("expose"))
m = re.match(r"postgres:(\d+)", str(pg.get("image", "")))
check("postgres image is postgres:15 or newer (%s)" % pg.get("image"), m and int(m.group(1)) >= 15)
test = pg.get("healthcheck", {}).get("test", [])
check("postgres healthcheck uses pg_isready", "pg_isready" in " ".join(test if isinstance(test, list) else [test]))
vols = [v if isinstance(v, str) else "%s:%s" % (v.get("source"), v.get("target")) for v in pg.get("volumes", [])]
check("postgres keeps its data in a named volume", any(v.split(":")[0] in (cfg.get("volumes") or {}) and "/var/lib/postgresql" in v for v in vols))
pg_nets = list(pg.get("networks") or {})
check("postgres is only on internal networks (%s)" % pg_nets, pg_nets and all((nets.get(n) or {}).get("internal") for n in pg_nets))
d = svcs.get("dhis2sync", {})
check("dhis2sync depends on postgres with condition service_healthy",
      (d.get("depends_on") or {}).get("postgres", {}).get("condition") == "service_healthy")
env = d.get("environment") or {}
if isinstance(env, list):
    env = dict(e.split("=", 1) for e in env)
check("dhis2sync DATABASE_URL points at the postgres service", "@postgres:" in str(env.get("DATABASE_URL", "")))
def target(v):
    return v.split(":")[1] if isinstance(v, str) else v.get("target")
check("dhis2sync mounts a host folder on /app/mappings",
      any(target(v) == "/app/mappings" for v in d.get("volumes", [])))
w = svcs.get("worker", {})
check("worker runs `worker` behind the scale-out profile",
      w.get("command") in (["worker"], "worker") and "scale-out" in (w.get("profiles") or []))
for name, good in results:
    print(("ok   - " if good else "FAIL - ") + name)
with open(os.path.join(tmp, "counts"), "w") as f:
    f.write("%d %d\n" % (len(results), sum(1 for _, g in results if not g)))
PY
        if read -r n nf <"$tmp/counts" 2>/dev/null; then
            checks=$((checks + n)); fails=$((fails + nf))
        else
            bad "parse the resolved compose file"
        fi
    else
        bad "${compose[*]} config passes with .env.example"
        sed 's/^/     /' "$tmp/config.err"
    fi

    grep -v '^DHIS2SYNC_SECRET_KEY=' .env.example >"$tmp/nokey.env"
    if run_compose "$tmp/nokey.env" >/dev/null 2>"$tmp/nokey.err"; then
        bad "config refuses a .env without DHIS2SYNC_SECRET_KEY"
    else
        ok "config refuses a .env without DHIS2SYNC_SECRET_KEY"
    fi
fi

if [ $fails -eq 0 ]; then
    echo "compose check: all $checks checks ok"
    exit 0
fi
echo "compose check: $fails of $checks checks failed"
exit 1
