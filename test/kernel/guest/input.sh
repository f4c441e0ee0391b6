#!/bin/sh
# Kernel test: input events from the host's VNC client arriving in the guest's evdev devices, and a
# client's SetDesktopSize reaching an mbochs_rw device's EDID (see input-guest.mjs, input.ktest.ts).
set -e
painter=${PAINTER:-/project/node_modules/.cache/vgpu-vnc-test/painter}
[ -x "$painter" ] || { echo "input: no painter at $painter"; exit 1; }
exec node /project/test/kernel/guest/input-guest.mjs "$painter"
