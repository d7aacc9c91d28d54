#!/usr/bin/env bash
# The deployment for real (CTest label `container`): builds deploy/Dockerfile with the machine's
# container engine, runs the image as an operator would, brings up docker-compose.yml, and tears
# everything down again.
#
#   tests/deploy/container_test.sh REPO BUILD_DIR
#
# Image: build time and size; HEALTHCHECK passes; Recommend over gRPC and POST /v1/recommend
# over HTTP from outside return songs for a sample photo; uid 10001; read-only root; SIGTERM
# stops it with exit 0 within the grace period.
# Compose (podman-compose, or docker compose): the index job writes the bundle, the server waits
# for it and serves, Prometheus (deploy/compose.debian.yml: Debian's package, where the upstream
# image cannot be pulled) scrapes it, and i2s_requests_total is read back through Prometheus'
# HTTP API. Grafana is not started (no image can be pulled here).
# Leaves no containers, volumes or networks behind. Exit 77 (skipped) without an engine.
# Podman runs with runc and without default ulimits (containers.conf written to BUILD_DIR:
# crun refuses this machine's hybrid cgroup layout, and setrlimit is refused in its sandbox).
set -euo pipefail
REPO="$(cd "$1" && pwd)"; BUILD="$(cd "$2" && pwd)"
SHARED="${I2S_SHARED:-$REPO/../shared}"
IMAGE="image2song/i2s-server:ctest"
NAME="i2s-ctest-$$"
PROJECT="i2s-ctest"
SAMPLE="${I2S_CACHE:-$HOME/.cache/image2song}/samples/china.jpg"
log() { echo "container_test: $*"; }
fail() { echo "container_test: FAILED: $*" >&2; exit 1; }

if command -v podman >/dev/null 2>&1; then
  ENGINE=podman
  CONF="$BUILD/containers-test.conf"
  {
    printf '[containers]\ndefault_ulimits = []\n'
    if command -v runc >/dev/null 2>&1; then printf '[engine]\nruntime = "runc"\n'; fi
  } >"$CONF"
  export CONTAINERS_CONF="$CONF"
  podman info >/dev/null 2>&1 || { log "podman does not run here: skipped"; exit 77; }
  if command -v podman-compose >/dev/null 2>&1; then COMPOSE=(podman-compose); else COMPOSE=(); fi
elif command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
  ENGINE=docker
  if docker compose version >/dev/null 2>&1; then COMPOSE=(docker compose); else COMPOSE=(); fi
else
  log "no container engine (podman, or docker with a daemon): skipped"; exit 77
fi
[ -d "$SHARED/data/catalog" ] || { log "no demo catalogue in $SHARED: skipped"; exit 77; }
[ -f "$SAMPLE" ] || { log "no sample photo $SAMPLE (tools/assets/setup_assets.sh): skipped"; exit 77; }
CLIENT="$BUILD/client/i2s-client"

