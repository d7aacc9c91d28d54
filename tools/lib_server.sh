# Sourced by quickstart.sh and the benchmark scripts: start_server BUNDLE [i2s-server flags...]
# starts i2s-server on free ports in a temporary directory $RUN and sets
# SERVER (pid) and PORT (gRPC); the server is stopped and $RUN removed on
# exit. Needs BUILD.
start_server() {
  local bundle="$1"; shift
  export OPENBLAS_NUM_THREADS=1
  RUN="$(mktemp -d)"
  trap 'kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; rm -rf "$RUN"' EXIT
  "$BUILD/server/i2s-server" --bundle="$bundle" --listen=127.0.0.1:0 --metrics_listen= --http_listen= \
    --port_file="$RUN/ports.json" "$@" >"$RUN/server.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 1200); do
    [ -s "$RUN/ports.json" ] && break
    kill -0 "$SERVER" 2>/dev/null || { cat "$RUN/server.log"; exit 1; }
    sleep 0.1
  done
  [ -s "$RUN/ports.json" ] || { echo "server did not start" >&2; cat "$RUN/server.log"; exit 1; }
  PORT=$(sed -E 's/.*"grpc_port": *([0-9]+).*/\1/' "$RUN/ports.json")
}
