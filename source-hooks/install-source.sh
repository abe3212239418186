#!/bin/sh
# Prepares a source host for bzman, idempotently:
#   1. the account bzman logs in as (created unless --as-root or it exists),
#   2. the guard at PREFIX/libexec/bzman-guard,
#   3. `zfs allow` delegation of exactly what bzman needs on each root (not with --as-root),
#   4. bzman's key in the account's authorized_keys, bound to the guard (replacing an older
#      line with the same key; each receiver's key gets a line of its own).
# The guard runs with --instance NAME, the receiver's name (its hold tag and bookmarks): given,
# or else taken from the key's comment (bzman@backup1.example.com gives backup1), and with
# --allow-resume where this zfs can resume a send (`send -t` in its usage), unless --no-resume.
# --restore installs the second, restore key instead (run it again with the restore key): its
# line binds the guard's --restore mode (only receive below the roots and renames aside), and
# delegation grants what a restore needs. The everyday key never gets those rights.
# --destdir DIR works below DIR (a throwaway root: packaging, tests): the account is created
# with `useradd --root DIR`, and delegation is printed, not run. --dry-run prints every step.
#
# Usage: sh install-source.sh --key "ssh-ed25519 AAAA… bzman@backup1" --root tank [--root data/vm]
#          [--instance NAME] [--no-resume] [--user bzman | --as-root] [--from ADDRESS]
#          [--prefix /usr/local] [--guard-option OPTION]… [--restore] [--destdir DIR] [--dry-run]
set -eu
LC_ALL=C
export LC_ALL

user=bzman
as_root=0
key=""
roots=""
from=""
prefix=/usr/local
guard_opts=""
instance=""
instance_given=0
resume=1
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
	--instance) [ $# -ge 2 ] || die "$1 needs a value"; instance=$2; instance_given=1; shift 2 ;;
	--no-resume) resume=0; shift ;;
	--destdir) [ $# -ge 2 ] || die "$1 needs a value"; destdir=$2; shift 2 ;;
	--dry-run) dry=1; shift ;;
	--restore) restore=1; shift ;;
	-h | --help) sed -n '2,19p' "$0"; exit 0 ;;
	*) die "unknown option $1 (see --help)" ;;
	esac
done
[ -n "$roots" ] || die "at least one --root is required"
case "$key" in
ssh-ed25519\ * | ssh-rsa\ * | ecdsa-sha2-nistp*\ *) ;;
*) die "--key must be an SSH public key line (ssh-ed25519 AAAA…)" ;;
esac
# A dataset name as the guard takes it: pool/child/…, each part starting with a letter, digit or _.
for r in $roots; do
	case "$r" in [!A-Za-z]* | *[!A-Za-z0-9_.:/-]* | */ | *//* | */[!A-Za-z0-9_]*) die "--root $r is not a dataset name" ;; esac
done
case "$user" in *[!a-z0-9_-]* | "") die "--user $user is not a user name" ;; esac
case "$from" in *[!A-Za-z0-9.:/*?,-]*) die "--from $from is not an address pattern" ;; esac
# The receiver's instance name: given, or from the key's comment (user@host.domain -> host), the
# same rule by which bzman names its default instance after its short hostname.
valid_instance() {
	case "$1" in "" | [!a-z0-9]* | *[!a-z0-9_-]*) return 1 ;; esac
	[ "${#1}" -le 63 ]
}
if [ "$restore" = 0 ]; then
	if [ "$instance_given" = 1 ]; then
		valid_instance "$instance" || die "--instance $instance is not an instance name (a-z 0-9 _ -, starting with a letter or digit, at most 63)"
	else
		comment=$(printf '%s\n' "$key" | cut -d' ' -f3-)
		case "$comment" in
		*@*)
			host=${comment##*@}
			instance=$(printf '%s' "${host%%.*}" | tr '[:upper:]' '[:lower:]' | tr -c 'a-z0-9_-' '-')
			;;
		esac
		valid_instance "$instance" || die "cannot tell this receiver's instance name from the key's comment \"$comment\" (expected bzman@HOST): give --instance NAME, the instance in bzman's config on the backup host"
		printf '= instance %s (from the key comment %s)\n' "$instance" "$comment"
	fi
fi

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
	# The password field is "*": no password can work, but the account is not "locked" (useradd's
	# "!"), which sshd without PAM (UsePAM no) refuses even for keys.
	if [ -n "$destdir" ]; then run useradd --root "$destdir" -r -m -d "/home/$user" -s /bin/sh -p '*' "$user"
	elif [ "$(uname -s)" = FreeBSD ]; then run pw useradd "$user" -m -d "/home/$user" -s /bin/sh -c "bzman backups"
	else run useradd -r -m -d "/home/$user" -s /bin/sh -p '*' "$user"; fi
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

# 3. delegation, and what this zfs can do (its usage text, printed by `zfs` alone)
usage=$(zfs 2>&1 || true)
if [ "$restore" = 1 ]; then
	PERMISSIONS=$RESTORE_PERMISSIONS
	guard_opts="$guard_opts --restore"
else
	if printf '%s\n' "$usage" | grep -q '^[[:space:]]*bookmark '; then
		PERMISSIONS=$PERMISSIONS,$BOOKMARK_PERMISSION
	fi
	resume_opt=""
	if ! printf '%s\n' "$usage" | grep -q '^[[:space:]]*send .*-t <receive_resume_token>'; then
		printf '= no resume: this zfs cannot send -t\n'
	elif [ "$resume" = 1 ]; then
		resume_opt=" --allow-resume"
		printf '= resume: the guard admits zfs send -t TOKEN after a dry run of the token\n'
	else
		printf '= no resume (--no-resume)\n'
	fi
	guard_opts=" --instance $instance$resume_opt$guard_opts"
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
