#!/usr/bin/env bash
# A highly available store you can try (SPEC §10): etcd and two Patroni-managed PostgreSQL
# servers (synchronous replication) on loopback, two argus-ops nodes on a two-host store URL, an
# agent with a live session; then the primary's host dies (kill -9 of Patroni, the postmaster
# and every backend), Patroni promotes the standby, and commands are served again by both nodes
# with the audit chain intact. Finally the old primary comes back as a standby (pg_rewind).
#
#   scripts/ha-demo.sh                 # builds the release binaries first
#   BIN=target/debug scripts/ha-demo.sh
#
# Needs Debian's postgresql, patroni and etcd-server packages (installed when missing, as root
# or with sudo) and python3. Everything lives in a temporary directory, stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
need=()
command -v patroni >/dev/null 2>&1 || need+=(patroni)
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
command -v pg_config >/dev/null 2>&1 || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

BIN=${BIN:-target/release}
if [ "$BIN" = target/release ]; then cargo build --release --bins -q; fi
PGBIN=$(pg_config --bindir 2>/dev/null || ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)

WORK=$(mktemp -d /tmp/argus-ha-demo.XXXXXX)
chmod 755 "$WORK"
PIDS=()
declare -A PATRONI_PID PG_PORT REST_PORT
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  pkill -f "patroni $WORK/" 2>/dev/null || true
  sleep 1
  for m in m1 m2; do
    as_pg "$PGBIN/pg_ctl" -D "$WORK/$m/data" -m immediate stop >/dev/null 2>&1 || true
  done
  [ -n "${ETCD_PID:-}" ] && kill "$ETCD_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# PostgreSQL (and so Patroni) refuses to run as root: run them as `postgres` then.
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
secret() { head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
http_status() { python3 - "$1" <<'PY'
import sys, urllib.request, urllib.error
try:
    print(urllib.request.urlopen(sys.argv[1], timeout=1).status)
except urllib.error.HTTPError as e:
    print(e.code)
except Exception:
    print(0)
PY
}
now_ms() { date +%s%3N; }

step "etcd on loopback (the consensus store Patroni keeps its leader key in)"
ETCD_CLIENT=$(free_port); ETCD_PEER=$(free_port)
etcd --name demo --data-dir "$WORK/etcd" \
  --listen-client-urls "http://127.0.0.1:$ETCD_CLIENT" --advertise-client-urls "http://127.0.0.1:$ETCD_CLIENT" \
  --listen-peer-urls "http://127.0.0.1:$ETCD_PEER" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER" \
  --initial-cluster "demo=http://127.0.0.1:$ETCD_PEER" > "$WORK/etcd.log" 2>&1 &
ETCD_PID=$!
for _ in $(seq 100); do [ "$(http_status "http://127.0.0.1:$ETCD_CLIENT/health")" = 200 ] && break; sleep 0.1; done
echo "etcd on 127.0.0.1:$ETCD_CLIENT"

step "two PostgreSQL members under Patroni (synchronous replication, deploy/patroni/patroni.yml.in)"
REPL=$(secret); SUPER=$(secret); REWIND=$(secret); ARGUS_DB_PASSWORD=$(secret)
if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$WORK"; fi
start_member() {
  local m=$1
  as_pg patroni "$WORK/$m.yml" > "$WORK/$m.log" 2>&1 &
  PATRONI_PID[$m]=$!
}
for m in m1 m2; do
  PG_PORT[$m]=$(free_port); REST_PORT[$m]=$(free_port)
  sed -e "s|@NAME@|$m|g" -e "s|@REST_PORT@|${REST_PORT[$m]}|g" -e "s|@PG_PORT@|${PG_PORT[$m]}|g" \
      -e "s|@ETCD@|127.0.0.1:$ETCD_CLIENT|g" -e "s|@DATA@|$WORK/$m/data|g" -e "s|@PGBIN@|$PGBIN|g" \
      -e "s|@WORK@|$WORK|g" -e "s|@REPL_PASSWORD@|$REPL|g" -e "s|@SUPER_PASSWORD@|$SUPER|g" \
      -e "s|@REWIND_PASSWORD@|$REWIND|g" -e "s|@TTL@|10|g" -e "s|@LOOP_WAIT@|1|g" \
      -e "s|@RETRY_TIMEOUT@|4|g" -e "s|@STRICT@|false|g" deploy/patroni/patroni.yml.in > "$WORK/$m.yml"
  mkdir -p "$WORK/$m"; chmod 700 "$WORK/$m"
  if [ "$(id -u)" -eq 0 ]; then chown -R postgres:postgres "$WORK/$m" "$WORK/$m.yml"; fi
done
start_member m1
leader() { for m in m1 m2; do [ "$(http_status "http://127.0.0.1:${REST_PORT[$m]}/primary")" = 200 ] && { echo "$m"; return; }; done; echo none; }
for _ in $(seq 300); do [ "$(leader)" = m1 ] && break; sleep 0.2; done
[ "$(leader)" = m1 ] || { echo "Patroni never made m1 the primary"; tail -20 "$WORK/m1.log"; exit 1; }
start_member m2
sync_standby() { python3 - "http://127.0.0.1:${REST_PORT[$(leader)]:-0}/cluster" <<'PY'
import json, sys, urllib.request
try:
    members = json.load(urllib.request.urlopen(sys.argv[1], timeout=1))["members"]
    print(sum(1 for m in members if m.get("role") in ("sync_standby",) and m.get("state") in ("running", "streaming")))
except Exception:
    print(0)
PY
}
for _ in $(seq 300); do [ "$(sync_standby)" = 1 ] && break; sleep 0.2; done
[ "$(sync_standby)" = 1 ] || { echo "m2 never became the synchronous standby"; tail -20 "$WORK/m2.log"; exit 1; }
as_pg patronictl -c "$WORK/m1.yml" list
PGPASSWORD=$SUPER psql -h 127.0.0.1 -p "${PG_PORT[m1]}" -U postgres -d postgres -qc \
  "CREATE ROLE argus LOGIN PASSWORD '$ARGUS_DB_PASSWORD'" -c "CREATE DATABASE argus OWNER argus"

# Both hosts, as libpq writes them: a node writes to whichever is the writable primary.
export ARGUS_STORE="postgres://argus:$ARGUS_DB_PASSWORD@127.0.0.1:${PG_PORT[m1]},127.0.0.1:${PG_PORT[m2]}/argus?sslmode=disable&connect_timeout=2"
echo "store: postgres://argus:***@127.0.0.1:${PG_PORT[m1]},127.0.0.1:${PG_PORT[m2]}/argus?sslmode=disable&connect_timeout=2"

export REMOTE_SUPPORT_ENABLED=1 REMOTE_SUPPORT_OPERATOR_CIDRS=127.0.0.1/32 ARGUS_OPS_TOKEN=demo-ops-token
step "two argus-ops nodes on the two-host URL"
FOUNDED=$("$BIN/argus-ops" init --data-dir "$WORK/n1" --json)
ADMIN=$(echo "$FOUNDED" | json 'd["admin_pat"]')
ARGUS_CLUSTER_SECRET=$(echo "$FOUNDED" | json 'd["cluster_secret"]') "$BIN/argus-ops" init --data-dir "$WORK/n2" --json >/dev/null
declare -A API AGENT
for n in 1 2; do
  "$BIN/argus-ops" serve --data-dir "$WORK/n$n" --api-listen 127.0.0.1:0 --agent-listen 127.0.0.1:0 > "$WORK/n$n.log" 2>&1 &
  PIDS+=($!)
done
for n in 1 2; do
  for _ in $(seq 100); do [ -s "$WORK/n$n/run/addresses.json" ] && break; sleep 0.1; done
  API[$n]=$(json 'd["api"]' < "$WORK/n$n/run/addresses.json")
  AGENT[$n]=$(json 'd["agent"]' < "$WORK/n$n/run/addresses.json")
done
export ARGUS_CA_CERT="$WORK/n1/tls/ca.pem"
ctl() { local n=$1; shift; ARGUS_SERVER="https://${API[$n]}" "$BIN/argusctl" "$@"; }
ARGUS_PAT=$ADMIN ctl 1 cluster ls

step "a tenant, an agent, a live session"
"$BIN/argusctl" keygen --out "$WORK/tenant" >/dev/null
"$BIN/argusctl" keygen --out "$WORK/patch" >/dev/null
ARGUS_PAT=$ADMIN ctl 1 tenant create ACME --consent-key "$WORK/tenant.pub" >/dev/null
"$BIN/argusctl" consent sign --key "$WORK/tenant.key" --tenant ACME --signer "Jane Roe" --out "$WORK/consent.json"
ARGUS_PAT=$ADMIN ctl 1 tenant consent ACME --file "$WORK/consent.json" >/dev/null
ARGUS_PAT=$ADMIN ctl 2 tenant arm ACME --reason demo >/dev/null
export ARGUS_PAT=$(ARGUS_PAT=$ADMIN ctl 1 --json pat create --owner op@example.com --scope remote_support | json 'd["pat"]')
root="$WORK/agent"; mkdir -p "$root/crashes"; echo "poll: 5" > "$root/config.yaml"
seq 1 50 | sed 's/^/line /' > "$root/argus.log"; echo 1.0 > "$root/version.txt"
token=$(ARGUS_PAT=$ADMIN ctl 1 --json agent enroll-token agent-1 --tenant ACME | json 'd["token"]')
"$BIN/argus-agent" enroll --install-root "$root" --server "${AGENT[1]},${AGENT[2]}" --server-ca "$ARGUS_CA_CERT" \
  --tenant ACME --agent-id agent-1 --token "$token" --patch-pubkey "$WORK/patch.pub" >/dev/null
ARGUS_AGENT_INSTALL_ROOT="$root" "$BIN/argus-agent" run --install-root "$root" > "$WORK/agent.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 200); do
  [ "$(ctl 1 --json agent ls --tenant ACME | json '[a["online"] for a in d["agents"]][0]')" = True ] && break; sleep 0.1
done
SESSION=$(ctl 1 --json agent activate agent-1 --tenant ACME --reason "ha demo" | json 'd["session_token"]')
ctl 2 support command ACME --session "$SESSION" --command ping

step "the primary's host dies: kill -9 of Patroni, the postmaster and every backend on $(leader)"
OLD=$(leader)
POSTMASTER=$(head -1 "$WORK/$OLD/data/postmaster.pid")
KILLED_AT=$(now_ms)
# Patroni itself (not the runuser wrapper), the postmaster and its children, at once.
kill -9 $(pgrep -f "patroni $WORK/$OLD.yml" || true) "$POSTMASTER" $(pgrep -P "$POSTMASTER" || true) 2>/dev/null || true
echo "killed $OLD; Patroni promotes the standby once the leader key expires (ttl 10 s)"
until ctl 1 --json support command ACME --session "$SESSION" --command ping >/dev/null 2>&1; do sleep 0.2; done
BACK=$(now_ms)
echo "node 1 ran a command $(( (BACK - KILLED_AT) ))ms after the kill; the primary is now $(leader)"
until ctl 2 --json support command ACME --session "$SESSION" --command ping >/dev/null 2>&1; do sleep 0.2; done
echo "node 2 ran a command $(( ($(now_ms) - KILLED_AT) ))ms after the kill"
for i in $(seq 1 5); do ctl $(( i % 2 + 1 )) --json support command ACME --session "$SESSION" --command ping > /dev/null; done
echo "five more commands through both nodes: served"

step "the chain is one, intact, on the new primary"
"$BIN/argus-ops" audit verify
ARGUS_PAT=$ADMIN ctl 1 audit ls --limit 5

step "the old primary comes back as a standby of the new one (pg_rewind)"
start_member "$OLD"
for _ in $(seq 300); do [ "$(sync_standby)" = 1 ] && break; sleep 0.2; done
as_pg patronictl -c "$WORK/m1.yml" list