COMPOSE_FILES=(-f "$REPO/docker-compose.yml" -f "$REPO/deploy/compose.debian.yml")
cleanup() {
  set +e
  "$ENGINE" rm -f -t 0 "$NAME" >/dev/null 2>&1
  if [ ${#COMPOSE[@]} -gt 0 ]; then
    (cd "$REPO" && "${COMPOSE[@]}" -p "$PROJECT" "${COMPOSE_FILES[@]}" down -v >/dev/null 2>&1)
    remove_networks
  fi
}
# podman-compose 1.0.3's `down` leaves the project's network: removed here (docker compose
# removes it itself).
remove_networks() {
  local n
  for n in $("$ENGINE" network ls --format '{{.Name}}' | grep -E "^${PROJECT}_" || true); do
    "$ENGINE" network rm "$n" >/dev/null 2>&1 || true
  done
}
trap cleanup EXIT

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_healthy() {  # CONTAINER SECONDS
  local deadline=$((SECONDS + $2))
  while [ $SECONDS -lt $deadline ]; do
    if [ "$ENGINE" = podman ]; then
      podman healthcheck run "$1" >/dev/null 2>&1 && return 0
    else
      [ "$(docker inspect --format '{{.State.Health.Status}}' "$1")" = healthy ] && return 0
    fi
    sleep 2
  done
  return 1
}
# An HTTP/gRPC answer with songs: the JSON has a non-empty matches list.
has_songs() { /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
m = d.get("matches") or d.get("response", {}).get("matches") or []
print(len(m), "songs, first:", m[0].get("title") if m else None)
sys.exit(0 if m else 1)'; }

# --- base images and the build -----------------------------------------------------------------
"$REPO/tools/deploy/container_base.sh" --engine="$ENGINE"
log "building deploy/Dockerfile (a cold layer cache compiles everything: many minutes)"
T0=$SECONDS
BUILD_ARGS=(build -f "$REPO/deploy/Dockerfile" -t "$IMAGE" -t image2song/i2s-server:0.1.0
            --build-context "shared=$SHARED")
# podman: Docker's image format (OCI images have no HEALTHCHECK), the host's network for the
# build's downloads.
[ "$ENGINE" = podman ] && BUILD_ARGS+=(--format=docker --network=host)
# The machine's CA bundle for the set-up step's downloads (a TLS-intercepting proxy; a build
# secret, kept in no layer).
CA="${I2S_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
[ -s "$CA" ] && BUILD_ARGS+=(--secret "id=ca_bundle,src=$CA")
"$ENGINE" "${BUILD_ARGS[@]}" "$REPO" >"$BUILD/container-build.log" 2>&1 || {
  tail -40 "$BUILD/container-build.log" >&2; fail "image build (log: $BUILD/container-build.log)"; }
BUILD_S=$((SECONDS - T0))
SIZE=$("$ENGINE" image inspect --format '{{.Size}}' "$IMAGE")
log "image built in ${BUILD_S} s, $((SIZE / 1000000)) MB"

# --- the image on its own ----------------------------------------------------------------------
GRPC=$(free_port); HTTP=$(free_port)
"$ENGINE" run -d --name "$NAME" --read-only --tmpfs /tmp \
  -p "127.0.0.1:$GRPC:50051" -p "127.0.0.1:$HTTP:8080" "$IMAGE" >/dev/null
T0=$SECONDS
wait_healthy "$NAME" 180 || { "$ENGINE" logs "$NAME" | tail -30 >&2; fail "HEALTHCHECK did not pass in 180 s"; }
log "HEALTHCHECK passes ($((SECONDS - T0)) s after start)"
[ "$("$ENGINE" exec "$NAME" id -u)" = 10001 ] || fail "the server does not run as uid 10001"
[ "$("$ENGINE" inspect --format '{{.HostConfig.ReadonlyRootfs}}' "$NAME")" = true ] || fail "root filesystem not read-only"
if "$ENGINE" exec "$NAME" sh -c 'touch /usr/local/bin/x' 2>/dev/null; then fail "root filesystem is writable"; fi
log "runs as uid 10001 on a read-only root"
OUT=$("$CLIENT" --server="127.0.0.1:$GRPC" --json --top_k=5 recommend "$SAMPLE") || fail "gRPC Recommend: $OUT"
echo "$OUT" | has_songs | sed 's/^/container_test: gRPC Recommend: /' || fail "gRPC Recommend returned no songs: $OUT"
OUT=$(curl -sS --fail-with-body --data-binary "@$SAMPLE" -H 'Content-Type: image/jpeg' \
      "http://127.0.0.1:$HTTP/v1/recommend?top_k=5") || fail "POST /v1/recommend: $OUT"
echo "$OUT" | has_songs | sed 's/^/container_test: POST \/v1\/recommend: /' || fail "HTTP returned no songs: $OUT"
T0=$SECONDS
"$ENGINE" stop -t 30 "$NAME" >/dev/null
STOP_S=$((SECONDS - T0))
CODE=$("$ENGINE" inspect --format '{{.State.ExitCode}}' "$NAME")
[ "$CODE" = 0 ] || { "$ENGINE" logs "$NAME" | tail -20 >&2; fail "exit code $CODE after SIGTERM"; }
[ $STOP_S -lt 30 ] || fail "SIGTERM took ${STOP_S} s (the grace period is 30 s)"
log "SIGTERM: exit 0 in ${STOP_S} s"
"$ENGINE" rm "$NAME" >/dev/null

# --- the Compose stack -------------------------------------------------------------------------
if [ ${#COMPOSE[@]} -eq 0 ]; then
  fail "no compose tool (podman-compose or docker compose) to run docker-compose.yml with"
fi
cd "$REPO"
export I2S_SHARED="$SHARED"
log "compose up: ${COMPOSE[*]} i2s-index i2s-server prometheus"
"${COMPOSE[@]}" -p "$PROJECT" "${COMPOSE_FILES[@]}" build prometheus >"$BUILD/compose.log" 2>&1 || {
  tail -30 "$BUILD/compose.log" >&2; fail "building the Prometheus image"; }
"${COMPOSE[@]}" -p "$PROJECT" "${COMPOSE_FILES[@]}" up -d i2s-index i2s-server prometheus \
  >>"$BUILD/compose.log" 2>&1 || { tail -30 "$BUILD/compose.log" >&2; fail "compose up"; }
SERVER=$("$ENGINE" ps -a --format '{{.Names}}' | grep -E "^${PROJECT}[_-]i2s-server[_-]1$" | head -1)
INDEXER=$("$ENGINE" ps -a --format '{{.Names}}' | grep -E "^${PROJECT}[_-]i2s-index[_-]1$" | head -1)
[ -n "$SERVER" ] && [ -n "$INDEXER" ] || fail "compose did not create the containers: $("$ENGINE" ps -a --format '{{.Names}}')"
wait_healthy "$SERVER" 240 || { "$ENGINE" logs "$INDEXER" | tail -10 >&2; "$ENGINE" logs "$SERVER" | tail -30 >&2; fail "compose: the server did not become healthy"; }
[ "$("$ENGINE" inspect --format '{{.State.ExitCode}}' "$INDEXER")" = 0 ] || fail "the index job failed"
"$ENGINE" logs "$INDEXER" 2>&1 | grep -E "songs|wrote|bundle" | tail -2 | sed 's/^/container_test: i2s-index: /'
"$ENGINE" logs "$SERVER" 2>&1 | grep -E "loaded bundle|serving" | tail -2 | sed 's/^/container_test: i2s-server: /'
for _ in 1 2 3; do
  "$CLIENT" --server=127.0.0.1:50051 --json --top_k=3 recommend "$SAMPLE" | has_songs >/dev/null \
    || fail "compose: gRPC Recommend on 127.0.0.1:50051"
done
log "compose: the server answers Recommend on 127.0.0.1:50051"
QUERY='http://127.0.0.1:9090/api/v1/query?query=sum(i2s_requests_total)'
deadline=$((SECONDS + 90)); VALUE=""
while [ $SECONDS -lt $deadline ]; do
  VALUE=$(curl -s "$QUERY" | /usr/bin/python3 -c '
import json, sys
r = json.load(sys.stdin)["data"]["result"]
print(r[0]["value"][1] if r else "")' 2>/dev/null || true)
  [ -n "$VALUE" ] && [ "${VALUE%.*}" -ge 3 ] 2>/dev/null && break
  sleep 3
done
[ -n "$VALUE" ] && [ "${VALUE%.*}" -ge 3 ] || fail "Prometheus did not report i2s_requests_total >= 3 (got '$VALUE')"
log "compose: Prometheus scraped sum(i2s_requests_total) = $VALUE"
"${COMPOSE[@]}" -p "$PROJECT" "${COMPOSE_FILES[@]}" down -v >>"$BUILD/compose.log" 2>&1
remove_networks
LEFT=$("$ENGINE" ps -a --format '{{.Names}}' | grep -E "^$PROJECT|^$NAME" || true)
LEFT+=$("$ENGINE" volume ls --format '{{.Name}}' | grep -E "^${PROJECT}" || true)
LEFT+=$("$ENGINE" network ls --format '{{.Name}}' | grep -E "^${PROJECT}" || true)
[ -z "$LEFT" ] || fail "left behind: $LEFT"
log "compose down: no containers, volumes or networks left"
log "PASSED (image build ${BUILD_S} s, image $((SIZE / 1000000)) MB)"
