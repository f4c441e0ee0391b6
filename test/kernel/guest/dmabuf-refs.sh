#!/bin/sh
# Kernel test: the mbochs_rw fixture's dma-buf references survive re-exports, a mode change and
# back, two fds of one dma-buf, and the device's close (see dmabuf-refs.mjs, fixture.ktest.ts).
set -e
painter=${PAINTER:-/project/node_modules/.cache/vgpu-vnc-test/painter}
[ -x "$painter" ] || { echo "refs: no painter at $painter"; exit 1; }
node /project/test/kernel/guest/dmabuf-refs.mjs "$painter" mbochs_rw-small "${REFS_ROUNDS:-8}"
