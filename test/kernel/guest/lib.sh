# Helpers for guest scripts (busybox sh). Source it:
#   . /project/test/kernel/guest/lib.sh
# init.sh sources it too, before it creates the devices named by vgpu.mdev=.

# mdev_create TYPE [UUID]: creates an mdev of TYPE (e.g. mdpy-xga,
# mbochs-medium, mbochs_rw-medium; the parent is TYPE up to its last '-')
# and prints its UUID.
mdev_create() {
  _type=$1
  _uuid=${2:-$(cat /proc/sys/kernel/random/uuid)}
  _parent=${_type%-*}
  _create=/sys/class/mdev_bus/$_parent/mdev_supported_types/$_type/create
  if [ ! -e "$_create" ]; then
    echo "mdev_create: no $_create (is the $_parent module loaded? vgpu.modules=)" >&2
    return 1
  fi
  echo "$_uuid" > "$_create" || return 1
  echo "$_uuid"
}

# mdev_group UUID: prints the IOMMU group number (the N of /dev/vfio/N).
mdev_group() {
  basename "$(readlink "/sys/bus/mdev/devices/$1/iommu_group")"
}

# mdev_find TYPE: prints the UUID of the first device of TYPE that init.sh
# created (vgpu.mdev=); fails if there is none.
mdev_find() {
  awk -v t="$1" '$1 == t { print $2; found = 1; exit } END { exit !found }' /run/vgpu/mdev 2>/dev/null
}

# mdev_remove UUID
mdev_remove() {
  echo 1 > "/sys/bus/mdev/devices/$1/remove"
}

# wait_listen PORT [SECONDS]: waits until a TCP socket listens on PORT
# (slirp drops host connections that arrive before the guest listens).
wait_listen() {
  _n=$(( ${2:-30} * 10 ))
  _hex=$(printf '%04X' "$1")
  while [ "$_n" -gt 0 ]; do
    # /proc/net/tcp{,6}: local address "IP:PORT" in hex, state 0A = LISTEN.
    if awk -v p=":$_hex" '$4 == "0A" && substr($2, length($2) - 4) == p { f = 1 } END { exit !f }' \
         /proc/net/tcp /proc/net/tcp6 2>/dev/null; then
      return 0
    fi
    sleep 0.1
    _n=$((_n - 1))
  done
  echo "wait_listen: nothing listens on port $1" >&2
  return 1
}

# elapsed: seconds since boot, for phase times in guest logs.
elapsed() { cut -d' ' -f1 /proc/uptime; }
