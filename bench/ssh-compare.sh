#!/usr/bin/env bash
# Side by side with what an operator would otherwise use (issue #4): one `argusctl … read_file
# config.yaml` as a whole process, against `ssh … cat config.yaml` plain and with ControlMaster,
# timed in the same run by hyperfine. Loopback only; sshd gets a throwaway host key, key-only
# auth, and is stopped by PID afterwards, as is the ARGUS quickstart server.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-40}
PORT=${SSH_PORT:-22022}

if ! command -v /usr/sbin/sshd >/dev/null || ! command -v hyperfine >/dev/null; then
  apt-get update -qq && apt-get install -y -qq openssh-server hyperfine
fi
cargo build --release --workspace --bins

work=$(mktemp -d)
cleanup() {
  [ -n "${sshd_pid:-}" ] && kill "$sshd_pid" 2>/dev/null || true
  [ -n "${argus_pid:-}" ] && kill -INT "$argus_pid" 2>/dev/null && wait "$argus_pid" 2>/dev/null || true
  ssh -O exit -o ControlPath="$work/cm" -p "$PORT" argusbench@127.0.0.1 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# ARGUS: the quickstart server and agents, then a fresh session on demo_agent_01.
target/release/argus-ops quickstart --dir "$work/qs" > "$work/qs.log" 2>&1 &
argus_pid=$!
for _ in $(seq 1 600); do [ -f "$work/qs/env.sh" ] && break; sleep 0.1; done
# shellcheck disable=SC1091
source "$work/qs/env.sh"
token=$(target/release/argusctl --json agent activate demo_agent_01 --tenant DEMO_TENANT --reason "ssh comparison" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["session_token"])')
root="$work/qs/agents/demo_agent_01"

# OpenSSH: throwaway host and user keys, key-only, loopback. A dedicated user whose shell is
# /bin/sh, so no shell start-up file (root's .bashrc here loads pyenv) inflates ssh's figures.
mkdir -p /run/sshd
id argusbench >/dev/null 2>&1 || useradd -M -d /nonexistent -s /bin/sh argusbench
# sshd without PAM refuses a locked account; '*' means no password, not locked.
usermod -p '*' argusbench
chmod 755 "$work" "$work/qs" "$work/qs/agents" "$root"
chmod 644 "$root/config.yaml"
ssh-keygen -q -t ed25519 -N '' -f "$work/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$work/id"
cp "$work/id.pub" "$work/authorized_keys"
cat > "$work/sshd_config" <<CONF
Port $PORT
ListenAddress 127.0.0.1
HostKey $work/host_key
PidFile $work/sshd.pid
PermitRootLogin no
AllowUsers argusbench
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
AuthorizedKeysFile $work/authorized_keys
StrictModes no
UsePAM no
CONF
/usr/sbin/sshd -D -f "$work/sshd_config" &
sshd_pid=$!
ssh_opts="-p $PORT -i $work/id -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
for _ in $(seq 1 50); do ssh $ssh_opts argusbench@127.0.0.1 true 2>/dev/null && break; sleep 0.1; done
cm_opts="$ssh_opts -o ControlMaster=auto -o ControlPath=$work/cm -o ControlPersist=120"
ssh $cm_opts argusbench@127.0.0.1 true

argus="target/release/argusctl support command DEMO_TENANT --session $token --command read_file --args '{\"path\":\"config.yaml\"}'"
hyperfine --warmup 3 --runs "$RUNS" --export-markdown "$work/result.md" \
  -n "argusctl read_file (whole process)" "$argus" \
  -n "ssh cat (plain)" "ssh $ssh_opts argusbench@127.0.0.1 cat $root/config.yaml" \
  -n "ssh cat (ControlMaster)" "ssh $cm_opts argusbench@127.0.0.1 cat $root/config.yaml"
cat "$work/result.md"
