#!/bin/sh
# npm run test:openzfs — the OpenZFS tier on each series it covers (2.1: bookworm; 2.3:
# bookworm-backports): installs QEMU and debootstrap when missing (root only), builds each guest
# once (BZMAN_VM_CACHE, default /var/cache/bzman-openzfs-vm, and the same with -2.3; outside the
# clone, reused by later runs), then runs test/openzfs/*.test.ts against each. BZMAN_OPENZFS=2.3
# runs one series only. `run.sh build` only builds the guests (test/run.sh does that in the
# background while the other tiers run). Not root outside CI: the tests skip and say so.
set -eu
cd "$(dirname "$0")/../.."
cache=${BZMAN_VM_CACHE:-/var/cache/bzman-openzfs-vm}
series=${BZMAN_OPENZFS:-2.1 2.3}
dir_of() { if [ "$1" = 2.1 ]; then echo "$cache"; else echo "$cache-$1"; fi; }
if [ "$(id -u)" = 0 ]; then
  node --import tsx test/helpers/install-parts.ts vm
  for s in $series; do bash test/openzfs/vm.sh build "$(dir_of "$s")" "$s"; done
fi
[ "${1:-}" != build ] || exit 0
for s in $series; do
  echo "OpenZFS tier on OpenZFS $s"
  BZMAN_OPENZFS=$s node --import tsx --test --test-concurrency=1 --test-force-exit --test-timeout=1200000 --test-reporter=spec test/openzfs/*.test.ts
done
