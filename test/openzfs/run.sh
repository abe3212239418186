#!/bin/sh
# npm run test:openzfs — the OpenZFS tier on each series it covers (2.1: bookworm; 2.3:
# bookworm-backports): installs QEMU and debootstrap when missing (root only), builds each guest
# once (BZMAN_VM_CACHE, default /var/cache/bzman-openzfs-vm, and the same with -2.3; outside the
# clone, reused by later runs), then runs test/openzfs/*.test.ts against each. BZMAN_OPENZFS=2.3
# runs one series only. Not root outside CI: the tests skip and say so.
set -eu
cd "$(dirname "$0")/../.."
cache=${BZMAN_VM_CACHE:-/var/cache/bzman-openzfs-vm}
series=${BZMAN_OPENZFS:-2.1 2.3}
if [ "$(id -u)" = 0 ]; then
  node --import tsx test/helpers/install-parts.ts vm
fi
for s in $series; do
  dir=$cache
  [ "$s" = 2.1 ] || dir=$cache-$s
  if [ "$(id -u)" = 0 ]; then bash test/openzfs/vm.sh build "$dir" "$s"; fi
  echo "OpenZFS tier on OpenZFS $s"
  BZMAN_OPENZFS=$s node --import tsx --test --test-concurrency=1 --test-reporter=spec test/openzfs/*.test.ts
done
