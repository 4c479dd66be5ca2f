#!/usr/bin/env bash
# The README's main job, end to end on a fresh Debian machine:
#   install dependencies → build → a private PostgreSQL → tk-collector → tk-agent →
#   the example tool records a few commands → the agent forwards them → `tk status` →
#   the dashboard's URL (kept up until you press Enter, when run from a terminal).
# Everything lives in a temp dir and is stopped on exit; your real home directory is not touched.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT_DIR="$PWD"
if [ "${TK_SKIP_DEPS:-0}" != "1" ]; then scripts/install-deps.sh; fi
BUILD_DIR="${BUILD_DIR:-build}"
source scripts/ccache.sh
cmake -S . -B "$BUILD_DIR" -G Ninja "${CMAKE_LAUNCHER[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"
BIN="$ROOT_DIR/$BUILD_DIR"

WORK="$(mktemp -d /tmp/tk-demo-XXXXXX)"
chmod 0755 "$WORK"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -f "$WORK/pg/data/postmaster.pid" ]; then as_pg "$PG_BIN/pg_ctl" -D "$WORK/pg/data" -m immediate stop >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
# wait_for DESCRIPTION SECONDS COMMAND...: poll a condition with a deadline.
wait_for() {
  local what="$1" seconds="$2"; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then echo "timed out waiting for $what" >&2; return 1; fi
    sleep 0.1
  done
}

# --- a private PostgreSQL (as the postgres user when we are root: PostgreSQL refuses root) ---
PG_BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)"
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
PG_USER=postgres; [ "$(id -u)" -eq 0 ] || PG_USER="$(id -un)"
mkdir -p "$WORK/pg"
[ "$(id -u)" -eq 0 ] && chown postgres: "$WORK/pg"
PG_PORT=$(( 20000 + RANDOM % 20000 ))
step "Starting a private PostgreSQL in $WORK/pg (Unix socket only, port $PG_PORT)"
as_pg "$PG_BIN/initdb" -D "$WORK/pg/data" -U "$PG_USER" --auth=trust --encoding=UTF8 -N >/dev/null
as_pg "$PG_BIN/pg_ctl" -D "$WORK/pg/data" -l "$WORK/pg/server.log" -w \
  -o "-k $WORK/pg -p $PG_PORT -c listen_addresses=''" start >/dev/null
DB_URL="postgresql://$PG_USER@/postgres?host=$WORK/pg&port=$PG_PORT"
psql_q() { "$PG_BIN/psql" -X -q -A -t -d "$DB_URL" -c "$1"; }

# --- the collector ---
COLLECTOR_PORT=$(( 40000 + RANDOM % 20000 ))
step "Starting tk-collector on 127.0.0.1:$COLLECTOR_PORT"
"$BIN/collector/tk-collector" migrate --database-url "$DB_URL"
INGEST_KEY="$("$BIN/collector/tk-collector" keys create --tool demo-cli --database-url "$DB_URL")"
echo "created an ingest key for demo-cli (shown once; stored hashed)"
"$BIN/collector/tk-collector" serve --listen "127.0.0.1:$COLLECTOR_PORT" --database-url "$DB_URL" \
  --log-level warn 2>"$WORK/collector.log" &
PIDS+=($!)
wait_for "the collector" 20 curl -fsS "http://127.0.0.1:$COLLECTOR_PORT/healthz"

# --- the agent, with its own state dir and socket (never your real ones) ---
export TELEMETRY_KIT_HOME="$WORK/agent-home"
export TELEMETRY_KIT_SOCKET="$WORK/run/agent.sock"
unset DO_NOT_TRACK CI GITHUB_ACTIONS GITLAB_CI BUILD_NUMBER RUN_ID CONTINUOUS_INTEGRATION || true
mkdir -p "$TELEMETRY_KIT_HOME" && chmod 0700 "$TELEMETRY_KIT_HOME"
cat > "$TELEMETRY_KIT_HOME/agent.conf" <<CONF
[forwarder]
coalesce_ms = 50
CONF
step "Starting tk-agent (socket $TELEMETRY_KIT_SOCKET)"
"$BIN/daemon/tk-agent" --log-level warn 2>"$WORK/agent.log" &
PIDS+=($!)
wait_for "the agent" 20 "$BIN/client/tk/tk" status

# --- the person grants consent (demo-cli is opt-in), then uses the tool ---
step "tk consent grant demo-cli"
"$BIN/client/tk/tk" consent grant demo-cli
export DEMO_CLI_ENDPOINT="http://127.0.0.1:$COLLECTOR_PORT"
export DEMO_CLI_INGEST_KEY="$INGEST_KEY"
DEMO="$BIN/examples/demo-cli/demo-cli"
step "Running the example tool"
"$DEMO" greet world
"$DEMO" count 3
"$DEMO" fail || echo "(demo-cli fail exited $? — recorded as a failed command)"

step "tk events (what is queued, exactly as it will be sent)"
"$BIN/client/tk/tk" events || true

step "Waiting for the agent to forward to the collector"
events_stored() { [ "$(psql_q "SELECT count(*) FROM events")" -ge 3 ]; }
if ! wait_for "3 events in PostgreSQL" 30 events_stored; then
  echo "--- agent log"; cat "$WORK/agent.log"; echo "--- collector log"; cat "$WORK/collector.log"; psql_q "SELECT count(*) FROM events" || true; exit 1
fi

step "tk status"
"$BIN/client/tk/tk" status

step "What the collector stored (no host, no user, no IP — an anonymous per-tool id)"
"$PG_BIN/psql" -X -d "$DB_URL" -c \
  "SELECT tool, name, success, duration_us, left(anonymous_id, 12) || '…' AS anonymous_id, attributes FROM events ORDER BY occurred_at"
# --- the dashboard (docs/dashboard.md): the token travels in the fragment, never sent to a server ---
READ_TOKEN="$("$BIN/collector/tk-collector" tokens create --tool demo-cli --name demo --database-url "$DB_URL")"
step "The dashboard"
echo "Open this in a browser on this machine (the read token is in the #fragment, which a browser never sends):"
echo
echo "  http://127.0.0.1:$COLLECTOR_PORT/#token=$READ_TOKEN&tool=demo-cli&range=7d"
echo
if [ -t 0 ] && [ "${TK_DEMO_WAIT:-1}" = "1" ]; then
  read -r -p "The collector keeps running until you press Enter. " _ || true
fi
echo
echo "Done. Everything ran in $WORK and is being removed now."
