#!/bin/sh
# Prepares a source host for bzman, idempotently:
#   1. the account bzman logs in as (created unless --as-root or it exists),
#   2. the guard at PREFIX/libexec/bzman-guard,
#   3. `zfs allow` delegation of exactly what bzman needs on each root (not with --as-root),
#   4. bzman's key in the account's authorized_keys, bound to the guard (replacing an older
#      line with the same key).
# --restore installs the second, restore key instead (run it again with the restore key): its
# line binds the guard's --restore mode (only receive below the roots and renames aside), and
# delegation grants what a restore needs. The everyday key never gets those rights.
# --destdir DIR works below DIR (a throwaway root: packaging, tests): the account is created
# with `useradd --root DIR`, and delegation is printed, not run. --dry-run prints every step.
#
# Usage: sh install-source.sh --key "ssh-ed25519 AAAA… bzman@backup" --root tank [--root data/vm]
#          [--user bzman | --as-root] [--from ADDRESS] [--prefix /usr/local]
#          [--guard-option OPTION]… [--restore] [--destdir DIR] [--dry-run]
set -eu

user=bzman
as_root=0
key=""
roots=""
from=""
prefix=/usr/local
guard_opts=""
destdir=""
dry=0
PERMISSIONS=send,snapshot,hold,release,destroy,mount
# Added where this zfs has bookmarks (older ones reject the permission's name).
BOOKMARK_PERMISSION=bookmark
RESTORE_PERMISSIONS=receive,create,mount,rename
restore=0

die() { printf 'install-source.sh: %s\n' "$*" >&2; exit 1; }
while [ $# -gt 0 ]; do
	case "$1" in
	--key) [ $# -ge 2 ] || die "$1 needs a value"; key=$2; shift 2 ;;
	--root) [ $# -ge 2 ] || die "$1 needs a value"; roots="$roots $2"; shift 2 ;;
	--user) [ $# -ge 2 ] || die "$1 needs a value"; user=$2; shift 2 ;;
	--as-root) as_root=1; user=root; shift ;;
	--from) [ $# -ge 2 ] || die "$1 needs a value"; from=$2; shift 2 ;;
	--prefix) [ $# -ge 2 ] || die "$1 needs a value"; prefix=$2; shift 2 ;;
	--guard-option) [ $# -ge 2 ] || die "$1 needs a value"; guard_opts="$guard_opts $2"; shift 2 ;;
	--destdir) [ $# -ge 2 ] || die "$1 needs a value"; destdir=$2; shift 2 ;;
	--dry-run) dry=1; shift ;;
	--restore) restore=1; shift ;;
	-h | --help) sed -n '2,15p' "$0"; exit 0 ;;
	*) die "unknown option $1 (see --help)" ;;
	esac
done
[ -n "$roots" ] || die "at least one --root is required"
case "$key" in
ssh-ed25519\ * | ssh-rsa\ * | ecdsa-sha2-nistp*\ *) ;;
*) die "--key must be an SSH public key line (ssh-ed25519 AAAA…)" ;;
esac
for r in $roots; do
	case "$r" in *[!A-Za-z0-9_.:/-]* | -* | */ | *//*) die "--root $r is not a dataset name" ;; esac
done
case "$user" in *[!a-z0-9_-]* | "") die "--user $user is not a user name" ;; esac
case "$from" in *[!A-Za-z0-9.:/*?,-]*) die "--from $from is not an address pattern" ;; esac

here=$(cd "$(dirname "$0")" && pwd)
guard=$prefix/libexec/bzman-guard

run() {
	printf '+ %s\n' "$*"
	[ "$dry" = 1 ] || "$@"
}

# 1. the account
passwd_line() { # the passwd entry of $user, from the destdir or this system
	if [ -n "$destdir" ]; then grep "^$user:" "$destdir/etc/passwd" 2>/dev/null || true
	else getent passwd "$user" 2>/dev/null || grep "^$user:" /etc/passwd 2>/dev/null || true; fi
}
if [ "$as_root" = 0 ] && [ -z "$(passwd_line)" ]; then
	if [ -n "$destdir" ]; then run useradd --root "$destdir" -r -m -d "/home/$user" -s /bin/sh "$user"
	elif [ "$(uname -s)" = FreeBSD ]; then run pw useradd "$user" -m -d "/home/$user" -s /bin/sh -c "bzman backups"
	else run useradd -r -m -d "/home/$user" -s /bin/sh "$user"; fi
else
	printf '= account %s exists\n' "$user"
fi
home=$(passwd_line | cut -d: -f6)
[ -n "$home" ] || home=/home/$user
[ "$as_root" = 0 ] || home=${home:-/root}
# sshd runs the guard through the account's login shell; a shell that reads rc files (Debian's
# bash reads ~/.bashrc over SSH) adds about 250 ms to every command bzman sends.
shell=$(passwd_line | cut -d: -f7)
case "$shell" in
"" | /bin/sh | /usr/bin/sh | /bin/dash | /usr/bin/dash) ;;
*) printf 'warning: the login shell of %s is %s; a light one saves ~250 ms per command: usermod -s /bin/sh %s\n' "$user" "$shell" "$user" ;;
esac

# 2. the guard
run mkdir -p "$destdir$prefix/libexec"
run cp "$here/bzman-guard" "$destdir$guard.tmp"
run chmod 0755 "$destdir$guard.tmp"
run mv "$destdir$guard.tmp" "$destdir$guard"

# 3. delegation
if [ "$restore" = 1 ]; then
	PERMISSIONS=$RESTORE_PERMISSIONS
	guard_opts="$guard_opts --restore"
elif { zfs 2>&1 || true; } | grep -q '^[[:space:]]*bookmark '; then
	PERMISSIONS=$PERMISSIONS,$BOOKMARK_PERMISSION
fi
if [ "$as_root" = 0 ]; then
	for r in $roots; do
		if [ -n "$destdir" ]; then printf '= would run: zfs allow -u %s %s %s (not in a --destdir)\n' "$user" "$PERMISSIONS" "$r"
		else run zfs allow -u "$user" "$PERMISSIONS" "$r"; fi
	done
fi

# 4. authorized_keys
guard_args=""
for r in $roots; do guard_args="$guard_args --root $r"; done
options="restrict"
[ -z "$from" ] || options="$options,from=\"$from\""
line="$options,command=\"$guard$guard_args$guard_opts\" $key"
blob=$(printf '%s\n' "$key" | cut -d' ' -f2)
ssh_dir=$destdir$home/.ssh
keys=$ssh_dir/authorized_keys
run mkdir -p "$ssh_dir"
printf '+ write %s: %s\n' "$keys" "$line"
if [ "$dry" = 0 ]; then
	touch "$keys"
	grep -v -F "$blob" "$keys" > "$keys.tmp" || true
	printf '%s\n' "$line" >> "$keys.tmp"
	mv "$keys.tmp" "$keys"
	chmod 0700 "$ssh_dir"
	chmod 0600 "$keys"
	owner=$(passwd_line | cut -d: -f3,4)
	[ -z "$owner" ] || chown -R "$owner" "$ssh_dir"
fi
if [ "$restore" = 1 ]; then printf 'done: this key of %s may now only receive restores below%s\n' "$user" "$roots"
else printf 'done: %s may now run only bzman'"'"'s commands on%s\n' "$user" "$roots"; fi
