#!/bin/sh
# Installs bzman from this source tree:
#   PREFIX/lib/bzman   the built package with its production dependencies
#   PREFIX/bin/bzman   the command
#   ETC/bzman.yaml     from bzman.example.yaml, only if there is none (never overwritten)
#   ETC/id_ed25519     bzman's SSH key for the sources, only if there is none
#   STATE              the history and lock directory (0750)
#   the service        systemd unit, SMF manifest or FreeBSD rc.d script, by platform
# The defaults follow the platform (uname):
#   Linux                 /opt/bzman, /etc/bzman, /var/lib/bzman; systemd when present
#   SmartOS global zone   /opt/bzman, /opt/bzman/etc, /opt/bzman/var; SMF, manifest in
#                         /opt/custom/smf (/etc does not survive a reboot there, /opt does)
#   other illumos         /opt/bzman, /etc/bzman, /var/lib/bzman; SMF, /var/svc/manifest/site
#   FreeBSD               /usr/local, /usr/local/etc/bzman, /var/db/bzman; rc.d
# The services run node by its full path: the one on PATH now, or --node.
# Idempotent. --root DIR installs below DIR (packaging, tests); nothing is started then.
#
# Usage: sh deploy/install.sh [--prefix DIR] [--etc DIR] [--state DIR] [--node PATH]
#                             [--root DIR] [--service auto|systemd|smf|rc|none] [--dry-run]
set -eu

prefix=""
etc=""
state=""
node=""
root=""
service=auto
dry=0

die() { printf 'install.sh: %s\n' "$*" >&2; exit 1; }
while [ $# -gt 0 ]; do
	case "$1" in
	--prefix) [ $# -ge 2 ] || die "$1 needs a value"; prefix=$2; shift 2 ;;
	--etc) [ $# -ge 2 ] || die "$1 needs a value"; etc=$2; shift 2 ;;
	--state) [ $# -ge 2 ] || die "$1 needs a value"; state=$2; shift 2 ;;
	--node) [ $# -ge 2 ] || die "$1 needs a value"; node=$2; shift 2 ;;
	--root) [ $# -ge 2 ] || die "$1 needs a value"; root=$2; shift 2 ;;
	--service) [ $# -ge 2 ] || die "$1 needs a value"; service=$2; shift 2 ;;
	--dry-run) dry=1; shift ;;
	-h | --help) sed -n '2,20p' "$0"; exit 0 ;;
	*) die "unknown option $1 (see --help)" ;;
	esac
done

# The platform, once: smartos (the global zone of SmartOS), illumos, freebsd or linux.
case "$(uname -s)" in
SunOS)
	platform=illumos
	case "$(uname -v)" in
	*joyent*) [ "$(zonename 2> /dev/null || echo global)" = global ] && platform=smartos ;;
	esac
	;;
FreeBSD) platform=freebsd ;;
*) platform=linux ;;
esac
# Where SMF imports manifests at boot: on the SmartOS global zone only /opt/custom/smf survives.
manifests=/var/svc/manifest/site
case "$platform" in
smartos) : "${prefix:=/opt/bzman}" "${etc:=/opt/bzman/etc}" "${state:=/opt/bzman/var}"; manifests=/opt/custom/smf ;;
freebsd) : "${prefix:=/usr/local}" "${etc:=/usr/local/etc/bzman}" "${state:=/var/db/bzman}" ;;
*) : "${prefix:=/opt/bzman}" "${etc:=/etc/bzman}" "${state:=/var/lib/bzman}" ;;
esac

