#!/usr/bin/env bash
# The browser part of the CI gate, runnable on its own:   bash tests/browser/ci.sh
#
# Installs Chromium when /usr/bin/chromium is missing (apt, as root), runs `npm ci`, builds the
# server once, then runs sframe-vectors.mjs, worker-loopback.mjs, page-smoke.mjs, e2e.mjs
# (against a server it starts on 127.0.0.1 with --record-frames 300), relay-check.mjs and
# links.mjs (the page on impaired links, against a fresh server of its own; issue 10's targets
# are printed, and gate only with LINKS_STRICT=1, see links.mjs). Everything runs in
# a loopback-only network namespace when `unshare -n` works (root), else in the normal one with
# a note. Each test is bounded by `timeout`; the servers are stopped on every exit path. Fails
# when any test fails or does not print "N passed, 0 failed".
#
# Env: TELESFU_BIN runs that server binary instead of building one (it serves the page it was
# built with); BROWSER_TESTS picks tests by name (space-separated; default all of them);
# LINKS_REPORT=<absolute path> makes links.mjs write its figures there as JSON (see
# tests/browser/bandwidth-results.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

if [ "${1:-}" != "--inner" ]; then
  note() { printf -- '--> %s\n' "$*"; }

  # Chromium (and iproute2 for the namespace's `ip link set lo up`) from Debian.
  want=()
  [ -x /usr/bin/chromium ] || want+=(chromium)
  command -v ip >/dev/null 2>&1 || [ "$(id -u)" != 0 ] || want+=(iproute2)
  if [ "${#want[@]}" -gt 0 ]; then
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
      echo "error: need ${want[*]} (apt-get install -y ${want[*]} as root)" >&2
      exit 1
    fi
    note "installing ${want[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q "${want[@]}" >/dev/null
  fi
  /usr/bin/chromium --version 2>/dev/null || true
  node --version

  note "npm ci"
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)

  if [ -n "${TELESFU_BIN:-}" ]; then
    note "using the server binary $TELESFU_BIN (TELESFU_BIN; not built here)"
  else
    note "build the server"
    (cd "$root" && cargo build -p telesfu-server --locked)
    export TELESFU_BIN="${CARGO_TARGET_DIR:-$root/target}/debug/telesfu"
  fi
  [ -x "$TELESFU_BIN" ] || { echo "error: $TELESFU_BIN missing after the build" >&2; exit 1; }

  # A loopback-only namespace makes ICE deterministic (127.0.0.1 only) and keeps the tests off
  # the machine's network.
  if unshare -n sh -c 'ip link set lo up' 2>/dev/null; then
    note "running in a loopback-only network namespace"
    exec unshare -n sh -c 'ip link set lo up && exec bash "$0" --inner' "$0"
  fi
  note "note: unshare -n failed (not root, or no namespace support): running in the normal network namespace"
  exec bash "$0" --inner
fi

# ----- inner: the tests, in whatever namespace we got -----
cd "$here"
BIN=${TELESFU_BIN:?}
logdir=$(mktemp -d "${TMPDIR:-/tmp}/telesfu-browser-ci.XXXXXX")
server_pid=""

stop_server() {
  [ -n "$server_pid" ] || return 0
  if kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$server_pid" 2>/dev/null; then
      echo "warning: the server did not exit 5 s after SIGTERM; killing it" >&2
      kill -KILL "$server_pid" 2>/dev/null || true
    fi
  fi
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}
cleanup() {
  stop_server
  rm -rf "$logdir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

status=0
summary=()
# run NAME SECONDS CMD...: runs a node test with a time bound and checks its verdict line.
run() {
  local name=$1 secs=$2 rc=0 t0=$SECONDS line
  shift 2
  printf '\n--- %s\n' "$name"
  timeout -k 10 "$secs" "$@" 2>&1 | tee "$logdir/$name.out" || rc=${PIPESTATUS[0]}
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$logdir/$name.out" | tail -n1 || true)
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    line="timed out after $secs s${line:+ ($line)}"
    rc=1
  fi
  if [ "$rc" != 0 ] || ! [[ "$line" =~ ^[1-9][0-9]*\ passed,\ 0\ failed$ ]]; then
    status=1
    summary+=("FAIL $name: ${line:-no verdict line} (exit $rc, $((SECONDS - t0)) s)")
  else
    summary+=("ok   $name: $line ($((SECONDS - t0)) s)")
  fi
}

want() { [ -z "${BROWSER_TESTS:-}" ] || [[ " $BROWSER_TESTS " == *" $1 "* ]]; }

# start_server NAME ARGS...: a server on the first free port from 18080, for one test; sets
# $port and $server_pid, and returns non-zero when it does not come up within 30 s.
start_server() {
  local name=$1
  shift
  port=18080
  while port_busy "$port"; do
    port=$((port + 1))
    [ "$port" -lt 18180 ] || { echo "error: no free port in 18080-18179" >&2; return 1; }
  done
  printf '\n--- server for %s on 127.0.0.1:%s\n' "$name" "$port"
  server_log="$logdir/server-$name.log"
  "$BIN" --http "127.0.0.1:$port" --media 127.0.0.1:0 "$@" >"$server_log" 2>&1 &
  server_pid=$!
  for _ in $(seq 150); do
    if grep -q '^telesfu is running' "$server_log"; then
      grep '^telesfu is running' "$server_log"
      return 0
    fi
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.2
  done
  return 1
}

# with_server NAME SECONDS [SERVER ARGS...] -- CMD...: runs one test against its own server.
with_server() {
  local name=$1 secs=$2 sargs=() before=${#summary[@]}
  shift 2
  while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do sargs+=("$1"); shift; done
  shift
  if start_server "$name" "${sargs[@]}"; then
    run "$name" "$secs" env TELESFU_URL="http://127.0.0.1:$port" "$@"
  else
    status=1
    summary+=("FAIL $name: the server did not start within 30 s")
  fi
  stop_server
  if [[ "${summary[$before]}" == FAIL* ]] && [ -f "$server_log" ]; then
    echo "--- $name: server log (last 60 lines)"
    tail -n 60 "$server_log" || true
  fi
}

if want sframe-vectors; then run sframe-vectors 120 node sframe-vectors.mjs; fi
if want worker-loopback; then run worker-loopback 180 node worker-loopback.mjs; fi
if want page-smoke; then run page-smoke 240 node page-smoke.mjs; fi
if want e2e; then with_server e2e 420 --record-frames 300 --debug-api true -- node e2e.mjs; fi
# The impairment relay first (the instrument links.mjs measures with), then the links: eight
# calls of about 25 s each (join, 5 s warm-up, 10 s window, up to 10 s after the lift).
if want relay-check; then run relay-check 90 node relay-check.mjs; fi
if want links; then
  links_args=()
  [ -z "${LINKS_REPORT:-}" ] || links_args=(--report "$LINKS_REPORT")
  with_server links 540 --debug-api true -- node links.mjs "${links_args[@]}"
fi

printf '\n--- browser tests\n'
printf '%s\n' "${summary[@]}"
exit "$status"
