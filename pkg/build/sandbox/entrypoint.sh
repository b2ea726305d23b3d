#!/bin/bash
# opencode-cloud-entrypoint: start the sandbox (run by tini -g as PID 1).
#
#  1. restore the login users from the records in /var/lib/opencode-users (opencode-cloud-users sync);
#  2. start "opencode serve" as opencoder in /home/opencoder/workspace on 127.0.0.1:$OPENCODE_INTERNAL_PORT,
#     protected by a random secret made for this start;
#  3. once opencode answers, start the password check (opencode-cloud-auth, as www-data) and the nginx
#     gateway on $OPENCODE_HOST:$OPENCODE_PORT, which requires a login for everything except
#     GET /global/health and hands opencode the secret;
#  4. wait: if any of them ends the container ends (non-zero), and SIGTERM stops them all.
#
# Environment (all optional):
#   OPENCODE_PORT (or PORT)      gateway port, default 3000
#   OPENCODE_HOST                gateway address, default 0.0.0.0
#   OPENCODE_INTERNAL_PORT       opencode's loopback port, default 4096
#   OPENCODE_START_TIMEOUT       seconds to wait for opencode to answer, default 120
#   OPENCODE_CLOUD_OFFLINE=1     no model list download, LSP download or sharing (no internet)
#   OPENCODE_CLOUD_ACCESS_LOG    "failures" (default) or "all"
#   OPENCODE_CLOUD_LOGIN_ATTEMPTS  credential checks allowed per client address per window, default 5
#                                (4x that per user name); occ sets it from rate_limit_attempts
#   OPENCODE_CLOUD_LOGIN_WINDOW  that window in seconds, default 60 (rate_limit_window_seconds)
#   OPENCODE_CLOUD_TRUSTED_PROXIES  space-separated addresses/CIDRs whose X-Forwarded-For names the
#                                client (occ sets them with trust_proxy); default none
#   OPENCODE_CLOUD_HOST_MOUNTS   ':'-separated container paths of host directories the user mounted:
#                                left exactly as they are (occ sets it from its mounts)
#   OPENCODE_CLOUD_GATEWAY_WORKERS  nginx worker processes, default 4
#   OPENCODE_CLOUD_AUTH_CACHE    how long a successful login is remembered, default 5m (account
#                                changes forget every cached login at once)
set -euo pipefail
umask 022

log() { printf '[opencode-cloud] %s\n' "$*"; }
die() {
	printf '[opencode-cloud] ERROR: %s\n' "$*" >&2
	exit 1
}

RUNDIR=/run/opencode-cloud
HOME_DIR=/home/opencoder
WORKSPACE=$HOME_DIR/workspace
VERSION=$(cat /etc/opencode-cloud-version 2>/dev/null || echo unknown)
OPENCODE_VERSION=$(cat /etc/opencode-version 2>/dev/null || echo unknown)

GATEWAY_PORT=${OPENCODE_PORT:-${PORT:-3000}}
GATEWAY_ADDR=${OPENCODE_HOST:-0.0.0.0}
INTERNAL_PORT=${OPENCODE_INTERNAL_PORT:-4096}
START_TIMEOUT=${OPENCODE_START_TIMEOUT:-120}
LOGIN_ATTEMPTS=${OPENCODE_CLOUD_LOGIN_ATTEMPTS:-5}
LOGIN_WINDOW=${OPENCODE_CLOUD_LOGIN_WINDOW:-60}
TRUSTED_PROXIES=${OPENCODE_CLOUD_TRUSTED_PROXIES:-}
WORKERS=${OPENCODE_CLOUD_GATEWAY_WORKERS:-4}
AUTH_CACHE_TTL=${OPENCODE_CLOUD_AUTH_CACHE:-5m}
HOST_MOUNTS=()
IFS=: read -r -a HOST_MOUNTS <<<"${OPENCODE_CLOUD_HOST_MOUNTS:-}"

