#!/bin/sh
# Installs bzman from this source tree:
#   PREFIX/lib/bzman   the built package with its production dependencies
#   PREFIX/bin/bzman   the command
#   ETC/bzman.yaml     from bzman.example.yaml, only if there is none (never overwritten)
#   ETC/id_ed25519     bzman's SSH key for the sources, only if there is none
#   STATE              the history and lock directory (0750)
#   the service        systemd unit, SMF manifest or FreeBSD rc.d script, by platform
# Idempotent. --root DIR installs below DIR (packaging, tests); nothing is started then.
#
# Usage: sh deploy/install.sh [--prefix /opt/bzman] [--etc /etc/bzman] [--state /var/lib/bzman]
#                             [--root DIR] [--service auto|systemd|smf|rc|none] [--dry-run]
set -eu

prefix=/opt/bzman
etc=/etc/bzman
state=/var/lib/bzman
root=""
service=auto
dry=0

die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }
while [ $# -gt 0 ]; do
	case "$1" in
	--prefix) [ $# -ge 2 ] || die "$1 needs a value"; prefix=$2; shift 2 ;;
	--etc) [ $# -ge 2 ] || die "$1 needs a value"; etc=$2; shift 2 ;;
	--state) [ $# -ge 2 ] || die "$1 needs a value"; state=$2; shift 2 ;;
	--root) [ $# -ge 2 ] || die "$1 needs a value"; root=$2; shift 2 ;;
	--service) [ $# -ge 2 ] || die "$1 needs a value"; service=$2; shift 2 ;;
	--dry-run) dry=1; shift ;;
	-h | --help) sed -n '2,14p' "$0"; exit 0 ;;
	*) die "unknown option $1 (see --help)" ;;
	esac
done

here=$(cd "$(dirname "$0")/.." && pwd)
lib=$root$prefix/lib/bzman

run() {
	printf '+ %s\n' "$*"
	[ "$dry" = 1 ] || "$@"
}

substitute() { # FILE DEST: the template with @NODE@, @PREFIX@, @ETC@, @STATE@ filled in
	printf '+ write %s\n' "$2"
	[ "$dry" = 1 ] && return 0
	sed -e "s#@NODE@#$node#g" -e "s#@PREFIX@#$prefix#g" -e "s#@ETC@#$etc#g" -e "s#@STATE@#$state#g" "$1" > "$2.tmp"
	mv "$2.tmp" "$2"
}

node=$(command -v node) || die "node (20, 22 or 24) is required"
command -v npm > /dev/null || die "npm is required"

# Build from the sources in this tree, so what is installed is what is here (a stale dist/ is
# never installed). The tree's dev dependencies are installed only when they are missing.
if [ -d "$here/server" ]; then
	[ -x "$here/node_modules/.bin/tsc" ] || run sh -c "cd '$here' && npm ci --no-audit --no-fund"
	run rm -rf "$here/dist"
	run sh -c "cd '$here' && npm run build"
fi
[ "$dry" = 1 ] || [ -f "$here/dist/server/main.js" ] || die "no build in $here/dist"

run mkdir -p "$lib" "$root$prefix/bin"
run rm -rf "$lib/dist"
run cp -R "$here/dist" "$here/source-hooks" "$here/deploy" "$here/package.json" "$here/package-lock.json" "$here/README.md" "$lib/"
run sh -c "cd '$lib' && npm ci --omit=dev --prefer-offline --no-audit --no-fund --loglevel=error"
run chmod 0755 "$lib/dist/server/main.js" "$lib/source-hooks/bzman-guard"
run ln -sfn ../lib/bzman/dist/server/main.js "$root$prefix/bin/bzman"

run mkdir -p "$root$etc" "$root$state"
run chmod 0750 "$root$etc" "$root$state"
if [ -f "$root$etc/bzman.yaml" ]; then
	printf '= keep %s\n' "$root$etc/bzman.yaml"
else
	printf '+ write %s\n' "$root$etc/bzman.yaml"
	if [ "$dry" = 0 ]; then
		sed -e "s#^state: /var/lib/bzman/state.json#state: $state/state.json#" \
			-e "s#/etc/bzman/id_ed25519#$etc/id_ed25519#g" "$here/deploy/bzman.example.yaml" > "$root$etc/bzman.yaml"
		chmod 0640 "$root$etc/bzman.yaml"
	fi
fi
if [ -f "$root$etc/id_ed25519" ]; then
	printf '= keep %s\n' "$root$etc/id_ed25519"
else
	run ssh-keygen -q -t ed25519 -N '' -C "bzman@$(hostname)" -f "$root$etc/id_ed25519"
fi

if [ "$service" = auto ]; then
	if [ "$(uname -s)" = FreeBSD ]; then service=rc
	elif command -v svccfg > /dev/null; then service=smf
	elif [ -d /etc/systemd/system ] || command -v systemctl > /dev/null; then service=systemd
	else service=none; fi
fi
case "$service" in
systemd)
	run mkdir -p "$root/etc/systemd/system"
	substitute "$here/deploy/bzman.service" "$root/etc/systemd/system/bzman.service"
	[ -n "$root" ] || run systemctl daemon-reload
	next="systemctl enable --now bzman"
	;;
smf)
	substitute "$here/deploy/bzman.smf.xml" "$lib/bzman.smf.xml"
	[ -n "$root" ] || run svccfg import "$lib/bzman.smf.xml"
	next="svcadm enable bzman"
	;;
rc)
	run mkdir -p "$root/usr/local/etc/rc.d"
	substitute "$here/deploy/bzman.rc" "$root/usr/local/etc/rc.d/bzman"
	run chmod 0555 "$root/usr/local/etc/rc.d/bzman"
	next="sysrc bzman_enable=YES && service bzman start"
	;;
none) next="run $prefix/bin/bzman --config $etc/bzman.yaml serve under your service manager" ;;
*) die "unknown --service $service" ;;
esac

cat <<DONE

bzman is installed in $prefix.
1. Edit $etc/bzman.yaml: your sources, their datasets and targets.
2. On each source, install the guard and this key (source-hooks/install-source.sh):
   $( [ -f "$root$etc/id_ed25519.pub" ] && cat "$root$etc/id_ed25519.pub" || echo "(the key is created when not a dry run)")
3. Pin each source's host key: $prefix/bin/bzman --config $etc/bzman.yaml trust SOURCE
4. Check: $prefix/bin/bzman --config $etc/bzman.yaml check
5. Start: $next
DONE
