// Package remote owns occ's remote hosts: the hosts file (hosts.json, the
// schema of upstream opencode-cloud), the SSH connection to a host
// (golang.org/x/crypto/ssh: agent and key authentication, jump hosts,
// the HostName, User, Port, IdentityFile and ProxyJump of ~/.ssh/config,
// host keys checked against known_hosts with trust on first use), and
// running occ there: finding the remote occ and its version, installing
// this binary when it is missing or older, and streaming one occ command
// (stdin, stdout, stderr, a PTY when asked, the exit code).
package remote