is_port() { [[ $1 =~ ^[0-9]+$ ]] && (($1 > 0 && $1 < 65536)); }
is_port "$GATEWAY_PORT" || die "OPENCODE_PORT must be a TCP port number, got '$GATEWAY_PORT'"
is_port "$INTERNAL_PORT" || die "OPENCODE_INTERNAL_PORT must be a TCP port number, got '$INTERNAL_PORT'"
[ "$GATEWAY_PORT" != "$INTERNAL_PORT" ] || die "OPENCODE_PORT and OPENCODE_INTERNAL_PORT are both $GATEWAY_PORT: give them different values"
addr_re='^[][0-9A-Za-z.:_-]+$'
[[ $GATEWAY_ADDR =~ $addr_re ]] || die "OPENCODE_HOST must be an address such as 0.0.0.0 or 127.0.0.1, got '$GATEWAY_ADDR'"
[[ $GATEWAY_ADDR == *:* && $GATEWAY_ADDR != \[* ]] && GATEWAY_ADDR="[$GATEWAY_ADDR]" # IPv6 for nginx's listen
[[ $START_TIMEOUT =~ ^[0-9]+$ ]] || die "OPENCODE_START_TIMEOUT must be a whole number of seconds, got '$START_TIMEOUT'"
[[ $LOGIN_ATTEMPTS =~ ^[0-9]{1,6}$ ]] && ((LOGIN_ATTEMPTS > 0)) || die "OPENCODE_CLOUD_LOGIN_ATTEMPTS must be a positive number of attempts, got '$LOGIN_ATTEMPTS'"
[[ $LOGIN_WINDOW =~ ^[0-9]{1,7}$ ]] && ((LOGIN_WINDOW > 0)) || die "OPENCODE_CLOUD_LOGIN_WINDOW must be a positive number of seconds, got '$LOGIN_WINDOW'"
for p in $TRUSTED_PROXIES; do
	[[ $p =~ ^[0-9A-Fa-f.:]+(/[0-9]{1,3})?$ ]] || die "OPENCODE_CLOUD_TRUSTED_PROXIES must list addresses or CIDRs such as 127.0.0.1/32, got '$p'"
done
[[ $WORKERS =~ ^[0-9]+$ ]] && ((WORKERS > 0 && WORKERS <= 64)) || die "OPENCODE_CLOUD_GATEWAY_WORKERS must be 1..64, got '$WORKERS'"
[[ $AUTH_CACHE_TTL =~ ^[0-9]+[sm]?$ ]] || die "OPENCODE_CLOUD_AUTH_CACHE must be a duration such as 10s, got '$AUTH_CACHE_TTL'"
# shellcheck disable=SC2016 # $occ_log_failure is an nginx variable, not a shell one
case ${OPENCODE_CLOUD_ACCESS_LOG:-failures} in
all) ACCESS_LOG_IF=1 ;;
failures) ACCESS_LOG_IF='$occ_log_failure' ;;
*) die "OPENCODE_CLOUD_ACCESS_LOG must be 'failures' or 'all', got '$OPENCODE_CLOUD_ACCESS_LOG'" ;;
esac

log "opencode-cloud sandbox $VERSION (opencode $OPENCODE_VERSION)"
if [ -n "${OPENCODE_CLOUD_LOGIN_RATE:-}" ]; then
	log "WARNING: OPENCODE_CLOUD_LOGIN_RATE is no longer used: set occ's rate_limit_attempts and rate_limit_window_seconds (OPENCODE_CLOUD_LOGIN_ATTEMPTS/_WINDOW)"
fi

# ---------------------------------------------------------------- directories

# The run directory is the sandbox's own: never a mount (emptying it would empty a host directory).
if mountpoint -q "$RUNDIR" 2>/dev/null; then
	die "$RUNDIR is a mount point: it is the sandbox's own run directory, emptied at every start; remove that mount"
fi
rm -rf "$RUNDIR"
install -d -m 0750 -o root -g www-data "$RUNDIR"
install -d -m 0700 -o www-data -g www-data "$RUNDIR/auth-cache" "$RUNDIR/auth"