[ -n "$node" ] || node=$(command -v node) || die "node (20, 22 or 24) is required"
command -v npm > /dev/null || die "npm is required"
# These paths end up in sed expressions, an SMF exec string and an rc.d command line.
for p in "$prefix" "$etc" "$state" "$node"; do
	case "$p" in
	/*) ;;
	*) die "$p: paths must be absolute" ;;
	esac
	case "$p" in
	*[!A-Za-z0-9/._+-]*) die "$p: paths may hold only letters, digits and / . _ + -" ;;
	esac
done
[ -x "$node" ] || die "$node is not an executable node"

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

# tree_modules_fit: $here/node_modules holds exactly the packages of $here/package-lock.json
# (npm's own record, node_modules/.package-lock.json, names each with the lockfile's version,
# source and integrity; only optional packages may be missing), and every native module in it
# (each binding.gyp's first target) loads in $node.
tree_modules_fit() {
	if [ ! -f "$here/node_modules/.package-lock.json" ]; then
		printf '= not reusing %s: no node_modules/.package-lock.json (not installed by npm ci)\n' "$here/node_modules"
		return 1
	fi
	"$node" - "$here" <<'JS'
const { readFileSync, readdirSync, existsSync } = require("node:fs");
const { join } = require("node:path");
const here = process.argv[2];
const read = (f) => JSON.parse(readFileSync(join(here, f), "utf8")).packages ?? {};
const lock = read("package-lock.json");
const have = read("node_modules/.package-lock.json");
const same = (a, b) => a.version === b.version && a.resolved === b.resolved && a.integrity === b.integrity;
const gyps = (dir) =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const f = join(dir, e.name);
    if (e.isDirectory()) return e.name === "test" || e.name === "build" ? [] : gyps(f);
    return e.name === "binding.gyp" ? [dir] : [];
  });
const misfit = () => {
  for (const [path, p] of Object.entries(lock))
    if (path !== "" && (have[path] ? !same(p, have[path]) : !p.optional)) return `${path} is not the lockfile's`;
  const extra = Object.keys(have).find((path) => !lock[path]);
  if (extra) return `${extra} is not in the lockfile`;
  for (const pkg of gyps(join(here, "node_modules"))) {
    const target = /["']target_name["']\s*:\s*["']([^"']+)["']/.exec(readFileSync(join(pkg, "binding.gyp"), "utf8"));
    const built = target && join(pkg, "build/Release", `${target[1]}.node`);
    if (!built || !existsSync(built)) return `${pkg} has no built native module`;
    try {
      process.dlopen({ exports: {} }, built);
    } catch (e) {
      return `${built} does not load in ${process.execPath}: ${String(e.message).split("\n")[0]}`;
    }
  }
  return "";
};
const why = misfit();
if (why) console.log(`= not reusing ${join(here, "node_modules")}: ${why}`);
process.exit(why ? 1 : 0);
JS
}

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
# The production dependencies. When this tree's node_modules is what `npm ci` made of this very
# lockfile and each of its native modules loads in $node, it is copied and pruned to production:
# the same packages as `npm ci --omit=dev` gives, without building the native modules again
# (minutes). Otherwise, or when the pruned copy is not a valid tree, `npm ci --omit=dev`. A dry
# run checks too, and says which it would do.
reuse=0
tree_modules_fit && reuse=1
if [ "$reuse" = 1 ]; then
	run rm -rf "$lib/node_modules"
	run cp -RP "$here/node_modules" "$lib/"
	if ! run sh -c "cd '$lib' && npm prune --omit=dev --prefer-offline --no-audit --no-fund --loglevel=error && npm ls --omit=dev --all > /dev/null"; then
		printf '= the copied node_modules is not a valid production tree: npm ci instead\n'
		run rm -rf "$lib/node_modules"
		reuse=0
	fi
fi
[ "$reuse" = 1 ] || run sh -c "cd '$lib' && npm ci --omit=dev --prefer-offline --no-audit --no-fund --loglevel=error"
run chmod 0755 "$lib/dist/server/main.js" "$lib/source-hooks/bzman-guard"
run ln -sfn ../lib/bzman/dist/server/main.js "$root$prefix/bin/bzman"

run mkdir -p "$root$etc" "$root$state"
run chmod 0750 "$root$etc" "$root$state"
if [ -f "$root$etc/bzman.yaml" ]; then
	printf '= keep %s\n' "$root$etc/bzman.yaml"
else
	printf '+ write %s\n' "$root$etc/bzman.yaml"
	if [ "$dry" = 0 ]; then
		sed -e "s#^state: /var/lib/bzman/#state: $state/#" -e "s#/etc/bzman/#$etc/#g" \
			"$here/deploy/bzman.example.yaml" > "$root$etc/bzman.yaml"
		chmod 0640 "$root$etc/bzman.yaml"
	fi
fi
if [ -f "$root$etc/id_ed25519" ]; then
	printf '= keep %s\n' "$root$etc/id_ed25519"
else
	run ssh-keygen -q -t ed25519 -N '' -C "bzman@$(hostname)" -f "$root$etc/id_ed25519"
fi

if [ "$service" = auto ]; then
	case "$platform" in
	smartos | illumos) service=smf ;;
	freebsd) service=rc ;;
	*) if [ -d /etc/systemd/system ] || command -v systemctl > /dev/null; then service=systemd; else service=none; fi ;;
	esac
fi
note=""
case "$service" in
systemd)
	run mkdir -p "$root/etc/systemd/system"
	substitute "$here/deploy/bzman.service" "$root/etc/systemd/system/bzman.service"
	[ -n "$root" ] || run systemctl daemon-reload
	next="systemctl enable --now bzman"
	;;
smf)
	run mkdir -p "$root$manifests"
	substitute "$here/deploy/bzman.smf.xml" "$root$manifests/bzman.xml"
	[ -n "$root" ] || run svccfg import "$manifests/bzman.xml"
	next="svcadm enable bzman   (its log: svcs -L bzman)"
	;;
rc)
	run mkdir -p "$root/usr/local/etc/rc.d" "$root/usr/local/etc/newsyslog.conf.d"
	substitute "$here/deploy/bzman.rc" "$root/usr/local/etc/rc.d/bzman"
	run chmod 0555 "$root/usr/local/etc/rc.d/bzman"
	substitute "$here/deploy/bzman.newsyslog.conf" "$root/usr/local/etc/newsyslog.conf.d/bzman.conf"
	next="sysrc bzman_enable=YES && service bzman start   (its log: /var/log/bzman.log)"
	;;
none) next="run $node $prefix/bin/bzman --config $etc/bzman.yaml serve under your service manager" ;;
*) die "unknown --service $service" ;;
esac
if [ "$platform" = smartos ]; then
	note="
This is the global zone of SmartOS: /etc and manifests imported by hand are gone after a
reboot, so the config, the key and the history are under $etc and $state, and the
manifest is $manifests/bzman.xml, which SmartOS imports at every boot."
fi

cat <<DONE

bzman is installed in $prefix; its config is $etc/bzman.yaml, its history in $state.$note
1. Edit $etc/bzman.yaml: your sources, their datasets and targets.
2. On each source, install the guard and this key (source-hooks/install-source.sh):
   $( [ -f "$root$etc/id_ed25519.pub" ] && cat "$root$etc/id_ed25519.pub" || echo "(the key is created when not a dry run)")
3. Pin each source's host key: $prefix/bin/bzman --config $etc/bzman.yaml trust SOURCE
   ($([ "$etc" = /etc/bzman ] && echo "--config can be left out: it is the default" || echo "or export BZMAN_CONFIG=$etc/bzman.yaml once"))
4. Check: $prefix/bin/bzman --config $etc/bzman.yaml check
5. Start: $next
DONE
