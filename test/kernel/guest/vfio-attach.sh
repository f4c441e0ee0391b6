#!/bin/sh
# Kernel test: vgpu-vnc's vfio source attached to devices held by a painter (the VMM stand-in).
# Needs the static painter (built on the host by vfio.ktest.ts) and dist/ (tsc) in /project.
set -e
. /project/test/kernel/guest/lib.sh
painter=${PAINTER:-/project/node_modules/.cache/vgpu-vnc-test/painter}
[ -x "$painter" ] || { echo "vfio: no painter at $painter"; exit 1; }
t=$(elapsed)
node /project/test/kernel/guest/vfio-attach.mjs "$painter"
echo "vfio: guest part took $(awk -v a="$t" -v b="$(elapsed)" 'BEGIN { printf "%.1f", b - a }') s"
