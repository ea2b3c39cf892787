# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_argusctl_global_optspecs
    string join \n server= ca-cert= pat= ops-token= profile= json o/output= dry-run h/help V/version
end

function __fish_argusctl_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_argusctl_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_argusctl_using_subcommand
    set -l cmd (__fish_argusctl_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c argusctl -n "__fish_argusctl_needs_command" -l server -d 'Ops API base URL (default https://127.0.0.1:8443)' -r
complete -c argusctl -n "__fish_argusctl_needs_command" -l ca-cert -d 'The ops CA certificate to pin (`tls/ca.pem` of the server\'s data dir)' -r -F
complete -c argusctl -n "__fish_argusctl_needs_command" -l pat -d 'Personal access token' -r
complete -c argusctl -n "__fish_argusctl_needs_command" -l ops-token -d 'The shared second factor' -r
complete -c argusctl -n "__fish_argusctl_needs_command" -l profile -d 'The profile to take unset settings from (default: the current one; see `login`)' -r
complete -c argusctl -n "__fish_argusctl_needs_command" -s o -l output -d 'Output format: table (default), wide, json or yaml' -r -f -a "table\t'Aligned columns (the default)'
wide\t'Every column the server answered'
json\t'The server\'s JSON, unchanged (`--json`)'
yaml\t'The same document as YAML'"
complete -c argusctl -n "__fish_argusctl_needs_command" -l json -d 'Machine-readable output: the server\'s JSON, unchanged (same as `-o json`)'
complete -c argusctl -n "__fish_argusctl_needs_command" -l dry-run -d 'Print the request a write would send (secrets redacted) and send nothing'
complete -c argusctl -n "__fish_argusctl_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c argusctl -n "__fish_argusctl_needs_command" -s V -l version -d 'Print version'
complete -c argusctl -n "__fish_argusctl_needs_command" -f -a "agent" -d 'Agents: list, fleet, capabilities, activation, revocation, enrollment tokens'
complete -c argusctl -n "__fish_argusctl_needs_command" -f -a "support" -d 'Remote-support sessions and commands'
complete -c argusctl -n "__fish_argusctl_needs_command" -f -a "tenant" -d 'Tenants: create, consent, arm, disarm, approval, show'
complete -c argusctl -n "__fish_argusctl_needs_command" -f -a "pat" -d 'Personal access tokens'
complete -c argusctl -n "__fish_argusctl_needs_command" -f -a "audit" -d 'The audit trail'
complete -c argusctl -n "__fish_argusctl_needs_command" -f -a "access" -d 'Access requests held by the tenant\'s approvers (SPEC §13)'
complete -c argusctl -n "__fish_argusctl_needs_command" -f -a "cluster" -d 'The nodes of a cluster (SPEC §10)'
complete -c argusctl -n "__fish_argusctl_needs_command" -f -a "version" -d 'This client\'s version and the server\'s (from its `/healthz`)'
complete -c argusctl -n "__fish_argusctl_needs_command" -f -a "login" -d 'Check --server, --ca-cert, --pat and --ops-token against the server and keep them as a profile (`--profile NAME`, default `default`) in $XDG_CONFIG_HOME/argus/config.toml'
complete -c argusctl -n "__fish_argusctl_needs_command" -f -a "profile" -d 'Profiles: list them, or choose the current one'
complete -c argusctl -n "__fish_argusctl_needs_command" -f -a "completion" -d 'Print a shell completion script (`source <(argusctl completion bash)`)'
complete -c argusctl -n "__fish_argusctl_needs_command" -f -a "manpages" -d 'Write roff man pages for argusctl and every subcommand into DIR'
complete -c argusctl -n "__fish_argusctl_needs_command" -f -a "keygen" -d 'Offline: make an Ed25519 key pair (PREFIX.key 0600, PREFIX.pub)'
complete -c argusctl -n "__fish_argusctl_needs_command" -f -a "consent" -d 'Offline: consent documents'
complete -c argusctl -n "__fish_argusctl_needs_command" -f -a "patch" -d 'Offline: signed hotfix patches'
complete -c argusctl -n "__fish_argusctl_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and not __fish_seen_subcommand_from ls fleet capabilities activate deactivate revoke enroll-token help" -l server -d 'Ops API base URL (default https://127.0.0.1:8443)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and not __fish_seen_subcommand_from ls fleet capabilities activate deactivate revoke enroll-token help" -l ca-cert -d 'The ops CA certificate to pin (`tls/ca.pem` of the server\'s data dir)' -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and not __fish_seen_subcommand_from ls fleet capabilities activate deactivate revoke enroll-token help" -l pat -d 'Personal access token' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and not __fish_seen_subcommand_from ls fleet capabilities activate deactivate revoke enroll-token help" -l ops-token -d 'The shared second factor' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and not __fish_seen_subcommand_from ls fleet capabilities activate deactivate revoke enroll-token help" -l profile -d 'The profile to take unset settings from (default: the current one; see `login`)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and not __fish_seen_subcommand_from ls fleet capabilities activate deactivate revoke enroll-token help" -s o -l output -d 'Output format: table (default), wide, json or yaml' -r -f -a "table\t'Aligned columns (the default)'
wide\t'Every column the server answered'
json\t'The server\'s JSON, unchanged (`--json`)'
yaml\t'The same document as YAML'"
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and not __fish_seen_subcommand_from ls fleet capabilities activate deactivate revoke enroll-token help" -l json -d 'Machine-readable output: the server\'s JSON, unchanged (same as `-o json`)'
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and not __fish_seen_subcommand_from ls fleet capabilities activate deactivate revoke enroll-token help" -l dry-run -d 'Print the request a write would send (secrets redacted) and send nothing'
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and not __fish_seen_subcommand_from ls fleet capabilities activate deactivate revoke enroll-token help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and not __fish_seen_subcommand_from ls fleet capabilities activate deactivate revoke enroll-token help" -f -a "ls" -d 'List a tenant\'s agents'
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and not __fish_seen_subcommand_from ls fleet capabilities activate deactivate revoke enroll-token help" -f -a "fleet" -d 'Cross-tenant roll-up'
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and not __fish_seen_subcommand_from ls fleet capabilities activate deactivate revoke enroll-token help" -f -a "capabilities" -d 'An agent\'s last capability manifest (no session needed)'
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and not __fish_seen_subcommand_from ls fleet capabilities activate deactivate revoke enroll-token help" -f -a "activate" -d 'Open a remote-support session (prints the session token once)'
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and not __fish_seen_subcommand_from ls fleet capabilities activate deactivate revoke enroll-token help" -f -a "deactivate" -d 'End a session'
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and not __fish_seen_subcommand_from ls fleet capabilities activate deactivate revoke enroll-token help" -f -a "revoke" -d 'Permanently revoke an agent (destructive: needs --yes)'
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and not __fish_seen_subcommand_from ls fleet capabilities activate deactivate revoke enroll-token help" -f -a "enroll-token" -d 'Issue a one-time enrollment token'
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and not __fish_seen_subcommand_from ls fleet capabilities activate deactivate revoke enroll-token help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from ls" -l tenant -r
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from ls" -l server -d 'Ops API base URL (default https://127.0.0.1:8443)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from ls" -l ca-cert -d 'The ops CA certificate to pin (`tls/ca.pem` of the server\'s data dir)' -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from ls" -l pat -d 'Personal access token' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from ls" -l ops-token -d 'The shared second factor' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from ls" -l profile -d 'The profile to take unset settings from (default: the current one; see `login`)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from ls" -s o -l output -d 'Output format: table (default), wide, json or yaml' -r -f -a "table\t'Aligned columns (the default)'
wide\t'Every column the server answered'
json\t'The server\'s JSON, unchanged (`--json`)'
yaml\t'The same document as YAML'"
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from ls" -l json -d 'Machine-readable output: the server\'s JSON, unchanged (same as `-o json`)'
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from ls" -l dry-run -d 'Print the request a write would send (secrets redacted) and send nothing'
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from ls" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from fleet" -l server -d 'Ops API base URL (default https://127.0.0.1:8443)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from fleet" -l ca-cert -d 'The ops CA certificate to pin (`tls/ca.pem` of the server\'s data dir)' -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from fleet" -l pat -d 'Personal access token' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from fleet" -l ops-token -d 'The shared second factor' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from fleet" -l profile -d 'The profile to take unset settings from (default: the current one; see `login`)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from fleet" -s o -l output -d 'Output format: table (default), wide, json or yaml' -r -f -a "table\t'Aligned columns (the default)'
wide\t'Every column the server answered'
json\t'The server\'s JSON, unchanged (`--json`)'
yaml\t'The same document as YAML'"
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from fleet" -l json -d 'Machine-readable output: the server\'s JSON, unchanged (same as `-o json`)'
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from fleet" -l dry-run -d 'Print the request a write would send (secrets redacted) and send nothing'
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from fleet" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from capabilities" -l server -d 'Ops API base URL (default https://127.0.0.1:8443)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from capabilities" -l ca-cert -d 'The ops CA certificate to pin (`tls/ca.pem` of the server\'s data dir)' -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from capabilities" -l pat -d 'Personal access token' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from capabilities" -l ops-token -d 'The shared second factor' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from capabilities" -l profile -d 'The profile to take unset settings from (default: the current one; see `login`)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from capabilities" -s o -l output -d 'Output format: table (default), wide, json or yaml' -r -f -a "table\t'Aligned columns (the default)'
wide\t'Every column the server answered'
json\t'The server\'s JSON, unchanged (`--json`)'
yaml\t'The same document as YAML'"
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from capabilities" -l json -d 'Machine-readable output: the server\'s JSON, unchanged (same as `-o json`)'
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from capabilities" -l dry-run -d 'Print the request a write would send (secrets redacted) and send nothing'
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from capabilities" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from activate" -l tenant -r
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from activate" -l reason -d 'Why (not with --request: the request\'s reason is the session\'s)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from activate" -l ttl -d 'Session length, e.g. `45m` (default 30m, at most 120m; with --request, the approved length, and no more)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from activate" -l request -d 'An approved access request (SPEC §13): its approvals travel with the grant, and the activation answers once the agent accepted them' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from activate" -l server -d 'Ops API base URL (default https://127.0.0.1:8443)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from activate" -l ca-cert -d 'The ops CA certificate to pin (`tls/ca.pem` of the server\'s data dir)' -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from activate" -l pat -d 'Personal access token' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from activate" -l ops-token -d 'The shared second factor' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from activate" -l profile -d 'The profile to take unset settings from (default: the current one; see `login`)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from activate" -s o -l output -d 'Output format: table (default), wide, json or yaml' -r -f -a "table\t'Aligned columns (the default)'
wide\t'Every column the server answered'
json\t'The server\'s JSON, unchanged (`--json`)'
yaml\t'The same document as YAML'"
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from activate" -l json -d 'Machine-readable output: the server\'s JSON, unchanged (same as `-o json`)'
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from activate" -l dry-run -d 'Print the request a write would send (secrets redacted) and send nothing'
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from activate" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from deactivate" -l session -d 'The session token (default: ARGUS_SESSION, else the one kept by `activate`)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from deactivate" -l reason -r
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from deactivate" -l server -d 'Ops API base URL (default https://127.0.0.1:8443)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from deactivate" -l ca-cert -d 'The ops CA certificate to pin (`tls/ca.pem` of the server\'s data dir)' -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from deactivate" -l pat -d 'Personal access token' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from deactivate" -l ops-token -d 'The shared second factor' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from deactivate" -l profile -d 'The profile to take unset settings from (default: the current one; see `login`)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from deactivate" -s o -l output -d 'Output format: table (default), wide, json or yaml' -r -f -a "table\t'Aligned columns (the default)'
wide\t'Every column the server answered'
json\t'The server\'s JSON, unchanged (`--json`)'
yaml\t'The same document as YAML'"
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from deactivate" -l json -d 'Machine-readable output: the server\'s JSON, unchanged (same as `-o json`)'
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from deactivate" -l dry-run -d 'Print the request a write would send (secrets redacted) and send nothing'
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from deactivate" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from revoke" -l tenant -r
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from revoke" -l reason -r
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from revoke" -l server -d 'Ops API base URL (default https://127.0.0.1:8443)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from revoke" -l ca-cert -d 'The ops CA certificate to pin (`tls/ca.pem` of the server\'s data dir)' -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from revoke" -l pat -d 'Personal access token' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from revoke" -l ops-token -d 'The shared second factor' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from revoke" -l profile -d 'The profile to take unset settings from (default: the current one; see `login`)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from revoke" -s o -l output -d 'Output format: table (default), wide, json or yaml' -r -f -a "table\t'Aligned columns (the default)'
wide\t'Every column the server answered'
json\t'The server\'s JSON, unchanged (`--json`)'
yaml\t'The same document as YAML'"
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from revoke" -l yes
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from revoke" -l json -d 'Machine-readable output: the server\'s JSON, unchanged (same as `-o json`)'
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from revoke" -l dry-run -d 'Print the request a write would send (secrets redacted) and send nothing'
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from revoke" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from enroll-token" -l tenant -r
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from enroll-token" -l ttl -d 'Token lifetime, e.g. `15m` (default 15m)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from enroll-token" -l server -d 'Ops API base URL (default https://127.0.0.1:8443)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from enroll-token" -l ca-cert -d 'The ops CA certificate to pin (`tls/ca.pem` of the server\'s data dir)' -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from enroll-token" -l pat -d 'Personal access token' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from enroll-token" -l ops-token -d 'The shared second factor' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from enroll-token" -l profile -d 'The profile to take unset settings from (default: the current one; see `login`)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from enroll-token" -s o -l output -d 'Output format: table (default), wide, json or yaml' -r -f -a "table\t'Aligned columns (the default)'
wide\t'Every column the server answered'
json\t'The server\'s JSON, unchanged (`--json`)'
yaml\t'The same document as YAML'"
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from enroll-token" -l json -d 'Machine-readable output: the server\'s JSON, unchanged (same as `-o json`)'
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from enroll-token" -l dry-run -d 'Print the request a write would send (secrets redacted) and send nothing'
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from enroll-token" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from help" -f -a "ls" -d 'List a tenant\'s agents'
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from help" -f -a "fleet" -d 'Cross-tenant roll-up'
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from help" -f -a "capabilities" -d 'An agent\'s last capability manifest (no session needed)'
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from help" -f -a "activate" -d 'Open a remote-support session (prints the session token once)'
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from help" -f -a "deactivate" -d 'End a session'
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from help" -f -a "revoke" -d 'Permanently revoke an agent (destructive: needs --yes)'
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from help" -f -a "enroll-token" -d 'Issue a one-time enrollment token'
complete -c argusctl -n "__fish_argusctl_using_subcommand agent; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and not __fish_seen_subcommand_from activate command status deactivate help" -l server -d 'Ops API base URL (default https://127.0.0.1:8443)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and not __fish_seen_subcommand_from activate command status deactivate help" -l ca-cert -d 'The ops CA certificate to pin (`tls/ca.pem` of the server\'s data dir)' -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and not __fish_seen_subcommand_from activate command status deactivate help" -l pat -d 'Personal access token' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and not __fish_seen_subcommand_from activate command status deactivate help" -l ops-token -d 'The shared second factor' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and not __fish_seen_subcommand_from activate command status deactivate help" -l profile -d 'The profile to take unset settings from (default: the current one; see `login`)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and not __fish_seen_subcommand_from activate command status deactivate help" -s o -l output -d 'Output format: table (default), wide, json or yaml' -r -f -a "table\t'Aligned columns (the default)'
wide\t'Every column the server answered'
json\t'The server\'s JSON, unchanged (`--json`)'
yaml\t'The same document as YAML'"
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and not __fish_seen_subcommand_from activate command status deactivate help" -l json -d 'Machine-readable output: the server\'s JSON, unchanged (same as `-o json`)'
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and not __fish_seen_subcommand_from activate command status deactivate help" -l dry-run -d 'Print the request a write would send (secrets redacted) and send nothing'
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and not __fish_seen_subcommand_from activate command status deactivate help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and not __fish_seen_subcommand_from activate command status deactivate help" -f -a "activate" -d 'Open a remote-support session (same as `agent activate`)'
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and not __fish_seen_subcommand_from activate command status deactivate help" -f -a "command" -d 'Run an allowlisted command in a session'
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and not __fish_seen_subcommand_from activate command status deactivate help" -f -a "status" -d 'A session\'s state'
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and not __fish_seen_subcommand_from activate command status deactivate help" -f -a "deactivate" -d 'End a session'
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and not __fish_seen_subcommand_from activate command status deactivate help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and __fish_seen_subcommand_from activate" -l tenant -r
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and __fish_seen_subcommand_from activate" -l reason -d 'Why (not with --request: the request\'s reason is the session\'s)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and __fish_seen_subcommand_from activate" -l ttl -d 'Session length, e.g. `45m` (default 30m, at most 120m; with --request, the approved length, and no more)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and __fish_seen_subcommand_from activate" -l request -d 'An approved access request (SPEC §13): its approvals travel with the grant, and the activation answers once the agent accepted them' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and __fish_seen_subcommand_from activate" -l server -d 'Ops API base URL (default https://127.0.0.1:8443)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and __fish_seen_subcommand_from activate" -l ca-cert -d 'The ops CA certificate to pin (`tls/ca.pem` of the server\'s data dir)' -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and __fish_seen_subcommand_from activate" -l pat -d 'Personal access token' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and __fish_seen_subcommand_from activate" -l ops-token -d 'The shared second factor' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and __fish_seen_subcommand_from activate" -l profile -d 'The profile to take unset settings from (default: the current one; see `login`)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and __fish_seen_subcommand_from activate" -s o -l output -d 'Output format: table (default), wide, json or yaml' -r -f -a "table\t'Aligned columns (the default)'
wide\t'Every column the server answered'
json\t'The server\'s JSON, unchanged (`--json`)'
yaml\t'The same document as YAML'"
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and __fish_seen_subcommand_from activate" -l json -d 'Machine-readable output: the server\'s JSON, unchanged (same as `-o json`)'
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and __fish_seen_subcommand_from activate" -l dry-run -d 'Print the request a write would send (secrets redacted) and send nothing'
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and __fish_seen_subcommand_from activate" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and __fish_seen_subcommand_from command" -l session -d 'The session token (default: ARGUS_SESSION, else the one kept by `activate`)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and __fish_seen_subcommand_from command" -l command -r
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and __fish_seen_subcommand_from command" -l args -d 'Arguments as a JSON object' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and __fish_seen_subcommand_from command" -l patch -d 'A signed patch file for `apply_patch`' -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and __fish_seen_subcommand_from command" -l server -d 'Ops API base URL (default https://127.0.0.1:8443)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and __fish_seen_subcommand_from command" -l ca-cert -d 'The ops CA certificate to pin (`tls/ca.pem` of the server\'s data dir)' -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and __fish_seen_subcommand_from command" -l pat -d 'Personal access token' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and __fish_seen_subcommand_from command" -l ops-token -d 'The shared second factor' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and __fish_seen_subcommand_from command" -l profile -d 'The profile to take unset settings from (default: the current one; see `login`)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and __fish_seen_subcommand_from command" -s o -l output -d 'Output format: table (default), wide, json or yaml' -r -f -a "table\t'Aligned columns (the default)'
wide\t'Every column the server answered'
json\t'The server\'s JSON, unchanged (`--json`)'
yaml\t'The same document as YAML'"
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and __fish_seen_subcommand_from command" -l json -d 'Machine-readable output: the server\'s JSON, unchanged (same as `-o json`)'
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and __fish_seen_subcommand_from command" -l dry-run -d 'Print the request a write would send (secrets redacted) and send nothing'
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and __fish_seen_subcommand_from command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and __fish_seen_subcommand_from status" -l session -d 'The session token (default: ARGUS_SESSION, else the one kept by `activate`)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and __fish_seen_subcommand_from status" -l server -d 'Ops API base URL (default https://127.0.0.1:8443)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and __fish_seen_subcommand_from status" -l ca-cert -d 'The ops CA certificate to pin (`tls/ca.pem` of the server\'s data dir)' -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and __fish_seen_subcommand_from status" -l pat -d 'Personal access token' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and __fish_seen_subcommand_from status" -l ops-token -d 'The shared second factor' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and __fish_seen_subcommand_from status" -l profile -d 'The profile to take unset settings from (default: the current one; see `login`)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and __fish_seen_subcommand_from status" -s o -l output -d 'Output format: table (default), wide, json or yaml' -r -f -a "table\t'Aligned columns (the default)'
wide\t'Every column the server answered'
json\t'The server\'s JSON, unchanged (`--json`)'
yaml\t'The same document as YAML'"
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and __fish_seen_subcommand_from status" -l json -d 'Machine-readable output: the server\'s JSON, unchanged (same as `-o json`)'
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and __fish_seen_subcommand_from status" -l dry-run -d 'Print the request a write would send (secrets redacted) and send nothing'
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and __fish_seen_subcommand_from deactivate" -l session -d 'The session token (default: ARGUS_SESSION, else the one kept by `activate`)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and __fish_seen_subcommand_from deactivate" -l reason -r
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and __fish_seen_subcommand_from deactivate" -l server -d 'Ops API base URL (default https://127.0.0.1:8443)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and __fish_seen_subcommand_from deactivate" -l ca-cert -d 'The ops CA certificate to pin (`tls/ca.pem` of the server\'s data dir)' -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and __fish_seen_subcommand_from deactivate" -l pat -d 'Personal access token' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and __fish_seen_subcommand_from deactivate" -l ops-token -d 'The shared second factor' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and __fish_seen_subcommand_from deactivate" -l profile -d 'The profile to take unset settings from (default: the current one; see `login`)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and __fish_seen_subcommand_from deactivate" -s o -l output -d 'Output format: table (default), wide, json or yaml' -r -f -a "table\t'Aligned columns (the default)'
wide\t'Every column the server answered'
json\t'The server\'s JSON, unchanged (`--json`)'
yaml\t'The same document as YAML'"
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and __fish_seen_subcommand_from deactivate" -l json -d 'Machine-readable output: the server\'s JSON, unchanged (same as `-o json`)'
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and __fish_seen_subcommand_from deactivate" -l dry-run -d 'Print the request a write would send (secrets redacted) and send nothing'
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and __fish_seen_subcommand_from deactivate" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and __fish_seen_subcommand_from help" -f -a "activate" -d 'Open a remote-support session (same as `agent activate`)'
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and __fish_seen_subcommand_from help" -f -a "command" -d 'Run an allowlisted command in a session'
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and __fish_seen_subcommand_from help" -f -a "status" -d 'A session\'s state'
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and __fish_seen_subcommand_from help" -f -a "deactivate" -d 'End a session'
complete -c argusctl -n "__fish_argusctl_using_subcommand support; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and not __fish_seen_subcommand_from create consent arm disarm approval show help" -l server -d 'Ops API base URL (default https://127.0.0.1:8443)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and not __fish_seen_subcommand_from create consent arm disarm approval show help" -l ca-cert -d 'The ops CA certificate to pin (`tls/ca.pem` of the server\'s data dir)' -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and not __fish_seen_subcommand_from create consent arm disarm approval show help" -l pat -d 'Personal access token' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and not __fish_seen_subcommand_from create consent arm disarm approval show help" -l ops-token -d 'The shared second factor' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and not __fish_seen_subcommand_from create consent arm disarm approval show help" -l profile -d 'The profile to take unset settings from (default: the current one; see `login`)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and not __fish_seen_subcommand_from create consent arm disarm approval show help" -s o -l output -d 'Output format: table (default), wide, json or yaml' -r -f -a "table\t'Aligned columns (the default)'
wide\t'Every column the server answered'
json\t'The server\'s JSON, unchanged (`--json`)'
yaml\t'The same document as YAML'"
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and not __fish_seen_subcommand_from create consent arm disarm approval show help" -l json -d 'Machine-readable output: the server\'s JSON, unchanged (same as `-o json`)'
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and not __fish_seen_subcommand_from create consent arm disarm approval show help" -l dry-run -d 'Print the request a write would send (secrets redacted) and send nothing'
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and not __fish_seen_subcommand_from create consent arm disarm approval show help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and not __fish_seen_subcommand_from create consent arm disarm approval show help" -f -a "create" -d 'Create a tenant with its consent public key (admin)'
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and not __fish_seen_subcommand_from create consent arm disarm approval show help" -f -a "consent" -d 'Record signed consent, or withdraw it'
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and not __fish_seen_subcommand_from create consent arm disarm approval show help" -f -a "arm" -d 'Arm the tenant for remote support'
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and not __fish_seen_subcommand_from create consent arm disarm approval show help" -f -a "disarm" -d 'Disarm the tenant (ends its live sessions)'
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and not __fish_seen_subcommand_from create consent arm disarm approval show help" -f -a "approval" -d 'Require (or stop requiring) an approved access request for every activation on the tenant\'s machines (tenant admin or admin; SPEC §13). The agents\' own approver policies are the guarantee; this makes the server refuse early'
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and not __fish_seen_subcommand_from create consent arm disarm approval show help" -f -a "show" -d 'Consent and arming state'
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and not __fish_seen_subcommand_from create consent arm disarm approval show help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from create" -l consent-key -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from create" -l server -d 'Ops API base URL (default https://127.0.0.1:8443)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from create" -l ca-cert -d 'The ops CA certificate to pin (`tls/ca.pem` of the server\'s data dir)' -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from create" -l pat -d 'Personal access token' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from create" -l ops-token -d 'The shared second factor' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from create" -l profile -d 'The profile to take unset settings from (default: the current one; see `login`)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from create" -s o -l output -d 'Output format: table (default), wide, json or yaml' -r -f -a "table\t'Aligned columns (the default)'
wide\t'Every column the server answered'
json\t'The server\'s JSON, unchanged (`--json`)'
yaml\t'The same document as YAML'"
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from create" -l json -d 'Machine-readable output: the server\'s JSON, unchanged (same as `-o json`)'
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from create" -l dry-run -d 'Print the request a write would send (secrets redacted) and send nothing'
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from create" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from consent" -l file -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from consent" -l reason -r
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from consent" -l server -d 'Ops API base URL (default https://127.0.0.1:8443)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from consent" -l ca-cert -d 'The ops CA certificate to pin (`tls/ca.pem` of the server\'s data dir)' -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from consent" -l pat -d 'Personal access token' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from consent" -l ops-token -d 'The shared second factor' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from consent" -l profile -d 'The profile to take unset settings from (default: the current one; see `login`)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from consent" -s o -l output -d 'Output format: table (default), wide, json or yaml' -r -f -a "table\t'Aligned columns (the default)'
wide\t'Every column the server answered'
json\t'The server\'s JSON, unchanged (`--json`)'
yaml\t'The same document as YAML'"
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from consent" -l withdraw
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from consent" -l json -d 'Machine-readable output: the server\'s JSON, unchanged (same as `-o json`)'
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from consent" -l dry-run -d 'Print the request a write would send (secrets redacted) and send nothing'
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from consent" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from arm" -l reason -r
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from arm" -l server -d 'Ops API base URL (default https://127.0.0.1:8443)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from arm" -l ca-cert -d 'The ops CA certificate to pin (`tls/ca.pem` of the server\'s data dir)' -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from arm" -l pat -d 'Personal access token' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from arm" -l ops-token -d 'The shared second factor' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from arm" -l profile -d 'The profile to take unset settings from (default: the current one; see `login`)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from arm" -s o -l output -d 'Output format: table (default), wide, json or yaml' -r -f -a "table\t'Aligned columns (the default)'
wide\t'Every column the server answered'
json\t'The server\'s JSON, unchanged (`--json`)'
yaml\t'The same document as YAML'"
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from arm" -l json -d 'Machine-readable output: the server\'s JSON, unchanged (same as `-o json`)'
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from arm" -l dry-run -d 'Print the request a write would send (secrets redacted) and send nothing'
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from arm" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from disarm" -l reason -r
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from disarm" -l server -d 'Ops API base URL (default https://127.0.0.1:8443)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from disarm" -l ca-cert -d 'The ops CA certificate to pin (`tls/ca.pem` of the server\'s data dir)' -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from disarm" -l pat -d 'Personal access token' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from disarm" -l ops-token -d 'The shared second factor' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from disarm" -l profile -d 'The profile to take unset settings from (default: the current one; see `login`)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from disarm" -s o -l output -d 'Output format: table (default), wide, json or yaml' -r -f -a "table\t'Aligned columns (the default)'
wide\t'Every column the server answered'
json\t'The server\'s JSON, unchanged (`--json`)'
yaml\t'The same document as YAML'"
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from disarm" -l json -d 'Machine-readable output: the server\'s JSON, unchanged (same as `-o json`)'
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from disarm" -l dry-run -d 'Print the request a write would send (secrets redacted) and send nothing'
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from disarm" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from approval" -l server -d 'Ops API base URL (default https://127.0.0.1:8443)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from approval" -l ca-cert -d 'The ops CA certificate to pin (`tls/ca.pem` of the server\'s data dir)' -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from approval" -l pat -d 'Personal access token' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from approval" -l ops-token -d 'The shared second factor' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from approval" -l profile -d 'The profile to take unset settings from (default: the current one; see `login`)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from approval" -s o -l output -d 'Output format: table (default), wide, json or yaml' -r -f -a "table\t'Aligned columns (the default)'
wide\t'Every column the server answered'
json\t'The server\'s JSON, unchanged (`--json`)'
yaml\t'The same document as YAML'"
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from approval" -l required
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from approval" -l off
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from approval" -l json -d 'Machine-readable output: the server\'s JSON, unchanged (same as `-o json`)'
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from approval" -l dry-run -d 'Print the request a write would send (secrets redacted) and send nothing'
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from approval" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from show" -l server -d 'Ops API base URL (default https://127.0.0.1:8443)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from show" -l ca-cert -d 'The ops CA certificate to pin (`tls/ca.pem` of the server\'s data dir)' -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from show" -l pat -d 'Personal access token' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from show" -l ops-token -d 'The shared second factor' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from show" -l profile -d 'The profile to take unset settings from (default: the current one; see `login`)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from show" -s o -l output -d 'Output format: table (default), wide, json or yaml' -r -f -a "table\t'Aligned columns (the default)'
wide\t'Every column the server answered'
json\t'The server\'s JSON, unchanged (`--json`)'
yaml\t'The same document as YAML'"
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from show" -l json -d 'Machine-readable output: the server\'s JSON, unchanged (same as `-o json`)'
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from show" -l dry-run -d 'Print the request a write would send (secrets redacted) and send nothing'
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from help" -f -a "create" -d 'Create a tenant with its consent public key (admin)'
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from help" -f -a "consent" -d 'Record signed consent, or withdraw it'
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from help" -f -a "arm" -d 'Arm the tenant for remote support'
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from help" -f -a "disarm" -d 'Disarm the tenant (ends its live sessions)'
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from help" -f -a "approval" -d 'Require (or stop requiring) an approved access request for every activation on the tenant\'s machines (tenant admin or admin; SPEC §13). The agents\' own approver policies are the guarantee; this makes the server refuse early'
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from help" -f -a "show" -d 'Consent and arming state'
complete -c argusctl -n "__fish_argusctl_using_subcommand tenant; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c argusctl -n "__fish_argusctl_using_subcommand pat; and not __fish_seen_subcommand_from create ls revoke help" -l server -d 'Ops API base URL (default https://127.0.0.1:8443)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand pat; and not __fish_seen_subcommand_from create ls revoke help" -l ca-cert -d 'The ops CA certificate to pin (`tls/ca.pem` of the server\'s data dir)' -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand pat; and not __fish_seen_subcommand_from create ls revoke help" -l pat -d 'Personal access token' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand pat; and not __fish_seen_subcommand_from create ls revoke help" -l ops-token -d 'The shared second factor' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand pat; and not __fish_seen_subcommand_from create ls revoke help" -l profile -d 'The profile to take unset settings from (default: the current one; see `login`)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand pat; and not __fish_seen_subcommand_from create ls revoke help" -s o -l output -d 'Output format: table (default), wide, json or yaml' -r -f -a "table\t'Aligned columns (the default)'
wide\t'Every column the server answered'
json\t'The server\'s JSON, unchanged (`--json`)'
yaml\t'The same document as YAML'"
complete -c argusctl -n "__fish_argusctl_using_subcommand pat; and not __fish_seen_subcommand_from create ls revoke help" -l json -d 'Machine-readable output: the server\'s JSON, unchanged (same as `-o json`)'
complete -c argusctl -n "__fish_argusctl_using_subcommand pat; and not __fish_seen_subcommand_from create ls revoke help" -l dry-run -d 'Print the request a write would send (secrets redacted) and send nothing'
complete -c argusctl -n "__fish_argusctl_using_subcommand pat; and not __fish_seen_subcommand_from create ls revoke help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c argusctl -n "__fish_argusctl_using_subcommand pat; and not __fish_seen_subcommand_from create ls revoke help" -f -a "create" -d 'Create a PAT (admin); it is printed once'
complete -c argusctl -n "__fish_argusctl_using_subcommand pat; and not __fish_seen_subcommand_from create ls revoke help" -f -a "ls" -d 'List PATs (admin): IDs, owners, scopes, expiry, last use; never a secret'
complete -c argusctl -n "__fish_argusctl_using_subcommand pat; and not __fish_seen_subcommand_from create ls revoke help" -f -a "revoke" -d 'Revoke a PAT by its ID (admin): it answers invalid_pat from the next request on'
complete -c argusctl -n "__fish_argusctl_using_subcommand pat; and not __fish_seen_subcommand_from create ls revoke help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c argusctl -n "__fish_argusctl_using_subcommand pat; and __fish_seen_subcommand_from create" -l owner -r
complete -c argusctl -n "__fish_argusctl_using_subcommand pat; and __fish_seen_subcommand_from create" -l scope -d 'Comma-separated: admin, remote_support, tenant_admin' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand pat; and __fish_seen_subcommand_from create" -l tenant -r
complete -c argusctl -n "__fish_argusctl_using_subcommand pat; and __fish_seen_subcommand_from create" -l ttl -d 'Lifetime, e.g. `90d` or `12h` (default: no expiry; revoke it with `pat revoke`)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand pat; and __fish_seen_subcommand_from create" -l server -d 'Ops API base URL (default https://127.0.0.1:8443)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand pat; and __fish_seen_subcommand_from create" -l ca-cert -d 'The ops CA certificate to pin (`tls/ca.pem` of the server\'s data dir)' -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand pat; and __fish_seen_subcommand_from create" -l pat -d 'Personal access token' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand pat; and __fish_seen_subcommand_from create" -l ops-token -d 'The shared second factor' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand pat; and __fish_seen_subcommand_from create" -l profile -d 'The profile to take unset settings from (default: the current one; see `login`)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand pat; and __fish_seen_subcommand_from create" -s o -l output -d 'Output format: table (default), wide, json or yaml' -r -f -a "table\t'Aligned columns (the default)'
wide\t'Every column the server answered'
json\t'The server\'s JSON, unchanged (`--json`)'
yaml\t'The same document as YAML'"
complete -c argusctl -n "__fish_argusctl_using_subcommand pat; and __fish_seen_subcommand_from create" -l json -d 'Machine-readable output: the server\'s JSON, unchanged (same as `-o json`)'
complete -c argusctl -n "__fish_argusctl_using_subcommand pat; and __fish_seen_subcommand_from create" -l dry-run -d 'Print the request a write would send (secrets redacted) and send nothing'
complete -c argusctl -n "__fish_argusctl_using_subcommand pat; and __fish_seen_subcommand_from create" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c argusctl -n "__fish_argusctl_using_subcommand pat; and __fish_seen_subcommand_from ls" -l server -d 'Ops API base URL (default https://127.0.0.1:8443)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand pat; and __fish_seen_subcommand_from ls" -l ca-cert -d 'The ops CA certificate to pin (`tls/ca.pem` of the server\'s data dir)' -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand pat; and __fish_seen_subcommand_from ls" -l pat -d 'Personal access token' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand pat; and __fish_seen_subcommand_from ls" -l ops-token -d 'The shared second factor' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand pat; and __fish_seen_subcommand_from ls" -l profile -d 'The profile to take unset settings from (default: the current one; see `login`)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand pat; and __fish_seen_subcommand_from ls" -s o -l output -d 'Output format: table (default), wide, json or yaml' -r -f -a "table\t'Aligned columns (the default)'
wide\t'Every column the server answered'
json\t'The server\'s JSON, unchanged (`--json`)'
yaml\t'The same document as YAML'"
complete -c argusctl -n "__fish_argusctl_using_subcommand pat; and __fish_seen_subcommand_from ls" -l json -d 'Machine-readable output: the server\'s JSON, unchanged (same as `-o json`)'
complete -c argusctl -n "__fish_argusctl_using_subcommand pat; and __fish_seen_subcommand_from ls" -l dry-run -d 'Print the request a write would send (secrets redacted) and send nothing'
complete -c argusctl -n "__fish_argusctl_using_subcommand pat; and __fish_seen_subcommand_from ls" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c argusctl -n "__fish_argusctl_using_subcommand pat; and __fish_seen_subcommand_from revoke" -l server -d 'Ops API base URL (default https://127.0.0.1:8443)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand pat; and __fish_seen_subcommand_from revoke" -l ca-cert -d 'The ops CA certificate to pin (`tls/ca.pem` of the server\'s data dir)' -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand pat; and __fish_seen_subcommand_from revoke" -l pat -d 'Personal access token' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand pat; and __fish_seen_subcommand_from revoke" -l ops-token -d 'The shared second factor' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand pat; and __fish_seen_subcommand_from revoke" -l profile -d 'The profile to take unset settings from (default: the current one; see `login`)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand pat; and __fish_seen_subcommand_from revoke" -s o -l output -d 'Output format: table (default), wide, json or yaml' -r -f -a "table\t'Aligned columns (the default)'
wide\t'Every column the server answered'
json\t'The server\'s JSON, unchanged (`--json`)'
yaml\t'The same document as YAML'"
complete -c argusctl -n "__fish_argusctl_using_subcommand pat; and __fish_seen_subcommand_from revoke" -l yes -d 'Confirm: revocation is permanent'
complete -c argusctl -n "__fish_argusctl_using_subcommand pat; and __fish_seen_subcommand_from revoke" -l json -d 'Machine-readable output: the server\'s JSON, unchanged (same as `-o json`)'
complete -c argusctl -n "__fish_argusctl_using_subcommand pat; and __fish_seen_subcommand_from revoke" -l dry-run -d 'Print the request a write would send (secrets redacted) and send nothing'
complete -c argusctl -n "__fish_argusctl_using_subcommand pat; and __fish_seen_subcommand_from revoke" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c argusctl -n "__fish_argusctl_using_subcommand pat; and __fish_seen_subcommand_from help" -f -a "create" -d 'Create a PAT (admin); it is printed once'
complete -c argusctl -n "__fish_argusctl_using_subcommand pat; and __fish_seen_subcommand_from help" -f -a "ls" -d 'List PATs (admin): IDs, owners, scopes, expiry, last use; never a secret'
complete -c argusctl -n "__fish_argusctl_using_subcommand pat; and __fish_seen_subcommand_from help" -f -a "revoke" -d 'Revoke a PAT by its ID (admin): it answers invalid_pat from the next request on'
complete -c argusctl -n "__fish_argusctl_using_subcommand pat; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c argusctl -n "__fish_argusctl_using_subcommand audit; and not __fish_seen_subcommand_from ls export verify-export help" -l server -d 'Ops API base URL (default https://127.0.0.1:8443)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand audit; and not __fish_seen_subcommand_from ls export verify-export help" -l ca-cert -d 'The ops CA certificate to pin (`tls/ca.pem` of the server\'s data dir)' -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand audit; and not __fish_seen_subcommand_from ls export verify-export help" -l pat -d 'Personal access token' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand audit; and not __fish_seen_subcommand_from ls export verify-export help" -l ops-token -d 'The shared second factor' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand audit; and not __fish_seen_subcommand_from ls export verify-export help" -l profile -d 'The profile to take unset settings from (default: the current one; see `login`)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand audit; and not __fish_seen_subcommand_from ls export verify-export help" -s o -l output -d 'Output format: table (default), wide, json or yaml' -r -f -a "table\t'Aligned columns (the default)'
wide\t'Every column the server answered'
json\t'The server\'s JSON, unchanged (`--json`)'
yaml\t'The same document as YAML'"
complete -c argusctl -n "__fish_argusctl_using_subcommand audit; and not __fish_seen_subcommand_from ls export verify-export help" -l json -d 'Machine-readable output: the server\'s JSON, unchanged (same as `-o json`)'
complete -c argusctl -n "__fish_argusctl_using_subcommand audit; and not __fish_seen_subcommand_from ls export verify-export help" -l dry-run -d 'Print the request a write would send (secrets redacted) and send nothing'
complete -c argusctl -n "__fish_argusctl_using_subcommand audit; and not __fish_seen_subcommand_from ls export verify-export help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c argusctl -n "__fish_argusctl_using_subcommand audit; and not __fish_seen_subcommand_from ls export verify-export help" -f -a "ls" -d 'List audit events, oldest first'
complete -c argusctl -n "__fish_argusctl_using_subcommand audit; and not __fish_seen_subcommand_from ls export verify-export help" -f -a "export" -d 'Export the audit trail to stdout, one record per line, as JSON lines or OCSF events (SPEC §14); with --checkpoint, resume after the last record delivered'
complete -c argusctl -n "__fish_argusctl_using_subcommand audit; and not __fish_seen_subcommand_from ls export verify-export help" -f -a "verify-export" -d 'Offline: check that an export (either format) chains without a gap, each record\'s hash covering its content, and with --checkpoint-key that a signed checkpoint in it (or the one given with --checkpoint) covers its last record; exit 1 naming the first bad seq'
complete -c argusctl -n "__fish_argusctl_using_subcommand audit; and not __fish_seen_subcommand_from ls export verify-export help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c argusctl -n "__fish_argusctl_using_subcommand audit; and __fish_seen_subcommand_from ls" -l tenant -r
complete -c argusctl -n "__fish_argusctl_using_subcommand audit; and __fish_seen_subcommand_from ls" -l since -d 'RFC 3339 time, or a duration back from now (`1h`, `30m`)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand audit; and __fish_seen_subcommand_from ls" -l limit -r
complete -c argusctl -n "__fish_argusctl_using_subcommand audit; and __fish_seen_subcommand_from ls" -l server -d 'Ops API base URL (default https://127.0.0.1:8443)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand audit; and __fish_seen_subcommand_from ls" -l ca-cert -d 'The ops CA certificate to pin (`tls/ca.pem` of the server\'s data dir)' -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand audit; and __fish_seen_subcommand_from ls" -l pat -d 'Personal access token' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand audit; and __fish_seen_subcommand_from ls" -l ops-token -d 'The shared second factor' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand audit; and __fish_seen_subcommand_from ls" -l profile -d 'The profile to take unset settings from (default: the current one; see `login`)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand audit; and __fish_seen_subcommand_from ls" -s o -l output -d 'Output format: table (default), wide, json or yaml' -r -f -a "table\t'Aligned columns (the default)'
wide\t'Every column the server answered'
json\t'The server\'s JSON, unchanged (`--json`)'
yaml\t'The same document as YAML'"
complete -c argusctl -n "__fish_argusctl_using_subcommand audit; and __fish_seen_subcommand_from ls" -l follow -d 'Keep printing new events as they are recorded (one per line; Ctrl-C stops)'
complete -c argusctl -n "__fish_argusctl_using_subcommand audit; and __fish_seen_subcommand_from ls" -l json -d 'Machine-readable output: the server\'s JSON, unchanged (same as `-o json`)'
complete -c argusctl -n "__fish_argusctl_using_subcommand audit; and __fish_seen_subcommand_from ls" -l dry-run -d 'Print the request a write would send (secrets redacted) and send nothing'
complete -c argusctl -n "__fish_argusctl_using_subcommand audit; and __fish_seen_subcommand_from ls" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c argusctl -n "__fish_argusctl_using_subcommand audit; and __fish_seen_subcommand_from export" -l tenant -r
complete -c argusctl -n "__fish_argusctl_using_subcommand audit; and __fish_seen_subcommand_from export" -l format -r -f -a "jsonl\t'The record exactly as `audit ls --json` shows it'
ocsf\t'The record as an OCSF 1.x event of its class'"
complete -c argusctl -n "__fish_argusctl_using_subcommand audit; and __fish_seen_subcommand_from export" -l checkpoint -d 'Where the last delivered record is kept: read to resume, written after each page is delivered (at-least-once, never a gap)' -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand audit; and __fish_seen_subcommand_from export" -l syslog -d 'Send to a syslog receiver instead of stdout: `tcp+tls://HOST:PORT` (RFC 5425, the receiver\'s certificate checked against --syslog-ca) or `udp://HOST:PORT` (RFC 5426)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand audit; and __fish_seen_subcommand_from export" -l syslog-ca -d 'The CA that signed the syslog receiver\'s certificate (PEM)' -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand audit; and __fish_seen_subcommand_from export" -l server -d 'Ops API base URL (default https://127.0.0.1:8443)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand audit; and __fish_seen_subcommand_from export" -l ca-cert -d 'The ops CA certificate to pin (`tls/ca.pem` of the server\'s data dir)' -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand audit; and __fish_seen_subcommand_from export" -l pat -d 'Personal access token' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand audit; and __fish_seen_subcommand_from export" -l ops-token -d 'The shared second factor' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand audit; and __fish_seen_subcommand_from export" -l profile -d 'The profile to take unset settings from (default: the current one; see `login`)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand audit; and __fish_seen_subcommand_from export" -s o -l output -d 'Output format: table (default), wide, json or yaml' -r -f -a "table\t'Aligned columns (the default)'
wide\t'Every column the server answered'
json\t'The server\'s JSON, unchanged (`--json`)'
yaml\t'The same document as YAML'"
complete -c argusctl -n "__fish_argusctl_using_subcommand audit; and __fish_seen_subcommand_from export" -l follow -d 'Keep exporting new records as they are written (long polls; Ctrl-C stops)'
complete -c argusctl -n "__fish_argusctl_using_subcommand audit; and __fish_seen_subcommand_from export" -l json -d 'Machine-readable output: the server\'s JSON, unchanged (same as `-o json`)'
complete -c argusctl -n "__fish_argusctl_using_subcommand audit; and __fish_seen_subcommand_from export" -l dry-run -d 'Print the request a write would send (secrets redacted) and send nothing'
complete -c argusctl -n "__fish_argusctl_using_subcommand audit; and __fish_seen_subcommand_from export" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c argusctl -n "__fish_argusctl_using_subcommand audit; and __fish_seen_subcommand_from verify-export" -l checkpoint-key -d 'The checkpoint public key (`GET /audit/checkpoint-key`\'s `public_key`, or init\'s `checkpoint_key`, hex in a file)' -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand audit; and __fish_seen_subcommand_from verify-export" -l checkpoint -d 'A later `audit_checkpoint` record (JSON) that covers the export\'s end' -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand audit; and __fish_seen_subcommand_from verify-export" -l tenant -d 'Check the tenant\'s own chain (by `tenant_seq`): a tenant\'s export' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand audit; and __fish_seen_subcommand_from verify-export" -l server -d 'Ops API base URL (default https://127.0.0.1:8443)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand audit; and __fish_seen_subcommand_from verify-export" -l ca-cert -d 'The ops CA certificate to pin (`tls/ca.pem` of the server\'s data dir)' -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand audit; and __fish_seen_subcommand_from verify-export" -l pat -d 'Personal access token' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand audit; and __fish_seen_subcommand_from verify-export" -l ops-token -d 'The shared second factor' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand audit; and __fish_seen_subcommand_from verify-export" -l profile -d 'The profile to take unset settings from (default: the current one; see `login`)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand audit; and __fish_seen_subcommand_from verify-export" -s o -l output -d 'Output format: table (default), wide, json or yaml' -r -f -a "table\t'Aligned columns (the default)'
wide\t'Every column the server answered'
json\t'The server\'s JSON, unchanged (`--json`)'
yaml\t'The same document as YAML'"
complete -c argusctl -n "__fish_argusctl_using_subcommand audit; and __fish_seen_subcommand_from verify-export" -l json -d 'Machine-readable output: the server\'s JSON, unchanged (same as `-o json`)'
complete -c argusctl -n "__fish_argusctl_using_subcommand audit; and __fish_seen_subcommand_from verify-export" -l dry-run -d 'Print the request a write would send (secrets redacted) and send nothing'
complete -c argusctl -n "__fish_argusctl_using_subcommand audit; and __fish_seen_subcommand_from verify-export" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c argusctl -n "__fish_argusctl_using_subcommand audit; and __fish_seen_subcommand_from help" -f -a "ls" -d 'List audit events, oldest first'
complete -c argusctl -n "__fish_argusctl_using_subcommand audit; and __fish_seen_subcommand_from help" -f -a "export" -d 'Export the audit trail to stdout, one record per line, as JSON lines or OCSF events (SPEC §14); with --checkpoint, resume after the last record delivered'
complete -c argusctl -n "__fish_argusctl_using_subcommand audit; and __fish_seen_subcommand_from help" -f -a "verify-export" -d 'Offline: check that an export (either format) chains without a gap, each record\'s hash covering its content, and with --checkpoint-key that a signed checkpoint in it (or the one given with --checkpoint) covers its last record; exit 1 naming the first bad seq'
complete -c argusctl -n "__fish_argusctl_using_subcommand audit; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and not __fish_seen_subcommand_from request ls show approve deny help" -l server -d 'Ops API base URL (default https://127.0.0.1:8443)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and not __fish_seen_subcommand_from request ls show approve deny help" -l ca-cert -d 'The ops CA certificate to pin (`tls/ca.pem` of the server\'s data dir)' -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and not __fish_seen_subcommand_from request ls show approve deny help" -l pat -d 'Personal access token' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and not __fish_seen_subcommand_from request ls show approve deny help" -l ops-token -d 'The shared second factor' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and not __fish_seen_subcommand_from request ls show approve deny help" -l profile -d 'The profile to take unset settings from (default: the current one; see `login`)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and not __fish_seen_subcommand_from request ls show approve deny help" -s o -l output -d 'Output format: table (default), wide, json or yaml' -r -f -a "table\t'Aligned columns (the default)'
wide\t'Every column the server answered'
json\t'The server\'s JSON, unchanged (`--json`)'
yaml\t'The same document as YAML'"
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and not __fish_seen_subcommand_from request ls show approve deny help" -l json -d 'Machine-readable output: the server\'s JSON, unchanged (same as `-o json`)'
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and not __fish_seen_subcommand_from request ls show approve deny help" -l dry-run -d 'Print the request a write would send (secrets redacted) and send nothing'
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and not __fish_seen_subcommand_from request ls show approve deny help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and not __fish_seen_subcommand_from request ls show approve deny help" -f -a "request" -d 'Ask the tenant\'s approvers for a session on an agent (expires after an hour)'
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and not __fish_seen_subcommand_from request ls show approve deny help" -f -a "ls" -d 'A tenant\'s access requests, newest first'
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and not __fish_seen_subcommand_from request ls show approve deny help" -f -a "show" -d 'One access request'
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and not __fish_seen_subcommand_from request ls show approve deny help" -f -a "approve" -d 'Approve a request: the approval is signed here with the approver\'s key (which never leaves this machine), then uploaded'
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and not __fish_seen_subcommand_from request ls show approve deny help" -f -a "deny" -d 'Deny a pending request'
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and not __fish_seen_subcommand_from request ls show approve deny help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from request" -l tenant -r
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from request" -l reason -r
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from request" -l ttl -d 'Session length asked for, e.g. `45m` (default 30m, at most 120m)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from request" -l server -d 'Ops API base URL (default https://127.0.0.1:8443)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from request" -l ca-cert -d 'The ops CA certificate to pin (`tls/ca.pem` of the server\'s data dir)' -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from request" -l pat -d 'Personal access token' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from request" -l ops-token -d 'The shared second factor' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from request" -l profile -d 'The profile to take unset settings from (default: the current one; see `login`)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from request" -s o -l output -d 'Output format: table (default), wide, json or yaml' -r -f -a "table\t'Aligned columns (the default)'
wide\t'Every column the server answered'
json\t'The server\'s JSON, unchanged (`--json`)'
yaml\t'The same document as YAML'"
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from request" -l json -d 'Machine-readable output: the server\'s JSON, unchanged (same as `-o json`)'
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from request" -l dry-run -d 'Print the request a write would send (secrets redacted) and send nothing'
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from request" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from ls" -l tenant -r
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from ls" -l server -d 'Ops API base URL (default https://127.0.0.1:8443)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from ls" -l ca-cert -d 'The ops CA certificate to pin (`tls/ca.pem` of the server\'s data dir)' -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from ls" -l pat -d 'Personal access token' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from ls" -l ops-token -d 'The shared second factor' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from ls" -l profile -d 'The profile to take unset settings from (default: the current one; see `login`)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from ls" -s o -l output -d 'Output format: table (default), wide, json or yaml' -r -f -a "table\t'Aligned columns (the default)'
wide\t'Every column the server answered'
json\t'The server\'s JSON, unchanged (`--json`)'
yaml\t'The same document as YAML'"
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from ls" -l pending -d 'Only pending ones'
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from ls" -l json -d 'Machine-readable output: the server\'s JSON, unchanged (same as `-o json`)'
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from ls" -l dry-run -d 'Print the request a write would send (secrets redacted) and send nothing'
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from ls" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from show" -l server -d 'Ops API base URL (default https://127.0.0.1:8443)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from show" -l ca-cert -d 'The ops CA certificate to pin (`tls/ca.pem` of the server\'s data dir)' -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from show" -l pat -d 'Personal access token' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from show" -l ops-token -d 'The shared second factor' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from show" -l profile -d 'The profile to take unset settings from (default: the current one; see `login`)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from show" -s o -l output -d 'Output format: table (default), wide, json or yaml' -r -f -a "table\t'Aligned columns (the default)'
wide\t'Every column the server answered'
json\t'The server\'s JSON, unchanged (`--json`)'
yaml\t'The same document as YAML'"
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from show" -l json -d 'Machine-readable output: the server\'s JSON, unchanged (same as `-o json`)'
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from show" -l dry-run -d 'Print the request a write would send (secrets redacted) and send nothing'
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from approve" -l key -d 'The approver\'s private key (`argusctl keygen`), listed in the agents\' approvers' -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from approve" -l approver -d 'Who approves, as the audit trail and the agent will name them' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from approve" -l not-after -d 'Until when the session may start: RFC 3339, or `+DURATION` (default `+1h`)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from approve" -l server -d 'Ops API base URL (default https://127.0.0.1:8443)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from approve" -l ca-cert -d 'The ops CA certificate to pin (`tls/ca.pem` of the server\'s data dir)' -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from approve" -l pat -d 'Personal access token' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from approve" -l ops-token -d 'The shared second factor' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from approve" -l profile -d 'The profile to take unset settings from (default: the current one; see `login`)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from approve" -s o -l output -d 'Output format: table (default), wide, json or yaml' -r -f -a "table\t'Aligned columns (the default)'
wide\t'Every column the server answered'
json\t'The server\'s JSON, unchanged (`--json`)'
yaml\t'The same document as YAML'"
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from approve" -l json -d 'Machine-readable output: the server\'s JSON, unchanged (same as `-o json`)'
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from approve" -l dry-run -d 'Print the request a write would send (secrets redacted) and send nothing'
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from approve" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from deny" -l reason -r
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from deny" -l server -d 'Ops API base URL (default https://127.0.0.1:8443)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from deny" -l ca-cert -d 'The ops CA certificate to pin (`tls/ca.pem` of the server\'s data dir)' -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from deny" -l pat -d 'Personal access token' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from deny" -l ops-token -d 'The shared second factor' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from deny" -l profile -d 'The profile to take unset settings from (default: the current one; see `login`)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from deny" -s o -l output -d 'Output format: table (default), wide, json or yaml' -r -f -a "table\t'Aligned columns (the default)'
wide\t'Every column the server answered'
json\t'The server\'s JSON, unchanged (`--json`)'
yaml\t'The same document as YAML'"
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from deny" -l json -d 'Machine-readable output: the server\'s JSON, unchanged (same as `-o json`)'
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from deny" -l dry-run -d 'Print the request a write would send (secrets redacted) and send nothing'
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from deny" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from help" -f -a "request" -d 'Ask the tenant\'s approvers for a session on an agent (expires after an hour)'
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from help" -f -a "ls" -d 'A tenant\'s access requests, newest first'
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from help" -f -a "show" -d 'One access request'
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from help" -f -a "approve" -d 'Approve a request: the approval is signed here with the approver\'s key (which never leaves this machine), then uploaded'
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from help" -f -a "deny" -d 'Deny a pending request'
complete -c argusctl -n "__fish_argusctl_using_subcommand access; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c argusctl -n "__fish_argusctl_using_subcommand cluster; and not __fish_seen_subcommand_from ls help" -l server -d 'Ops API base URL (default https://127.0.0.1:8443)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand cluster; and not __fish_seen_subcommand_from ls help" -l ca-cert -d 'The ops CA certificate to pin (`tls/ca.pem` of the server\'s data dir)' -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand cluster; and not __fish_seen_subcommand_from ls help" -l pat -d 'Personal access token' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand cluster; and not __fish_seen_subcommand_from ls help" -l ops-token -d 'The shared second factor' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand cluster; and not __fish_seen_subcommand_from ls help" -l profile -d 'The profile to take unset settings from (default: the current one; see `login`)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand cluster; and not __fish_seen_subcommand_from ls help" -s o -l output -d 'Output format: table (default), wide, json or yaml' -r -f -a "table\t'Aligned columns (the default)'
wide\t'Every column the server answered'
json\t'The server\'s JSON, unchanged (`--json`)'
yaml\t'The same document as YAML'"
complete -c argusctl -n "__fish_argusctl_using_subcommand cluster; and not __fish_seen_subcommand_from ls help" -l json -d 'Machine-readable output: the server\'s JSON, unchanged (same as `-o json`)'
complete -c argusctl -n "__fish_argusctl_using_subcommand cluster; and not __fish_seen_subcommand_from ls help" -l dry-run -d 'Print the request a write would send (secrets redacted) and send nothing'
complete -c argusctl -n "__fish_argusctl_using_subcommand cluster; and not __fish_seen_subcommand_from ls help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c argusctl -n "__fish_argusctl_using_subcommand cluster; and not __fish_seen_subcommand_from ls help" -f -a "ls" -d 'Every node: alive or not, the agents it holds, its addresses and last heartbeat'
complete -c argusctl -n "__fish_argusctl_using_subcommand cluster; and not __fish_seen_subcommand_from ls help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c argusctl -n "__fish_argusctl_using_subcommand cluster; and __fish_seen_subcommand_from ls" -l server -d 'Ops API base URL (default https://127.0.0.1:8443)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand cluster; and __fish_seen_subcommand_from ls" -l ca-cert -d 'The ops CA certificate to pin (`tls/ca.pem` of the server\'s data dir)' -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand cluster; and __fish_seen_subcommand_from ls" -l pat -d 'Personal access token' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand cluster; and __fish_seen_subcommand_from ls" -l ops-token -d 'The shared second factor' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand cluster; and __fish_seen_subcommand_from ls" -l profile -d 'The profile to take unset settings from (default: the current one; see `login`)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand cluster; and __fish_seen_subcommand_from ls" -s o -l output -d 'Output format: table (default), wide, json or yaml' -r -f -a "table\t'Aligned columns (the default)'
wide\t'Every column the server answered'
json\t'The server\'s JSON, unchanged (`--json`)'
yaml\t'The same document as YAML'"
complete -c argusctl -n "__fish_argusctl_using_subcommand cluster; and __fish_seen_subcommand_from ls" -l json -d 'Machine-readable output: the server\'s JSON, unchanged (same as `-o json`)'
complete -c argusctl -n "__fish_argusctl_using_subcommand cluster; and __fish_seen_subcommand_from ls" -l dry-run -d 'Print the request a write would send (secrets redacted) and send nothing'
complete -c argusctl -n "__fish_argusctl_using_subcommand cluster; and __fish_seen_subcommand_from ls" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c argusctl -n "__fish_argusctl_using_subcommand cluster; and __fish_seen_subcommand_from help" -f -a "ls" -d 'Every node: alive or not, the agents it holds, its addresses and last heartbeat'
complete -c argusctl -n "__fish_argusctl_using_subcommand cluster; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c argusctl -n "__fish_argusctl_using_subcommand version" -l server -d 'Ops API base URL (default https://127.0.0.1:8443)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand version" -l ca-cert -d 'The ops CA certificate to pin (`tls/ca.pem` of the server\'s data dir)' -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand version" -l pat -d 'Personal access token' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand version" -l ops-token -d 'The shared second factor' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand version" -l profile -d 'The profile to take unset settings from (default: the current one; see `login`)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand version" -s o -l output -d 'Output format: table (default), wide, json or yaml' -r -f -a "table\t'Aligned columns (the default)'
wide\t'Every column the server answered'
json\t'The server\'s JSON, unchanged (`--json`)'
yaml\t'The same document as YAML'"
complete -c argusctl -n "__fish_argusctl_using_subcommand version" -l json -d 'Machine-readable output: the server\'s JSON, unchanged (same as `-o json`)'
complete -c argusctl -n "__fish_argusctl_using_subcommand version" -l dry-run -d 'Print the request a write would send (secrets redacted) and send nothing'
complete -c argusctl -n "__fish_argusctl_using_subcommand version" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c argusctl -n "__fish_argusctl_using_subcommand login" -l server -d 'Ops API base URL (default https://127.0.0.1:8443)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand login" -l ca-cert -d 'The ops CA certificate to pin (`tls/ca.pem` of the server\'s data dir)' -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand login" -l pat -d 'Personal access token' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand login" -l ops-token -d 'The shared second factor' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand login" -l profile -d 'The profile to take unset settings from (default: the current one; see `login`)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand login" -s o -l output -d 'Output format: table (default), wide, json or yaml' -r -f -a "table\t'Aligned columns (the default)'
wide\t'Every column the server answered'
json\t'The server\'s JSON, unchanged (`--json`)'
yaml\t'The same document as YAML'"
complete -c argusctl -n "__fish_argusctl_using_subcommand login" -l json -d 'Machine-readable output: the server\'s JSON, unchanged (same as `-o json`)'
complete -c argusctl -n "__fish_argusctl_using_subcommand login" -l dry-run -d 'Print the request a write would send (secrets redacted) and send nothing'
complete -c argusctl -n "__fish_argusctl_using_subcommand login" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c argusctl -n "__fish_argusctl_using_subcommand profile; and not __fish_seen_subcommand_from ls use help" -l server -d 'Ops API base URL (default https://127.0.0.1:8443)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand profile; and not __fish_seen_subcommand_from ls use help" -l ca-cert -d 'The ops CA certificate to pin (`tls/ca.pem` of the server\'s data dir)' -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand profile; and not __fish_seen_subcommand_from ls use help" -l pat -d 'Personal access token' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand profile; and not __fish_seen_subcommand_from ls use help" -l ops-token -d 'The shared second factor' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand profile; and not __fish_seen_subcommand_from ls use help" -l profile -d 'The profile to take unset settings from (default: the current one; see `login`)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand profile; and not __fish_seen_subcommand_from ls use help" -s o -l output -d 'Output format: table (default), wide, json or yaml' -r -f -a "table\t'Aligned columns (the default)'
wide\t'Every column the server answered'
json\t'The server\'s JSON, unchanged (`--json`)'
yaml\t'The same document as YAML'"
complete -c argusctl -n "__fish_argusctl_using_subcommand profile; and not __fish_seen_subcommand_from ls use help" -l json -d 'Machine-readable output: the server\'s JSON, unchanged (same as `-o json`)'
complete -c argusctl -n "__fish_argusctl_using_subcommand profile; and not __fish_seen_subcommand_from ls use help" -l dry-run -d 'Print the request a write would send (secrets redacted) and send nothing'
complete -c argusctl -n "__fish_argusctl_using_subcommand profile; and not __fish_seen_subcommand_from ls use help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c argusctl -n "__fish_argusctl_using_subcommand profile; and not __fish_seen_subcommand_from ls use help" -f -a "ls" -d 'List profiles (never their secrets)'
complete -c argusctl -n "__fish_argusctl_using_subcommand profile; and not __fish_seen_subcommand_from ls use help" -f -a "use" -d 'Make NAME the current profile'
complete -c argusctl -n "__fish_argusctl_using_subcommand profile; and not __fish_seen_subcommand_from ls use help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c argusctl -n "__fish_argusctl_using_subcommand profile; and __fish_seen_subcommand_from ls" -l server -d 'Ops API base URL (default https://127.0.0.1:8443)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand profile; and __fish_seen_subcommand_from ls" -l ca-cert -d 'The ops CA certificate to pin (`tls/ca.pem` of the server\'s data dir)' -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand profile; and __fish_seen_subcommand_from ls" -l pat -d 'Personal access token' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand profile; and __fish_seen_subcommand_from ls" -l ops-token -d 'The shared second factor' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand profile; and __fish_seen_subcommand_from ls" -l profile -d 'The profile to take unset settings from (default: the current one; see `login`)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand profile; and __fish_seen_subcommand_from ls" -s o -l output -d 'Output format: table (default), wide, json or yaml' -r -f -a "table\t'Aligned columns (the default)'
wide\t'Every column the server answered'
json\t'The server\'s JSON, unchanged (`--json`)'
yaml\t'The same document as YAML'"
complete -c argusctl -n "__fish_argusctl_using_subcommand profile; and __fish_seen_subcommand_from ls" -l json -d 'Machine-readable output: the server\'s JSON, unchanged (same as `-o json`)'
complete -c argusctl -n "__fish_argusctl_using_subcommand profile; and __fish_seen_subcommand_from ls" -l dry-run -d 'Print the request a write would send (secrets redacted) and send nothing'
complete -c argusctl -n "__fish_argusctl_using_subcommand profile; and __fish_seen_subcommand_from ls" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c argusctl -n "__fish_argusctl_using_subcommand profile; and __fish_seen_subcommand_from use" -l server -d 'Ops API base URL (default https://127.0.0.1:8443)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand profile; and __fish_seen_subcommand_from use" -l ca-cert -d 'The ops CA certificate to pin (`tls/ca.pem` of the server\'s data dir)' -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand profile; and __fish_seen_subcommand_from use" -l pat -d 'Personal access token' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand profile; and __fish_seen_subcommand_from use" -l ops-token -d 'The shared second factor' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand profile; and __fish_seen_subcommand_from use" -l profile -d 'The profile to take unset settings from (default: the current one; see `login`)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand profile; and __fish_seen_subcommand_from use" -s o -l output -d 'Output format: table (default), wide, json or yaml' -r -f -a "table\t'Aligned columns (the default)'
wide\t'Every column the server answered'
json\t'The server\'s JSON, unchanged (`--json`)'
yaml\t'The same document as YAML'"
complete -c argusctl -n "__fish_argusctl_using_subcommand profile; and __fish_seen_subcommand_from use" -l json -d 'Machine-readable output: the server\'s JSON, unchanged (same as `-o json`)'
complete -c argusctl -n "__fish_argusctl_using_subcommand profile; and __fish_seen_subcommand_from use" -l dry-run -d 'Print the request a write would send (secrets redacted) and send nothing'
complete -c argusctl -n "__fish_argusctl_using_subcommand profile; and __fish_seen_subcommand_from use" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c argusctl -n "__fish_argusctl_using_subcommand profile; and __fish_seen_subcommand_from help" -f -a "ls" -d 'List profiles (never their secrets)'
complete -c argusctl -n "__fish_argusctl_using_subcommand profile; and __fish_seen_subcommand_from help" -f -a "use" -d 'Make NAME the current profile'
complete -c argusctl -n "__fish_argusctl_using_subcommand profile; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c argusctl -n "__fish_argusctl_using_subcommand completion" -l server -d 'Ops API base URL (default https://127.0.0.1:8443)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand completion" -l ca-cert -d 'The ops CA certificate to pin (`tls/ca.pem` of the server\'s data dir)' -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand completion" -l pat -d 'Personal access token' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand completion" -l ops-token -d 'The shared second factor' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand completion" -l profile -d 'The profile to take unset settings from (default: the current one; see `login`)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand completion" -s o -l output -d 'Output format: table (default), wide, json or yaml' -r -f -a "table\t'Aligned columns (the default)'
wide\t'Every column the server answered'
json\t'The server\'s JSON, unchanged (`--json`)'
yaml\t'The same document as YAML'"
complete -c argusctl -n "__fish_argusctl_using_subcommand completion" -l json -d 'Machine-readable output: the server\'s JSON, unchanged (same as `-o json`)'
complete -c argusctl -n "__fish_argusctl_using_subcommand completion" -l dry-run -d 'Print the request a write would send (secrets redacted) and send nothing'
complete -c argusctl -n "__fish_argusctl_using_subcommand completion" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c argusctl -n "__fish_argusctl_using_subcommand manpages" -l out -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand manpages" -l server -d 'Ops API base URL (default https://127.0.0.1:8443)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand manpages" -l ca-cert -d 'The ops CA certificate to pin (`tls/ca.pem` of the server\'s data dir)' -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand manpages" -l pat -d 'Personal access token' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand manpages" -l ops-token -d 'The shared second factor' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand manpages" -l profile -d 'The profile to take unset settings from (default: the current one; see `login`)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand manpages" -s o -l output -d 'Output format: table (default), wide, json or yaml' -r -f -a "table\t'Aligned columns (the default)'
wide\t'Every column the server answered'
json\t'The server\'s JSON, unchanged (`--json`)'
yaml\t'The same document as YAML'"
complete -c argusctl -n "__fish_argusctl_using_subcommand manpages" -l json -d 'Machine-readable output: the server\'s JSON, unchanged (same as `-o json`)'
complete -c argusctl -n "__fish_argusctl_using_subcommand manpages" -l dry-run -d 'Print the request a write would send (secrets redacted) and send nothing'
complete -c argusctl -n "__fish_argusctl_using_subcommand manpages" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c argusctl -n "__fish_argusctl_using_subcommand keygen" -l out -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand keygen" -l server -d 'Ops API base URL (default https://127.0.0.1:8443)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand keygen" -l ca-cert -d 'The ops CA certificate to pin (`tls/ca.pem` of the server\'s data dir)' -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand keygen" -l pat -d 'Personal access token' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand keygen" -l ops-token -d 'The shared second factor' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand keygen" -l profile -d 'The profile to take unset settings from (default: the current one; see `login`)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand keygen" -s o -l output -d 'Output format: table (default), wide, json or yaml' -r -f -a "table\t'Aligned columns (the default)'
wide\t'Every column the server answered'
json\t'The server\'s JSON, unchanged (`--json`)'
yaml\t'The same document as YAML'"
complete -c argusctl -n "__fish_argusctl_using_subcommand keygen" -l json -d 'Machine-readable output: the server\'s JSON, unchanged (same as `-o json`)'
complete -c argusctl -n "__fish_argusctl_using_subcommand keygen" -l dry-run -d 'Print the request a write would send (secrets redacted) and send nothing'
complete -c argusctl -n "__fish_argusctl_using_subcommand keygen" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c argusctl -n "__fish_argusctl_using_subcommand consent; and not __fish_seen_subcommand_from sign help" -l server -d 'Ops API base URL (default https://127.0.0.1:8443)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand consent; and not __fish_seen_subcommand_from sign help" -l ca-cert -d 'The ops CA certificate to pin (`tls/ca.pem` of the server\'s data dir)' -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand consent; and not __fish_seen_subcommand_from sign help" -l pat -d 'Personal access token' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand consent; and not __fish_seen_subcommand_from sign help" -l ops-token -d 'The shared second factor' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand consent; and not __fish_seen_subcommand_from sign help" -l profile -d 'The profile to take unset settings from (default: the current one; see `login`)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand consent; and not __fish_seen_subcommand_from sign help" -s o -l output -d 'Output format: table (default), wide, json or yaml' -r -f -a "table\t'Aligned columns (the default)'
wide\t'Every column the server answered'
json\t'The server\'s JSON, unchanged (`--json`)'
yaml\t'The same document as YAML'"
complete -c argusctl -n "__fish_argusctl_using_subcommand consent; and not __fish_seen_subcommand_from sign help" -l json -d 'Machine-readable output: the server\'s JSON, unchanged (same as `-o json`)'
complete -c argusctl -n "__fish_argusctl_using_subcommand consent; and not __fish_seen_subcommand_from sign help" -l dry-run -d 'Print the request a write would send (secrets redacted) and send nothing'
complete -c argusctl -n "__fish_argusctl_using_subcommand consent; and not __fish_seen_subcommand_from sign help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c argusctl -n "__fish_argusctl_using_subcommand consent; and not __fish_seen_subcommand_from sign help" -f -a "sign" -d 'Sign a consent document with the tenant\'s consent key'
complete -c argusctl -n "__fish_argusctl_using_subcommand consent; and not __fish_seen_subcommand_from sign help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c argusctl -n "__fish_argusctl_using_subcommand consent; and __fish_seen_subcommand_from sign" -l key -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand consent; and __fish_seen_subcommand_from sign" -l tenant -r
complete -c argusctl -n "__fish_argusctl_using_subcommand consent; and __fish_seen_subcommand_from sign" -l signer -r
complete -c argusctl -n "__fish_argusctl_using_subcommand consent; and __fish_seen_subcommand_from sign" -l expires -d 'RFC 3339 expiry (default: none)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand consent; and __fish_seen_subcommand_from sign" -l out -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand consent; and __fish_seen_subcommand_from sign" -l server -d 'Ops API base URL (default https://127.0.0.1:8443)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand consent; and __fish_seen_subcommand_from sign" -l ca-cert -d 'The ops CA certificate to pin (`tls/ca.pem` of the server\'s data dir)' -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand consent; and __fish_seen_subcommand_from sign" -l pat -d 'Personal access token' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand consent; and __fish_seen_subcommand_from sign" -l ops-token -d 'The shared second factor' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand consent; and __fish_seen_subcommand_from sign" -l profile -d 'The profile to take unset settings from (default: the current one; see `login`)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand consent; and __fish_seen_subcommand_from sign" -s o -l output -d 'Output format: table (default), wide, json or yaml' -r -f -a "table\t'Aligned columns (the default)'
wide\t'Every column the server answered'
json\t'The server\'s JSON, unchanged (`--json`)'
yaml\t'The same document as YAML'"
complete -c argusctl -n "__fish_argusctl_using_subcommand consent; and __fish_seen_subcommand_from sign" -l json -d 'Machine-readable output: the server\'s JSON, unchanged (same as `-o json`)'
complete -c argusctl -n "__fish_argusctl_using_subcommand consent; and __fish_seen_subcommand_from sign" -l dry-run -d 'Print the request a write would send (secrets redacted) and send nothing'
complete -c argusctl -n "__fish_argusctl_using_subcommand consent; and __fish_seen_subcommand_from sign" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c argusctl -n "__fish_argusctl_using_subcommand consent; and __fish_seen_subcommand_from help" -f -a "sign" -d 'Sign a consent document with the tenant\'s consent key'
complete -c argusctl -n "__fish_argusctl_using_subcommand consent; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c argusctl -n "__fish_argusctl_using_subcommand patch; and not __fish_seen_subcommand_from sign verify help" -l server -d 'Ops API base URL (default https://127.0.0.1:8443)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand patch; and not __fish_seen_subcommand_from sign verify help" -l ca-cert -d 'The ops CA certificate to pin (`tls/ca.pem` of the server\'s data dir)' -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand patch; and not __fish_seen_subcommand_from sign verify help" -l pat -d 'Personal access token' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand patch; and not __fish_seen_subcommand_from sign verify help" -l ops-token -d 'The shared second factor' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand patch; and not __fish_seen_subcommand_from sign verify help" -l profile -d 'The profile to take unset settings from (default: the current one; see `login`)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand patch; and not __fish_seen_subcommand_from sign verify help" -s o -l output -d 'Output format: table (default), wide, json or yaml' -r -f -a "table\t'Aligned columns (the default)'
wide\t'Every column the server answered'
json\t'The server\'s JSON, unchanged (`--json`)'
yaml\t'The same document as YAML'"
complete -c argusctl -n "__fish_argusctl_using_subcommand patch; and not __fish_seen_subcommand_from sign verify help" -l json -d 'Machine-readable output: the server\'s JSON, unchanged (same as `-o json`)'
complete -c argusctl -n "__fish_argusctl_using_subcommand patch; and not __fish_seen_subcommand_from sign verify help" -l dry-run -d 'Print the request a write would send (secrets redacted) and send nothing'
complete -c argusctl -n "__fish_argusctl_using_subcommand patch; and not __fish_seen_subcommand_from sign verify help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c argusctl -n "__fish_argusctl_using_subcommand patch; and not __fish_seen_subcommand_from sign verify help" -f -a "sign" -d 'Sign a hotfix patch with the offline ARGUS patch key'
complete -c argusctl -n "__fish_argusctl_using_subcommand patch; and not __fish_seen_subcommand_from sign verify help" -f -a "verify" -d 'Verify a signed patch and print its body'
complete -c argusctl -n "__fish_argusctl_using_subcommand patch; and not __fish_seen_subcommand_from sign verify help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c argusctl -n "__fish_argusctl_using_subcommand patch; and __fish_seen_subcommand_from sign" -l key -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand patch; and __fish_seen_subcommand_from sign" -l target -d '`config.yaml` or `hotfix/NAME.yaml`' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand patch; and __fish_seen_subcommand_from sign" -l file -d 'The new content' -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand patch; and __fish_seen_subcommand_from sign" -l base -d 'The current content the target must have (binds base_sha256)' -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand patch; and __fish_seen_subcommand_from sign" -l mode -d 'Octal mode, default 644' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand patch; and __fish_seen_subcommand_from sign" -l not-before -d 'RFC 3339, `now`, or `+DURATION` / `-DURATION` from now' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand patch; and __fish_seen_subcommand_from sign" -l not-after -d 'RFC 3339, `now`, or `+DURATION` from now (e.g. `+1h`)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand patch; and __fish_seen_subcommand_from sign" -l agent -d 'Bind to these agent IDs (repeatable; none = any agent)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand patch; and __fish_seen_subcommand_from sign" -l out -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand patch; and __fish_seen_subcommand_from sign" -l server -d 'Ops API base URL (default https://127.0.0.1:8443)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand patch; and __fish_seen_subcommand_from sign" -l ca-cert -d 'The ops CA certificate to pin (`tls/ca.pem` of the server\'s data dir)' -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand patch; and __fish_seen_subcommand_from sign" -l pat -d 'Personal access token' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand patch; and __fish_seen_subcommand_from sign" -l ops-token -d 'The shared second factor' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand patch; and __fish_seen_subcommand_from sign" -l profile -d 'The profile to take unset settings from (default: the current one; see `login`)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand patch; and __fish_seen_subcommand_from sign" -s o -l output -d 'Output format: table (default), wide, json or yaml' -r -f -a "table\t'Aligned columns (the default)'
wide\t'Every column the server answered'
json\t'The server\'s JSON, unchanged (`--json`)'
yaml\t'The same document as YAML'"
complete -c argusctl -n "__fish_argusctl_using_subcommand patch; and __fish_seen_subcommand_from sign" -l json -d 'Machine-readable output: the server\'s JSON, unchanged (same as `-o json`)'
complete -c argusctl -n "__fish_argusctl_using_subcommand patch; and __fish_seen_subcommand_from sign" -l dry-run -d 'Print the request a write would send (secrets redacted) and send nothing'
complete -c argusctl -n "__fish_argusctl_using_subcommand patch; and __fish_seen_subcommand_from sign" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c argusctl -n "__fish_argusctl_using_subcommand patch; and __fish_seen_subcommand_from verify" -l pubkey -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand patch; and __fish_seen_subcommand_from verify" -l server -d 'Ops API base URL (default https://127.0.0.1:8443)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand patch; and __fish_seen_subcommand_from verify" -l ca-cert -d 'The ops CA certificate to pin (`tls/ca.pem` of the server\'s data dir)' -r -F
complete -c argusctl -n "__fish_argusctl_using_subcommand patch; and __fish_seen_subcommand_from verify" -l pat -d 'Personal access token' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand patch; and __fish_seen_subcommand_from verify" -l ops-token -d 'The shared second factor' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand patch; and __fish_seen_subcommand_from verify" -l profile -d 'The profile to take unset settings from (default: the current one; see `login`)' -r
complete -c argusctl -n "__fish_argusctl_using_subcommand patch; and __fish_seen_subcommand_from verify" -s o -l output -d 'Output format: table (default), wide, json or yaml' -r -f -a "table\t'Aligned columns (the default)'
wide\t'Every column the server answered'
json\t'The server\'s JSON, unchanged (`--json`)'
yaml\t'The same document as YAML'"
complete -c argusctl -n "__fish_argusctl_using_subcommand patch; and __fish_seen_subcommand_from verify" -l json -d 'Machine-readable output: the server\'s JSON, unchanged (same as `-o json`)'
complete -c argusctl -n "__fish_argusctl_using_subcommand patch; and __fish_seen_subcommand_from verify" -l dry-run -d 'Print the request a write would send (secrets redacted) and send nothing'
complete -c argusctl -n "__fish_argusctl_using_subcommand patch; and __fish_seen_subcommand_from verify" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c argusctl -n "__fish_argusctl_using_subcommand patch; and __fish_seen_subcommand_from help" -f -a "sign" -d 'Sign a hotfix patch with the offline ARGUS patch key'
complete -c argusctl -n "__fish_argusctl_using_subcommand patch; and __fish_seen_subcommand_from help" -f -a "verify" -d 'Verify a signed patch and print its body'
complete -c argusctl -n "__fish_argusctl_using_subcommand patch; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c argusctl -n "__fish_argusctl_using_subcommand help; and not __fish_seen_subcommand_from agent support tenant pat audit access cluster version login profile completion manpages keygen consent patch help" -f -a "agent" -d 'Agents: list, fleet, capabilities, activation, revocation, enrollment tokens'
complete -c argusctl -n "__fish_argusctl_using_subcommand help; and not __fish_seen_subcommand_from agent support tenant pat audit access cluster version login profile completion manpages keygen consent patch help" -f -a "support" -d 'Remote-support sessions and commands'
complete -c argusctl -n "__fish_argusctl_using_subcommand help; and not __fish_seen_subcommand_from agent support tenant pat audit access cluster version login profile completion manpages keygen consent patch help" -f -a "tenant" -d 'Tenants: create, consent, arm, disarm, approval, show'
complete -c argusctl -n "__fish_argusctl_using_subcommand help; and not __fish_seen_subcommand_from agent support tenant pat audit access cluster version login profile completion manpages keygen consent patch help" -f -a "pat" -d 'Personal access tokens'
complete -c argusctl -n "__fish_argusctl_using_subcommand help; and not __fish_seen_subcommand_from agent support tenant pat audit access cluster version login profile completion manpages keygen consent patch help" -f -a "audit" -d 'The audit trail'
complete -c argusctl -n "__fish_argusctl_using_subcommand help; and not __fish_seen_subcommand_from agent support tenant pat audit access cluster version login profile completion manpages keygen consent patch help" -f -a "access" -d 'Access requests held by the tenant\'s approvers (SPEC §13)'
complete -c argusctl -n "__fish_argusctl_using_subcommand help; and not __fish_seen_subcommand_from agent support tenant pat audit access cluster version login profile completion manpages keygen consent patch help" -f -a "cluster" -d 'The nodes of a cluster (SPEC §10)'
complete -c argusctl -n "__fish_argusctl_using_subcommand help; and not __fish_seen_subcommand_from agent support tenant pat audit access cluster version login profile completion manpages keygen consent patch help" -f -a "version" -d 'This client\'s version and the server\'s (from its `/healthz`)'
complete -c argusctl -n "__fish_argusctl_using_subcommand help; and not __fish_seen_subcommand_from agent support tenant pat audit access cluster version login profile completion manpages keygen consent patch help" -f -a "login" -d 'Check --server, --ca-cert, --pat and --ops-token against the server and keep them as a profile (`--profile NAME`, default `default`) in $XDG_CONFIG_HOME/argus/config.toml'
complete -c argusctl -n "__fish_argusctl_using_subcommand help; and not __fish_seen_subcommand_from agent support tenant pat audit access cluster version login profile completion manpages keygen consent patch help" -f -a "profile" -d 'Profiles: list them, or choose the current one'
complete -c argusctl -n "__fish_argusctl_using_subcommand help; and not __fish_seen_subcommand_from agent support tenant pat audit access cluster version login profile completion manpages keygen consent patch help" -f -a "completion" -d 'Print a shell completion script (`source <(argusctl completion bash)`)'
complete -c argusctl -n "__fish_argusctl_using_subcommand help; and not __fish_seen_subcommand_from agent support tenant pat audit access cluster version login profile completion manpages keygen consent patch help" -f -a "manpages" -d 'Write roff man pages for argusctl and every subcommand into DIR'
complete -c argusctl -n "__fish_argusctl_using_subcommand help; and not __fish_seen_subcommand_from agent support tenant pat audit access cluster version login profile completion manpages keygen consent patch help" -f -a "keygen" -d 'Offline: make an Ed25519 key pair (PREFIX.key 0600, PREFIX.pub)'
complete -c argusctl -n "__fish_argusctl_using_subcommand help; and not __fish_seen_subcommand_from agent support tenant pat audit access cluster version login profile completion manpages keygen consent patch help" -f -a "consent" -d 'Offline: consent documents'
complete -c argusctl -n "__fish_argusctl_using_subcommand help; and not __fish_seen_subcommand_from agent support tenant pat audit access cluster version login profile completion manpages keygen consent patch help" -f -a "patch" -d 'Offline: signed hotfix patches'
complete -c argusctl -n "__fish_argusctl_using_subcommand help; and not __fish_seen_subcommand_from agent support tenant pat audit access cluster version login profile completion manpages keygen consent patch help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c argusctl -n "__fish_argusctl_using_subcommand help; and __fish_seen_subcommand_from agent" -f -a "ls" -d 'List a tenant\'s agents'
complete -c argusctl -n "__fish_argusctl_using_subcommand help; and __fish_seen_subcommand_from agent" -f -a "fleet" -d 'Cross-tenant roll-up'
complete -c argusctl -n "__fish_argusctl_using_subcommand help; and __fish_seen_subcommand_from agent" -f -a "capabilities" -d 'An agent\'s last capability manifest (no session needed)'
complete -c argusctl -n "__fish_argusctl_using_subcommand help; and __fish_seen_subcommand_from agent" -f -a "activate" -d 'Open a remote-support session (prints the session token once)'
complete -c argusctl -n "__fish_argusctl_using_subcommand help; and __fish_seen_subcommand_from agent" -f -a "deactivate" -d 'End a session'
complete -c argusctl -n "__fish_argusctl_using_subcommand help; and __fish_seen_subcommand_from agent" -f -a "revoke" -d 'Permanently revoke an agent (destructive: needs --yes)'
complete -c argusctl -n "__fish_argusctl_using_subcommand help; and __fish_seen_subcommand_from agent" -f -a "enroll-token" -d 'Issue a one-time enrollment token'
complete -c argusctl -n "__fish_argusctl_using_subcommand help; and __fish_seen_subcommand_from support" -f -a "activate" -d 'Open a remote-support session (same as `agent activate`)'
complete -c argusctl -n "__fish_argusctl_using_subcommand help; and __fish_seen_subcommand_from support" -f -a "command" -d 'Run an allowlisted command in a session'
complete -c argusctl -n "__fish_argusctl_using_subcommand help; and __fish_seen_subcommand_from support" -f -a "status" -d 'A session\'s state'
complete -c argusctl -n "__fish_argusctl_using_subcommand help; and __fish_seen_subcommand_from support" -f -a "deactivate" -d 'End a session'
complete -c argusctl -n "__fish_argusctl_using_subcommand help; and __fish_seen_subcommand_from tenant" -f -a "create" -d 'Create a tenant with its consent public key (admin)'
complete -c argusctl -n "__fish_argusctl_using_subcommand help; and __fish_seen_subcommand_from tenant" -f -a "consent" -d 'Record signed consent, or withdraw it'
complete -c argusctl -n "__fish_argusctl_using_subcommand help; and __fish_seen_subcommand_from tenant" -f -a "arm" -d 'Arm the tenant for remote support'
complete -c argusctl -n "__fish_argusctl_using_subcommand help; and __fish_seen_subcommand_from tenant" -f -a "disarm" -d 'Disarm the tenant (ends its live sessions)'
complete -c argusctl -n "__fish_argusctl_using_subcommand help; and __fish_seen_subcommand_from tenant" -f -a "approval" -d 'Require (or stop requiring) an approved access request for every activation on the tenant\'s machines (tenant admin or admin; SPEC §13). The agents\' own approver policies are the guarantee; this makes the server refuse early'
complete -c argusctl -n "__fish_argusctl_using_subcommand help; and __fish_seen_subcommand_from tenant" -f -a "show" -d 'Consent and arming state'
complete -c argusctl -n "__fish_argusctl_using_subcommand help; and __fish_seen_subcommand_from pat" -f -a "create" -d 'Create a PAT (admin); it is printed once'
complete -c argusctl -n "__fish_argusctl_using_subcommand help; and __fish_seen_subcommand_from pat" -f -a "ls" -d 'List PATs (admin): IDs, owners, scopes, expiry, last use; never a secret'
complete -c argusctl -n "__fish_argusctl_using_subcommand help; and __fish_seen_subcommand_from pat" -f -a "revoke" -d 'Revoke a PAT by its ID (admin): it answers invalid_pat from the next request on'
complete -c argusctl -n "__fish_argusctl_using_subcommand help; and __fish_seen_subcommand_from audit" -f -a "ls" -d 'List audit events, oldest first'
complete -c argusctl -n "__fish_argusctl_using_subcommand help; and __fish_seen_subcommand_from audit" -f -a "export" -d 'Export the audit trail to stdout, one record per line, as JSON lines or OCSF events (SPEC §14); with --checkpoint, resume after the last record delivered'
complete -c argusctl -n "__fish_argusctl_using_subcommand help; and __fish_seen_subcommand_from audit" -f -a "verify-export" -d 'Offline: check that an export (either format) chains without a gap, each record\'s hash covering its content, and with --checkpoint-key that a signed checkpoint in it (or the one given with --checkpoint) covers its last record; exit 1 naming the first bad seq'
complete -c argusctl -n "__fish_argusctl_using_subcommand help; and __fish_seen_subcommand_from access" -f -a "request" -d 'Ask the tenant\'s approvers for a session on an agent (expires after an hour)'
complete -c argusctl -n "__fish_argusctl_using_subcommand help; and __fish_seen_subcommand_from access" -f -a "ls" -d 'A tenant\'s access requests, newest first'
complete -c argusctl -n "__fish_argusctl_using_subcommand help; and __fish_seen_subcommand_from access" -f -a "show" -d 'One access request'
complete -c argusctl -n "__fish_argusctl_using_subcommand help; and __fish_seen_subcommand_from access" -f -a "approve" -d 'Approve a request: the approval is signed here with the approver\'s key (which never leaves this machine), then uploaded'
complete -c argusctl -n "__fish_argusctl_using_subcommand help; and __fish_seen_subcommand_from access" -f -a "deny" -d 'Deny a pending request'
complete -c argusctl -n "__fish_argusctl_using_subcommand help; and __fish_seen_subcommand_from cluster" -f -a "ls" -d 'Every node: alive or not, the agents it holds, its addresses and last heartbeat'
complete -c argusctl -n "__fish_argusctl_using_subcommand help; and __fish_seen_subcommand_from profile" -f -a "ls" -d 'List profiles (never their secrets)'
complete -c argusctl -n "__fish_argusctl_using_subcommand help; and __fish_seen_subcommand_from profile" -f -a "use" -d 'Make NAME the current profile'
complete -c argusctl -n "__fish_argusctl_using_subcommand help; and __fish_seen_subcommand_from consent" -f -a "sign" -d 'Sign a consent document with the tenant\'s consent key'
complete -c argusctl -n "__fish_argusctl_using_subcommand help; and __fish_seen_subcommand_from patch" -f -a "sign" -d 'Sign a hotfix patch with the offline ARGUS patch key'
complete -c argusctl -n "__fish_argusctl_using_subcommand help; and __fish_seen_subcommand_from patch" -f -a "verify" -d 'Verify a signed patch and print its body'
