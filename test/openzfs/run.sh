#!/bin/sh
# npm run test:openzfs — the OpenZFS tier: installs QEMU and debootstrap when missing (root only),
# builds the guest once into BZMAN_VM_CACHE (default /var/cache/bzman-openzfs-vm, outside the
# clone, reused by later runs), then runs test/openzfs/*.test.ts against it. Not root outside CI:
# the tests skip and say so.
set -eu
cd "$(dirname "$0")/../.."
cache=${BZMAN_VM_CACHE:-/var/cache/bzman-openzfs-vm}
if [ "$(id -u)" = 0 ]; then
  node --import tsx test/helpers/install-parts.ts vm
  bash test/openzfs/vm.sh build "$cache"
fi
exec node --import tsx --test --test-concurrency=1 --test-reporter=spec test/openzfs/*.test.ts
