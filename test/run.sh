#!/bin/sh
# The test command (npm test): installs the Debian parts the integration tier needs when running
# as root, type-checks, checks formatting and lint (Biome, test/biome.config.json), then runs
# every test file with node's test runner, one file at a time (integration files share the
# machine's single zfs-fuse daemon; a test past 20 minutes fails and a file's process ends with
# its tests, so a leaked child cannot hang the run), then the OpenZFS tier
# (test/openzfs/run.sh: QEMU guests with real OpenZFS 2.1 and 2.3, built in the background
# while the other tiers run when they are not cached yet), then the other Node versions
# (test/node-versions.sh: the unit tier and the demo on Node 22 and 24; their copies and npm ci
# are made in the background at the start).
# `sh test/run.sh unit` runs the unit tests only (on this node); `sh test/run.sh nodes [MODE]`
# only the other Node versions (MODE: see test/node-versions.sh).
set -eu
cd "$(dirname "$0")/.."
if [ "${1:-}" = nodes ]; then
  shift
  exec sh test/node-versions.sh "$@"
fi
guests=""
nodes=""
if [ "${1:-}" != unit ]; then
  if [ "$(id -u)" = 0 ]; then
    node --import tsx test/helpers/install-parts.ts
    # The OpenZFS guests take minutes to build the first time: build them beside the other tiers,
    # at the lowest priority, so that they take only the CPU the tests leave idle.
    guests_log=$(mktemp)
    nice -n 19 sh test/openzfs/run.sh build > "$guests_log" 2>&1 &
    guests=$!
  fi
  # The same for the other Node versions' copies and their npm ci (native builds of minutes).
  BZMAN_NODE_WORK=$(mktemp -d)
  export BZMAN_NODE_WORK
  nodes_log=$(mktemp)
  nice -n 19 sh test/node-versions.sh prepare > "$nodes_log" 2>&1 &
  nodes=$!
fi
npx tsc -p tsconfig.json --noEmit
# Formatting and lint of every TypeScript file; `npx biome check --config-path test/biome.config.json
# --write server test bench` applies the formatter and the safe fixes.
npx biome ci --colors=off --error-on-warnings --config-path test/biome.config.json server test bench
if [ "${1:-}" = unit ]; then
  files=$(find test -name '*.test.ts' -not -path 'test/integration/*' -not -path 'test/openzfs/*' | sort)
else
  files="$(find test -name '*.test.ts' -not -path 'test/integration/*' -not -path 'test/openzfs/*' | sort) $(find test/integration -name '*.test.ts' | sort)"
fi
# shellcheck disable=SC2086 # word splitting of the file list is intended
node --import tsx --test --test-concurrency=1 --test-force-exit --test-timeout=1200000 --test-reporter=spec $files
if [ "${1:-}" != unit ]; then
  if [ -n "$guests" ]; then
    if ! wait "$guests"; then
      tail -n 40 "$guests_log" >&2
      echo "test/run.sh: building the OpenZFS guests failed (log above)" >&2
      exit 1
    fi
    cat "$guests_log"
  fi
  sh test/openzfs/run.sh
  if ! wait "$nodes"; then
    tail -n 40 "$nodes_log" >&2
    echo "test/run.sh: preparing the other Node versions failed (log above)" >&2
    exit 1
  fi
  cat "$nodes_log"
  sh test/node-versions.sh
  rm -rf "$BZMAN_NODE_WORK"
fi