# in_host_mount DIR: DIR is a host directory the user mounted, or inside one. Those are the user's:
# no chown or chmod (a mounted project keeps its owner), nothing created in them (they may be
# read-only), whatever ids they show (with a user namespace, host ids outside it show as nobody).
in_host_mount() {
	local m
	for m in "${HOST_MOUNTS[@]}"; do
		[ -n "$m" ] || continue
		[[ $1 == "$m" || $1 == "$m"/* ]] && return 0
	done
	return 1
}

# Volumes of other runtimes arrive root-owned when they are fresh: hand those to opencoder. occ
# creates its volumes with their owner, so it never gets here for them.
for d in "$WORKSPACE" "$HOME_DIR/.local" "$HOME_DIR/.local/share" "$HOME_DIR/.local/share/opencode" \
	"$HOME_DIR/.local/state" "$HOME_DIR/.local/state/opencode" "$HOME_DIR/.cache" "$HOME_DIR/.cache/opencode" \
	"$HOME_DIR/.config" "$HOME_DIR/.config/opencode" "$HOME_DIR/.ssh"; do
	in_host_mount "$d" && continue
	if [ ! -d "$d" ]; then
		install -d -o opencoder -g opencoder "$d" || log "WARNING: cannot create $d"
	elif [ "$(stat -c %u "$d")" = 0 ]; then
		chown opencoder:opencoder "$d" || log "WARNING: cannot hand $d to opencoder"
	fi
done
if ! in_host_mount "$HOME_DIR/.ssh" && [ "$(stat -c %U "$HOME_DIR/.ssh")" = opencoder ]; then
	chmod 0700 "$HOME_DIR/.ssh" || log "WARNING: cannot restrict $HOME_DIR/.ssh to opencoder"
fi

# ---------------------------------------------------------------- users

install -d -m 0700 /var/lib/opencode-users
/usr/local/sbin/opencode-cloud-users sync || log "WARNING: some user records could not be applied (see above)"
if [ -z "$(/usr/local/sbin/opencode-cloud-users list)" ]; then
	log "no login users yet: everything except /global/health answers 401 until one is added (occ user add NAME)"
fi

# ---------------------------------------------------------------- opencode

# A fresh secret for every start: opencode requires it, only the gateway's config holds it.
secret=$(head -c 48 /dev/urandom | base64 -w0 | tr -dc 'A-Za-z0-9' | head -c 48)
cache_secret=$(head -c 48 /dev/urandom | base64 -w0 | tr -dc 'A-Za-z0-9' | head -c 48)
upstream_user=opencode-cloud-gateway
upstream_auth=$(printf '%s:%s' "$upstream_user" "$secret" | base64 -w0)

opencode_env=(
	HOME="$HOME_DIR" USER=opencoder LOGNAME=opencoder SHELL=/bin/bash
	XDG_DATA_HOME="$HOME_DIR/.local/share" XDG_STATE_HOME="$HOME_DIR/.local/state"
	XDG_CONFIG_HOME="$HOME_DIR/.config" XDG_CACHE_HOME="$HOME_DIR/.cache"
	OPENCODE_SERVER_USERNAME="$upstream_user" OPENCODE_SERVER_PASSWORD="$secret"
)
if [ "${OPENCODE_CLOUD_OFFLINE:-}" = 1 ]; then
	opencode_env+=(OPENCODE_DISABLE_MODELS_FETCH=1 OPENCODE_DISABLE_LSP_DOWNLOAD=1 OPENCODE_DISABLE_SHARE=1)
fi

prefix() { sed -u "s/^/[opencode-cloud] $1: /"; }

stopping=0
oc_pid=
ng_pid=
au_pid=
on_signal() {
	stopping=1
	log "stopping"
	[ -n "$ng_pid" ] && kill -TERM "$ng_pid" 2>/dev/null
	[ -n "$oc_pid" ] && kill -TERM "$oc_pid" 2>/dev/null
	[ -n "$au_pid" ] && kill -TERM "$au_pid" 2>/dev/null
	return 0
}
trap on_signal TERM INT

# With host networking the ports are the host's: say so clearly when one is taken.
port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port_taken "$INTERNAL_PORT" && die "port $INTERNAL_PORT (OPENCODE_INTERNAL_PORT, opencode's internal port) is already in use on 127.0.0.1: choose a free one"
port_taken "$GATEWAY_PORT" && die "port $GATEWAY_PORT (OPENCODE_PORT, the gateway) is already in use on 127.0.0.1: stop what uses it or choose another port"

cd "$WORKSPACE"
log "starting opencode on 127.0.0.1:$INTERNAL_PORT"
# The container's environment (API keys etc.) passes on; the gateway's settings do not.
# The secret goes into opencode's environment with bash's export, never on a command line (a
# process's argv is readable by every user of the host, its environment only by its owner).
(
	unset OPENCODE_PORT PORT OPENCODE_HOST OPENCODE_INTERNAL_PORT
	export "${opencode_env[@]}"
	exec setpriv --reuid=1000 --regid=1000 --init-groups --no-new-privs \
		opencode serve --hostname 127.0.0.1 --port "$INTERNAL_PORT"
) > >(prefix opencode) 2>&1 </dev/null &
oc_pid=$!

# Readiness: the first request after opencode opens its port can hang for seconds, so every probe
# has its own timeout. The secret goes to curl on stdin, not on its command line.
probe_opencode() {
	printf 'user = "%s:%s"\n' "$upstream_user" "$secret" |
		curl -fsS -o /dev/null -m 3 -K - "http://127.0.0.1:$INTERNAL_PORT/global/health" 2>/dev/null
}
deadline=$((SECONDS + START_TIMEOUT))
until probe_opencode; do
	if ! kill -0 "$oc_pid" 2>/dev/null; then
		rc=0
		wait "$oc_pid" || rc=$?
		((stopping)) && exit 0
		die "opencode exited (status $rc) before it answered on 127.0.0.1:$INTERNAL_PORT; its output is above"
	fi
	if ((SECONDS >= deadline)); then
		kill -TERM "$oc_pid" 2>/dev/null || true
		die "opencode did not answer on 127.0.0.1:$INTERNAL_PORT within ${START_TIMEOUT}s (raise OPENCODE_START_TIMEOUT if the machine is slow); its output is above"
	fi
	sleep 0.5
done
kill -0 "$oc_pid" 2>/dev/null || die "opencode exited right after it answered; its output is above"
log "opencode is ready"

# ---------------------------------------------------------------- gateway

# trust_proxy: nginx takes the client address from X-Forwarded-For only from these peers.
{
	for p in $TRUSTED_PROXIES; do printf 'set_real_ip_from %s;\n' "$p"; done
	if [ -n "$TRUSTED_PROXIES" ]; then printf 'real_ip_header X-Forwarded-For;\nreal_ip_recursive on;\n'; fi
} >"$RUNDIR/realip.conf"

# Login limits: LOGIN_ATTEMPTS per LOGIN_WINDOW seconds (nginx counts whole requests per minute, at
# least 1), all of them at once (limit_req lets the burst plus one through); four times that per
# user name.
per_minute=$(((LOGIN_ATTEMPTS * 60 + LOGIN_WINDOW - 1) / LOGIN_WINDOW))
user_per_minute=$(((LOGIN_ATTEMPTS * 4 * 60 + LOGIN_WINDOW - 1) / LOGIN_WINDOW))
(
	# The substitutions hold the secrets: they go to sed in a file only root can read, never on
	# its command line.
	umask 077
	cat >"$RUNDIR/nginx.sed" <<-EOF
		s|@GATEWAY_ADDR@|$GATEWAY_ADDR|g
		s|@GATEWAY_PORT@|$GATEWAY_PORT|g
		s|@OPENCODE_PORT@|$INTERNAL_PORT|g
		s|@UPSTREAM_AUTH@|$upstream_auth|g
		s|@CACHE_SECRET@|$cache_secret|g
		s|@WORKERS@|$WORKERS|g
		s|@AUTH_CACHE_TTL@|$AUTH_CACHE_TTL|g
		s|@LOGIN_RATE@|${per_minute}r/m|g
		s|@LOGIN_RATE_USER@|${user_per_minute}r/m|g
		s|@LOGIN_BURST@|$((LOGIN_ATTEMPTS - 1))|g
		s|@LOGIN_BURST_USER@|$((LOGIN_ATTEMPTS * 4 - 1))|g
		s|@ACCESS_LOG_IF@|$ACCESS_LOG_IF|g
	EOF
	sed -f "$RUNDIR/nginx.sed" /etc/opencode-cloud/nginx.conf.template >"$RUNDIR/nginx.conf"
	rm -f "$RUNDIR/nginx.sed"
)
if ! out=$(nginx -t -q -c "$RUNDIR/nginx.conf" 2>&1); then
	printf '%s\n' "$out" | prefix nginx >&2
	kill -TERM "$oc_pid" "$au_pid" 2>/dev/null || true
	die "the gateway configuration is invalid (see above)"
fi
# The password check, as www-data (group shadow), with nothing of the container's environment.
setpriv --reuid="$(id -u www-data)" --regid="$(id -g www-data)" --init-groups --no-new-privs \
	env -i PATH=/usr/bin:/bin LANG=C.UTF-8 /usr/local/sbin/opencode-cloud-auth "$RUNDIR/auth/check.sock" \
	> >(prefix auth) 2>&1 </dev/null &
au_pid=$!
for _ in $(seq 1 100); do
	[ -S "$RUNDIR/auth/check.sock" ] && break
	kill -0 "$au_pid" 2>/dev/null || break
	sleep 0.05
done
if [ ! -S "$RUNDIR/auth/check.sock" ]; then
	kill -TERM "$oc_pid" "$au_pid" 2>/dev/null || true
	die "the password check (opencode-cloud-auth) did not start (see above)"
fi

log "starting the gateway on $GATEWAY_ADDR:$GATEWAY_PORT"
nginx -c "$RUNDIR/nginx.conf" -g 'daemon off;' > >(prefix nginx) 2>&1 </dev/null &
ng_pid=$!

probe_addr=$GATEWAY_ADDR
case $probe_addr in 0.0.0.0) probe_addr=127.0.0.1 ;; '[::]') probe_addr='[::1]' ;; esac
for _ in $(seq 1 100); do
	curl -fsS -o /dev/null -m 3 "http://$probe_addr:$GATEWAY_PORT/global/health" 2>/dev/null && break
	kill -0 "$ng_pid" 2>/dev/null || break
	sleep 0.1
done
if kill -0 "$ng_pid" 2>/dev/null; then
	log "ready: http://$probe_addr:$GATEWAY_PORT (log in with a user added by 'occ user add')"
fi

# ---------------------------------------------------------------- wait

rc=0
while :; do
	wait -n "$oc_pid" "$ng_pid" "$au_pid" || rc=$?
	((stopping)) && break
	if ! kill -0 "$oc_pid" 2>/dev/null; then
		log "ERROR: opencode exited (status $rc); stopping the gateway"
		break
	fi
	if ! kill -0 "$ng_pid" 2>/dev/null; then
		log "ERROR: the gateway (nginx) exited (status $rc); stopping opencode"
		break
	fi
	if ! kill -0 "$au_pid" 2>/dev/null; then
		log "ERROR: the password check (opencode-cloud-auth) exited (status $rc); stopping"
		break
	fi
done
kill -TERM "$oc_pid" "$ng_pid" "$au_pid" 2>/dev/null || true
wait "$oc_pid" 2>/dev/null || true
wait "$ng_pid" 2>/dev/null || true
wait "$au_pid" 2>/dev/null || true
if ((stopping)); then
	log "stopped"
	exit 0
fi
exit 1
