#!/bin/sh
# Smoke test of the kernel test guest: the VFIO display samples are loaded,
# mdev devices can be created and have VFIO groups, and node loads the
# project's addon (built on the host: same glibc).
set -e
. /project/test/kernel/guest/lib.sh

echo "smoke: mdev parents: $(ls /sys/class/mdev_bus | tr '\n' ' ')"
for p in /sys/class/mdev_bus/*; do
  echo "smoke: $(basename "$p") types: $(ls "$p/mdev_supported_types" | tr '\n' ' ')"
done

mdpy=$(mdev_create mdpy-xga)
mbochs=$(mdev_create mbochs-medium)
echo "smoke: mdpy-xga $mdpy group $(mdev_group "$mdpy")"
echo "smoke: mbochs-medium $mbochs group $(mdev_group "$mbochs")"
if [ -d /sys/class/mdev_bus/mbochs_rw ]; then
  rw=$(mdev_create mbochs_rw-medium)
  echo "smoke: mbochs_rw-medium $rw group $(mdev_group "$rw")"
fi
echo "smoke: /dev/vfio: $(ls /dev/vfio | tr '\n' ' ')"
for g in $(mdev_group "$mdpy") $(mdev_group "$mbochs"); do
  [ -c "/dev/vfio/$g" ] || { echo "smoke: /dev/vfio/$g missing"; exit 1; }
done

t=$(elapsed)
node -e '
  const addon = require("/project/build/Release/vgpu_vnc.node");
  console.log("smoke: node", process.version, "addon exports:", Object.keys(addon).sort().join(" "));
'
echo "smoke: node + addon took $(awk -v a="$t" -v b="$(elapsed)" 'BEGIN { printf "%.1f", b - a }') s"
# Optional: prove a host port forward reaches the guest. A node server on
# $SMOKE_PORT answers one connection with a banner, printing READY once it
# listens (the host waits for that line: slirp drops earlier connections).
if [ -n "${SMOKE_PORT:-}" ]; then
  SMOKE_BANNER="vgpu-smoke $(uname -r) $(ls /sys/bus/mdev/devices | wc -l) mdevs" node -e '
    const net = require("net");
    const port = Number(process.env.SMOKE_PORT);
    const server = net.createServer((sock) => {
      sock.end(process.env.SMOKE_BANNER + "\n");
      server.close();
    });
    server.listen(port, "0.0.0.0", () => console.log("smoke: READY on port " + port));
    setTimeout(() => { console.log("smoke: nobody connected"); process.exit(1); }, 60000).unref();
  '
fi
echo "smoke: OK"
