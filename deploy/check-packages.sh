#!/usr/bin/env bash
# Checks the Debian packages `cargo deb -p PACKAGE` built: each carries its binary, the servers
# their systemd unit and the script that creates their user, argusctl its completions and man
# pages. Usage: deploy/check-packages.sh DIR_WITH_DEBS
set -euo pipefail
dir=${1:?usage: check-packages.sh DIR}
fail=0
expect() { # package path-pattern
  local deb
  deb=$(ls "$dir"/"$1"_*.deb 2>/dev/null | head -1)
  if [ -z "$deb" ]; then echo "missing package $1"; fail=1; return; fi
  if ! dpkg-deb -c "$deb" | awk '{print $6}' | grep -Eq "$2"; then
    echo "$1: nothing matches $2"; fail=1
  fi
}
for p in argus-ops argus-agent argus-console; do
  expect "$p" "^\./usr/bin/$p\$"
  expect "$p" "^\./lib/systemd/system/$p\.service\$"
  deb=$(ls "$dir"/"$p"_*.deb | head -1)
  if ! dpkg-deb -I "$deb" postinst >/dev/null 2>&1; then echo "$p: no postinst"; fail=1; fi
done
expect argusctl '^\./usr/bin/argusctl$'
expect argusctl '^\./usr/share/bash-completion/completions/argusctl$'
expect argusctl '^\./usr/share/zsh/vendor-completions/_argusctl$'
expect argusctl '^\./usr/share/fish/vendor_completions\.d/argusctl\.fish$'
expect argusctl '^\./usr/share/man/man1/argusctl-agent-activate\.1'
if [ "$fail" -ne 0 ]; then exit 1; fi
echo "4 packages checked"
