#!/bin/bash
# opencode-cloud-users: apply the persisted user records to the container's accounts.
#
# occ keeps one record per login user in the users volume, /var/lib/opencode-users/<name>.json:
#   {"username": "alice", "password_hash": "$6$...", "locked": false}
# (password_hash is a crypt(3) hash pam_unix accepts: yescrypt $y$, sha512-crypt $6$, ...).
# The records are the source of truth: the entrypoint runs "sync" at every start, and occ can run
# "apply NAME" through exec after changing a record so the change takes effect at once.
#
#   opencode-cloud-users sync         apply every record; delete managed accounts without one
#   opencode-cloud-users apply NAME   apply NAME's record, or delete the account if it has none
#   opencode-cloud-users list         print "NAME enabled|disabled" for every managed account
#
# Managed accounts are those whose primary group is opencode-users: only they can log in through
# the gateway (see opencode-cloud-auth). A record naming any other existing account (root,
# opencoder, www-data, ...) is refused. Passwords never appear on a command line: hashes are set
# through chpasswd -e on stdin. Exit status: 0 when every record applied, 1 otherwise.
set -uo pipefail

USERS_DIR=${OPENCODE_USERS_DIR:-/var/lib/opencode-users}
GROUP=opencode-users
NAME_RE='^[a-z_][a-z0-9_-]{0,31}$'

log() { printf '[opencode-cloud] users: %s\n' "$*"; }
warn() { printf '[opencode-cloud] users: WARNING: %s\n' "$*" >&2; }

group_gid() { getent group "$GROUP" | cut -d: -f3; }

# is_managed NAME: the account exists and its primary group is opencode-users.
is_managed() {
	local gid
	gid=$(id -g "$1" 2>/dev/null) || return 1
	[ "$gid" = "$(group_gid)" ]
}

managed_users() {
	local gid
	gid=$(group_gid)
	getent passwd | awk -F: -v g="$gid" '$4 == g { print $1 }'
}

# Forget cached gateway logins so that a changed password, a lock or a removal counts at once: delete
# every entry of the gateway's login cache (nginx treats a missing file as a miss and asks the
# password check again). No reload: open connections of the other users (event streams, terminal
# websockets) stay up. A check that was under way when the account changed may store its answer
# after the first pass, so a second pass follows it.
flush_auth_cache() {
	local cache=/run/opencode-cloud/auth-cache
	[ -d "$cache" ] || return 0
	find "$cache" -type f -delete 2>/dev/null
	[ -s /run/opencode-cloud/nginx.pid ] || return 0
	sleep 0.3
	find "$cache" -type f -delete 2>/dev/null
	return 0
}

remove_account() {
	local name=$1
	if userdel "$name" >/dev/null 2>&1; then
		log "removed $name (no record)"
	else
		warn "could not remove account $name"
		return 1
	fi
}

# apply_record NAME FILE
apply_record() {
	local name=$1 file=$2 rec user hash locked
	if ! rec=$(jq -ce 'select(type == "object")' "$file" 2>/dev/null); then
		warn "$file is not a JSON object: ignored (fix or remove it, then restart or run 'occ user passwd $name')"
		return 1
	fi
	user=$(jq -r '.username // ""' <<<"$rec")
	hash=$(jq -r '.password_hash // ""' <<<"$rec")
	locked=$(jq -r 'if .locked == true then "true" elif (.locked == false or .locked == null) then "false" else "bad" end' <<<"$rec")
	if [ "$user" != "$name" ]; then
		warn "$file names user '$user', not '$name': ignored"
		return 1
	fi
	if [[ ! $hash =~ ^\$[^:[:space:]]+$ ]]; then
		warn "$file has no usable password_hash (a crypt hash such as \$6\$...): ignored; set one with 'occ user passwd $name'"
		return 1
	fi
	if [ "$locked" = bad ]; then
		warn "$file: locked must be true or false: ignored"
		return 1
	fi
	if id "$name" >/dev/null 2>&1; then
		if ! is_managed "$name"; then
			warn "record $name names a system account, which cannot be a login user: ignored (remove $file)"
			return 1
		fi
	else
		if ! useradd --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin \
			--gid "$GROUP" --no-user-group --comment "opencode-cloud user" "$name" >/dev/null; then
			warn "could not create account $name"
			return 1
		fi
	fi
	if ! printf '%s:%s\n' "$name" "$hash" | chpasswd -e; then
		warn "could not set the password of $name"
		return 1
	fi
	if [ "$locked" = true ]; then
		usermod --lock "$name" >/dev/null || { warn "could not disable $name"; return 1; }
		log "restored $name (disabled)"
	else
		log "restored $name"
	fi
}

cmd_apply() {
	local name=$1 file rc=0
	if [[ ! $name =~ $NAME_RE ]]; then
		warn "'$name' is not a valid user name"
		return 1
	fi
	file=$USERS_DIR/$name.json
	if [ -f "$file" ]; then
		apply_record "$name" "$file" || rc=1
	elif is_managed "$name"; then
		remove_account "$name" || rc=1
	fi
	flush_auth_cache
	return $rc
}

cmd_sync() {
	local rc=0 file name n=0
	declare -A have=()
	if [ -d "$USERS_DIR" ]; then
		chown root:root "$USERS_DIR" 2>/dev/null
		chmod 0700 "$USERS_DIR" 2>/dev/null
		for file in "$USERS_DIR"/*.json; do
			[ -f "$file" ] || continue
			name=$(basename "$file" .json)
			if [[ ! $name =~ $NAME_RE ]]; then
				warn "$file: '$name' is not a valid user name: ignored"
				rc=1
				continue
			fi
			if apply_record "$name" "$file"; then
				have[$name]=1
				n=$((n + 1))
			else
				rc=1
			fi
		done
	fi
	for name in $(managed_users); do
		[ -n "${have[$name]:-}" ] || [ -f "$USERS_DIR/$name.json" ] || remove_account "$name" || rc=1
	done
	flush_auth_cache
	log "$n user record(s) applied"
	return $rc
}

cmd_list() {
	local name st
	for name in $(managed_users); do
		st=$(passwd -S "$name" 2>/dev/null | awk '{ print $2 }')
		if [ "$st" = L ]; then echo "$name disabled"; else echo "$name enabled"; fi
	done
}

case ${1:-} in
sync) cmd_sync ;;
apply)
	[ $# -eq 2 ] || { echo "usage: opencode-cloud-users apply NAME" >&2; exit 2; }
	cmd_apply "$2"
	;;
list) cmd_list ;;
*)
	echo "usage: opencode-cloud-users sync | apply NAME | list" >&2
	exit 2
	;;
esac
