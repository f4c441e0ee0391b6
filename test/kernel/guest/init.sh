#!/bin/sh
# /init of the kernel test guest (busybox sh, PID 1). Baked into the
# initramfs by test/kernel/prepare.sh; keep it small: everything a test
# needs beyond booting lives on the /project share (guest/lib.sh, scripts).
#
# Kernel command line (set by run.mjs):
#   vgpu.script=PATH        guest script to run (a path inside the guest)
#   vgpu.modules=a,b        sample modules to load: mdpy,mbochs,mbochs_rw
#   vgpu.mdev=TYPE,TYPE     mdev devices to create before the script
#   vgpu.timeout=SECONDS    power off after this long, whatever happens
# Shares: 9p tag "project" -> /project (ro), tag "results" -> /results (rw).
# The script's exit code goes to /results/exit-code, then the guest powers off.
export PATH=/bin:/usr/bin HOME=/root TERM=dumb
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmp /tmp
mount -t tmpfs shm /dev/shm
mount -t tmpfs run /run
exec </dev/console >/dev/console 2>&1

uptime_s() { cut -d' ' -f1 /proc/uptime; }
echo "vgpu-init: /init reached at $(uptime_s) s (kernel $(uname -r))"

halt() { # halt CODE: record the exit code (if the share is there) and power off
  # The kernel's complaints, whole ('quiet' keeps WARNINGs and dumps off the console); run.mjs
  # collects them as kernelComplaints. Soft lockups and RCU stalls are TCG starved by a busy host.
  dmesg | grep -E '\] (BUG:|WARNING:|Oops|kernel BUG|Bad page|general protection|page dumped because)' |
    grep -vE 'soft lockup|rcu.*stall' | sed 's/^/vgpu-init: kernel: /'
  if grep -q ' /results 9p ' /proc/mounts; then
    echo "$1" > /results/exit-code
    sync
    umount /results 2>/dev/null
  fi
  echo "vgpu-init: exit $1, powering off at $(uptime_s) s"
  poweroff -f
  sleep 10
}

arg() { # arg NAME: value of vgpu.NAME= on the kernel command line
  tr ' ' '\n' < /proc/cmdline | sed -n "s/^vgpu\.$1=//p" | tail -n1
}

timeout=$(arg timeout)
if [ -n "$timeout" ]; then
  (sleep "$timeout"; echo "vgpu-init: guest timeout ($timeout s), powering off"; poweroff -f) &
fi

for m in $(cat /kmod/order); do
  insmod "/kmod/$m" || { echo "vgpu-init: insmod $m failed"; halt 120; }
done
for m in $(arg modules | tr ',' ' '); do
  insmod "/kmod/samples/$m.ko" || { echo "vgpu-init: insmod $m.ko failed"; halt 121; }
done

opts=trans=virtio,version=9p2000.L,msize=262144
mount -t 9p -o "$opts,ro,cache=loose" project /project || { echo "vgpu-init: 9p project mount failed"; halt 122; }
mount -t 9p -o "$opts" results /results || { echo "vgpu-init: 9p results mount failed"; halt 123; }

ip link set lo up
for _ in 1 2 3 4 5 6 7 8 9 10; do [ -e /sys/class/net/eth0 ] && break; sleep 0.2; done
ip addr add 10.0.2.15/24 dev eth0 && ip link set eth0 up && ip route add default via 10.0.2.2 ||
  echo "vgpu-init: warning: network setup failed"

# Host-provided environment for the script (run.mjs writes it before boot).
[ -f /results/env.sh ] && . /results/env.sh

. /project/test/kernel/guest/lib.sh || halt 124
mkdir -p /run/vgpu
for t in $(arg mdev | tr ',' ' '); do
  uuid=$(mdev_create "$t") || { echo "vgpu-init: cannot create mdev $t"; halt 125; }
  echo "$t $uuid $(mdev_group "$uuid")" >> /run/vgpu/mdev
done

script=$(arg script)
if [ -z "$script" ]; then
  echo "vgpu-init: no vgpu.script= on the command line"
  halt 126
fi
echo "vgpu-init: ready at $(uptime_s) s, running $script"
cd /project
t0=$(uptime_s)
if [ -x "$script" ]; then "$script"; else sh "$script"; fi
rc=$?
echo "vgpu-init: script took $(awk -v a="$t0" -v b="$(uptime_s)" 'BEGIN { printf "%.1f", b - a }') s"
halt "$rc"
