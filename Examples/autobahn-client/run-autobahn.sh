#!/bin/bash
# Runs Autobahn|Testsuite's fuzzingserver on 127.0.0.1 against autobahn-client, then prints the
# summary of its report. Called by `make autobahn`; see AUTOBAHN.md.
#
# Environment:
#   CLIENT                 the autobahn-client executable (required)
#   AUTOBAHN_VENV          the Python 2.7 virtualenv with autobahntestsuite; created when missing
#                          (default: .autobahn-venv beside the repository, never inside it)
#   AUTOBAHN_PYTHON2       the Python 2.7 interpreter to create it with (default: python2.7 on
#                          PATH, else the newest pyenv 2.7)
#   AUTOBAHN_CASES         the spec's case patterns, comma-separated (default "*": all 517)
#   AUTOBAHN_DEFLATE       1 (default) to offer permessage-deflate (cases 12.* and 13.*), 0 not to
#   AUTOBAHN_CASE_TIMEOUT  the client's deadline per case in seconds (default 120)
#   AUTOBAHN_REPORT_DIR    where the reports go (default: a new temporary directory, kept)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
: "${CLIENT:?CLIENT must name the autobahn-client executable}"
venv="${AUTOBAHN_VENV:-$(dirname "$repo")/.autobahn-venv}"
cases="${AUTOBAHN_CASES:-*}"
deflate="${AUTOBAHN_DEFLATE:-1}"
case_timeout="${AUTOBAHN_CASE_TIMEOUT:-120}"
# The versions this was run with (AUTOBAHN.md); autobahntestsuite pins its own dependencies.
suite_version="25.10.1"
virtualenv_version="16.7.12"

case "$venv/" in
  "$repo"/*) echo "AUTOBAHN_VENV must be outside the repository ($venv)" >&2; exit 2 ;;
esac

# ---- The virtualenv -------------------------------------------------------------------------
if [ ! -x "$venv/bin/wstest" ]; then
  python2="${AUTOBAHN_PYTHON2:-}"
  if [ -z "$python2" ]; then
    python2="$(command -v python2.7 || true)"
    [ -n "$python2" ] || python2="$(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/2.7.*/bin/python 2>/dev/null | sort -V | tail -n 1)"
  fi
  if [ -z "$python2" ] || ! "$python2" -c 'import sys; sys.exit(sys.version_info[:2] != (2, 7))' 2>/dev/null; then
    echo "autobahntestsuite needs Python 2.7: set AUTOBAHN_PYTHON2 (none found on PATH or under pyenv)" >&2
    exit 1
  fi
  echo "Creating $venv with $python2 and autobahntestsuite $suite_version"
  tools="$(mktemp -d)"
  "$python2" -m pip install -q --disable-pip-version-check --target "$tools" "virtualenv==$virtualenv_version"
  PYTHONPATH="$tools" "$python2" -m virtualenv -q "$venv"
  rm -rf "$tools"
  "$venv/bin/pip" install -q --disable-pip-version-check "autobahntestsuite==$suite_version"
fi

# ---- The spec, in a temporary directory ------------------------------------------------------
work="$(mktemp -d /tmp/autobahn.XXXXXX)"
reports="${AUTOBAHN_REPORT_DIR:-$work/reports}"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
python3 - "$work/fuzzingserver.json" "$port" "$reports" "$cases" <<'EOF'
import json, sys
path, port, outdir, cases = sys.argv[1:]
spec = {"url": "ws://127.0.0.1:%s" % port, "outdir": outdir,
        "cases": [c.strip() for c in cases.split(",") if c.strip()],
        "exclude-cases": [], "exclude-agent-cases": {}}
json.dump(spec, open(path, "w"), indent=2)
EOF

# ---- The server, on loopback only -----------------------------------------------------------
(cd "$work" && exec "$venv/bin/python" "$here/fuzzingserver.py" "$work/fuzzingserver.json") >"$work/server.log" 2>&1 &
server=$!
stop_server() {
  if kill -0 "$server" 2>/dev/null; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
}
trap stop_server EXIT
trap "exit 130" INT
trap "exit 143" TERM

for _ in $(seq 300); do
  if python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$port" 2>/dev/null; then
    break
  fi
  kill -0 "$server" 2>/dev/null || { echo "the fuzzingserver did not start:" >&2; cat "$work/server.log" >&2; exit 1; }
  sleep 0.1
done
# Every socket the server listens on must be on 127.0.0.1.
listening="$(ss -Hltnp 2>/dev/null | grep "pid=$server," | awk '{print $4}' || true)"
echo "fuzzingserver (pid $server) listening on: ${listening:-?}; spec and log in $work"
if [ -z "$listening" ] || echo "$listening" | grep -qv '^127\.0\.0\.1:'; then
  echo "the fuzzingserver listens beyond 127.0.0.1 (or could not be checked); stopping" >&2
  exit 1
fi

# ---- The client -----------------------------------------------------------------------------
client_args=(--server "ws://127.0.0.1:$port" --agent AsyncCurl --case-timeout "$case_timeout")
[ "$deflate" = 1 ] && client_args+=(--deflate)
client_status=0
"$CLIENT" "${client_args[@]}" || client_status=$?
stop_server
trap - EXIT

echo
python3 "$here/summarize.py" "$reports/index.json" AsyncCurl || summary_status=$?
echo "Reports: $reports (index.html, index.json)"
[ "$client_status" = 0 ] || exit "$client_status"
exit "${summary_status:-0}"
