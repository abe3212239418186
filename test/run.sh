#!/bin/sh
# The test command (npm test): installs the Debian parts the integration tier needs when running
# as root, type-checks, then runs every test file with node's test runner, one file at a time
# (integration files share the machine's single zfs-fuse daemon), then the OpenZFS tier
# (test/openzfs/run.sh: a QEMU guest with real OpenZFS 2.1), then the other Node versions
# (test/node-versions.sh: the unit tier and the demo on Node 22 and 24).
# `sh test/run.sh unit` runs the unit tests only (on this node); `sh test/run.sh nodes [MODE]`
# only the other Node versions (MODE: see test/node-versions.sh).
set -eu
cd "$(dirname "$0")/.."
if [ "${1:-}" = nodes ]; then
  shift
  exec sh test/node-versions.sh "$@"
fi
if [ "${1:-}" != unit ] && [ "$(id -u)" = 0 ]; then
  node --import tsx test/helpers/install-parts.ts
fi
npx tsc -p tsconfig.json --noEmit
if [ "${1:-}" = unit ]; then
  files=$(find test -name '*.test.ts' -not -path 'test/integration/*' -not -path 'test/openzfs/*' | sort)
else
  files="$(find test -name '*.test.ts' -not -path 'test/integration/*' -not -path 'test/openzfs/*' | sort) $(find test/integration -name '*.test.ts' | sort)"
fi
# shellcheck disable=SC2086 # word splitting of the file list is intended
node --import tsx --test --test-concurrency=1 --test-reporter=spec $files
if [ "${1:-}" != unit ]; then
  sh test/openzfs/run.sh
  exec sh test/node-versions.sh
fi
