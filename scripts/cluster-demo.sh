#!/usr/bin/env bash
# A cluster you can try (SPEC §10): a throwaway PostgreSQL and three argus-ops nodes on loopback,
# two agents enrolled across them, a command routed through a node that does not hold its agent,
# then the holding node killed (kill -9) and the agents shown moving to the survivors.
#
#   scripts/cluster-demo.sh            # builds the release binaries first
#   BIN=target/debug scripts/cluster-demo.sh
#
# Everything lives in a temporary directory and is stopped on exit. Needs PostgreSQL's server
# binaries (Debian: apt-get install postgresql) and python3 (to read JSON).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-target/release}
if [ "$BIN" = target/release ]; then cargo build --release --bins -q; fi
PGBIN=$(pg_config --bindir 2>/dev/null || ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)

WORK=$(mktemp -d /tmp/argus-cluster-demo.XXXXXX)
PIDS=()
declare -A NODE_PID API AGENT
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  as_pg "$PGBIN/pg_ctl" -D "$WORK/pg" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# PostgreSQL refuses to run as root: run it as `postgres` then.
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "a throwaway PostgreSQL on loopback"
PGPASS=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
echo "$PGPASS" > "$WORK/pwfile"
if [ "$(id -u)" -eq 0 ]; then chown -R postgres:postgres "$WORK"; fi
as_pg "$PGBIN/initdb" -D "$WORK/pg" -U argus --auth=scram-sha-256 --pwfile="$WORK/pwfile" --no-sync >/dev/null
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
as_pg "$PGBIN/pg_ctl" -D "$WORK/pg" -l "$WORK/pg.log" -w -o "-p $PORT -c listen_addresses=127.0.0.1 -k $WORK" start >/dev/null
PGPASSWORD=$PGPASS psql -h 127.0.0.1 -p "$PORT" -U argus -d postgres -qc "CREATE DATABASE argus"
export ARGUS_STORE="postgres://argus:$PGPASS@127.0.0.1:$PORT/argus?sslmode=disable"
echo "PostgreSQL on 127.0.0.1:$PORT"

export REMOTE_SUPPORT_ENABLED=1 REMOTE_SUPPORT_OPERATOR_CIDRS=127.0.0.1/32 ARGUS_OPS_TOKEN=demo-ops-token
step "three nodes: the first init founds the cluster, the next two join it"
FOUNDED=$("$BIN/argus-ops" init --data-dir "$WORK/n1" --json)
ADMIN=$(echo "$FOUNDED" | json 'd["admin_pat"]')
# Printed once at founding: the CA key is in the database only sealed under it, and joining
# needs it (reading the database is not enough to become a node).
ARGUS_CLUSTER_SECRET=$(echo "$FOUNDED" | json 'd["cluster_secret"]')
for n in 2 3; do ARGUS_CLUSTER_SECRET="$ARGUS_CLUSTER_SECRET" "$BIN/argus-ops" init --data-dir "$WORK/n$n" --json; echo; done
for n in 1 2 3; do
  "$BIN/argus-ops" serve --data-dir "$WORK/n$n" --api-listen 127.0.0.1:0 --agent-listen 127.0.0.1:0 \
    > "$WORK/n$n.log" 2>&1 &
  PIDS+=($!)
  NODE_PID[$n]=$!
done
for n in 1 2 3; do
  for _ in $(seq 100); do [ -s "$WORK/n$n/run/addresses.json" ] && break; sleep 0.1; done
  API[$n]=$(json 'd["api"]' < "$WORK/n$n/run/addresses.json")
  AGENT[$n]=$(json 'd["agent"]' < "$WORK/n$n/run/addresses.json")
done
export ARGUS_CA_CERT="$WORK/n1/tls/ca.pem"   # the same file on every node
ctl() { local n=$1; shift; ARGUS_SERVER="https://${API[$n]}" "$BIN/argusctl" "$@"; }
ARGUS_PAT=$ADMIN ctl 1 cluster ls

step "a tenant, consent, an operator"
"$BIN/argusctl" keygen --out "$WORK/tenant" >/dev/null
"$BIN/argusctl" keygen --out "$WORK/patch" >/dev/null
ARGUS_PAT=$ADMIN ctl 1 tenant create ACME --consent-key "$WORK/tenant.pub" >/dev/null
"$BIN/argusctl" consent sign --key "$WORK/tenant.key" --tenant ACME --signer "Jane Roe" --out "$WORK/consent.json"
ARGUS_PAT=$ADMIN ctl 2 tenant consent ACME --file "$WORK/consent.json" >/dev/null
ARGUS_PAT=$ADMIN ctl 3 tenant arm ACME --reason demo >/dev/null
export ARGUS_PAT=$(ARGUS_PAT=$ADMIN ctl 1 --json pat create --owner op@example.com --scope remote_support | json 'd["pat"]')

step "two agents, each given all three nodes (any one enrolls; they learn the live set)"
for a in 1 2; do
  root="$WORK/agent$a"; mkdir -p "$root/crashes"; echo "poll: 5" > "$root/config.yaml"
  seq 1 50 | sed 's/^/line /' > "$root/argus.log"; echo 1.0 > "$root/version.txt"
  token=$(ARGUS_PAT=$ADMIN ctl 1 --json agent enroll-token "agent-$a" --tenant ACME | json 'd["token"]')
  "$BIN/argus-agent" enroll --install-root "$root" --server "${AGENT[1]},${AGENT[2]},${AGENT[3]}" --server-ca "$ARGUS_CA_CERT" \
    --tenant ACME --agent-id "agent-$a" --token "$token" --patch-pubkey "$WORK/patch.pub"
  "$BIN/argus-agent" run --install-root "$root" > "$WORK/agent$a.log" 2>&1 &
  PIDS+=($!)
done
sleep 2
ctl 2 agent ls --tenant ACME

step "a session opened on node 3, a command through node 2 (routed to agent-1's node when that is another)"
SESSION=$(ctl 3 --json agent activate agent-1 --tenant ACME --reason "cluster demo" | json 'd["session_token"]')
ctl 2 support command ACME --session "$SESSION" --command tail_log --args '{"lines": 2}'

HOLDER=$(ctl 1 --json agent ls --tenant ACME | json '[a["node"] for a in d["agents"] if a["agent_id"]=="agent-1"][0]')
for n in 1 2 3; do
  [ "$(json 'd["node_id"]' < "$WORK/n$n/run/addresses.json")" = "$HOLDER" ] && VICTIM=$n
done
SURVIVOR=$(( VICTIM % 3 + 1 ))
step "kill -9 node $VICTIM ($HOLDER), which holds agent-1; watching from node $SURVIVOR"
kill -9 "${NODE_PID[$VICTIM]}"
START=$(python3 -c 'import time; print(time.time())')
for _ in $(seq 300); do
  moved=$(ctl "$SURVIVOR" --json agent ls --tenant ACME |
    json "sum(1 for a in d['agents'] if a['online'] and a['node'] != '$HOLDER')" 2>/dev/null || echo 0)
  [ "$moved" = 2 ] && break
  sleep 0.1
done
python3 -c "import time; print(f'both agents online on the surviving nodes after {time.time() - $START:.1f} s')"
ctl "$SURVIVOR" agent ls --tenant ACME
ctl "$SURVIVOR" cluster ls

step "the session belongs to the agent, not the node: it still works"
ctl "$SURVIVOR" support command ACME --session "$SESSION" --command ping
ctl "$SURVIVOR" support deactivate ACME --session "$SESSION" --reason "demo over" >/dev/null

step "one audit chain for the whole cluster"
"$BIN/argus-ops" audit verify
