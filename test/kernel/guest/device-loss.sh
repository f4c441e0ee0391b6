#!/bin/sh
# Kernel test: a VFIO device removed while vgpu-vnc shows it, then created again (device-loss.mjs).
# Needs the static painter (built on the host by test/reliability/device-loss.ts) and dist/ (tsc).
set -e
. /project/test/kernel/guest/lib.sh
painter=${PAINTER:-/project/node_modules/.cache/vgpu-vnc-test/painter}
[ -x "$painter" ] || { echo "devloss: no painter at $painter"; exit 1; }
node /project/test/kernel/guest/device-loss.mjs "$painter"
