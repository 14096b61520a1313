#!/usr/bin/env bash
# Load test on loopback: remote-write-sized POSTs (10 KiB, snappy content type) and small GETs,
# sent by wrk straight to an nginx upstream, then through the gateway (release build) to the same
# nginx. Prints requests/s and latency for both, so the gateway's cost can be read off. Bounded:
# each run lasts DURATION (default 10s). Needs wrk and nginx (apt-get install wrk nginx-light).
#
#   benches/load.sh            # or: DURATION=30s CONNECTIONS=64 THREADS=2 benches/load.sh
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-1}
GATEWAY_WORKERS=${GATEWAY_WORKERS:-1}
SECRET="load-test-secret-0123456789abcdef0123456789"

for tool in wrk nginx; do
  command -v "$tool" >/dev/null || { echo "needs $tool: apt-get install wrk nginx-light" >&2; exit 1; }
done

work=$(mktemp -d)
cleanup() {
  [ -n "${gateway_pid:-}" ] && kill "$gateway_pid" 2>/dev/null || true
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
upstream_port=$(free_port)
gateway_port=$(free_port)

# The upstream: answers a push with 204 (as Cortex's distributor does) and a query with JSON.
cat > "$work/nginx.conf" <<NGINX
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_buffer_size 64k;
  client_body_temp_path $work;
  proxy_temp_path $work; fastcgi_temp_path $work; uwsgi_temp_path $work; scgi_temp_path $work;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$upstream_port;
    location = /api/v1/push { return 204; }
    location /prometheus/ { default_type application/json; return 200 '{"status":"success","data":{"resultType":"vector","result":[]}}'; }
  }
}
NGINX
nginx -c "$work/nginx.conf"

cargo build --release --locked --quiet
cat > "$work/gateway.toml" <<TOML
[server]
http_listen_address = "127.0.0.1"
http_listen_port = $gateway_port
workers = $GATEWAY_WORKERS
[auth]
jwt_secret = "$SECRET"
[upstreams.distributor]
address = "http://127.0.0.1:$upstream_port"
[upstreams.query_frontend]
address = "http://127.0.0.1:$upstream_port"
[log]
level = "warn"
access_log = false
TOML
./target/release/cortex-gateway -config.file "$work/gateway.toml" 2>"$work/gateway.log" &
gateway_pid=$!
token=$(./target/release/cortex-gateway -config.file "$work/gateway.toml" token --tenant load-test --ttl 1h)
for _ in $(seq 50); do
  ./target/release/cortex-gateway probe "http://127.0.0.1:$gateway_port/health" 2>/dev/null && break
  sleep 0.1
done

head -c 10240 /dev/urandom > "$work/body"
cat > "$work/push.lua" <<LUA
local f = io.open("$work/body", "rb"); local body = f:read("*all"); f:close()
wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/x-protobuf"
wrk.headers["Content-Encoding"] = "snappy"
wrk.headers["X-Prometheus-Remote-Write-Version"] = "0.1.0"
wrk.headers["Authorization"] = "Bearer $token"
LUA
cat > "$work/query.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $token"
LUA

run() { # name url script
  local out
  out=$(wrk --latency -t "$THREADS" -c "$CONNECTIONS" -d "$DURATION" -s "$3" "$2")
  local rps p50 p99 errors
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  errors=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out" | tr '\n' ' ')
  printf '%-28s %12s req/s   p50 %-9s p99 %-9s %s\n' "$1" "$rps" "$p50" "$p99" "${errors:-no errors}"
}

echo "wrk: $THREADS thread(s), $CONNECTIONS connections, $DURATION per run; gateway workers: $GATEWAY_WORKERS; $(nproc) cores shared by all"
run "push 10KiB, direct"        "http://127.0.0.1:$upstream_port/api/v1/push" "$work/push.lua"
run "push 10KiB, via gateway"   "http://127.0.0.1:$gateway_port/api/v1/push" "$work/push.lua"
run "query, direct"             "http://127.0.0.1:$upstream_port/prometheus/api/v1/query?query=up" "$work/query.lua"
run "query, via gateway"        "http://127.0.0.1:$gateway_port/prometheus/api/v1/query?query=up" "$work/query.lua"
echo "gateway resident memory: $(awk '/VmRSS/ {print $2, $3}' /proc/$gateway_pid/status) (peak $(awk '/VmHWM/ {print $2, $3}' /proc/$gateway_pid/status))"
