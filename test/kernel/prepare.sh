#!/usr/bin/env bash
# Prepares the kernel test guest: Debian's 6.1 kernel (unpacked, never
# installed on the host), the VFIO display samples mdpy / mbochs / mbochs_rw
# built out of tree against its headers, and an initramfs with busybox, the
# modules, node and the libraries node and the addon link.
#
# Idempotent and non-interactive; run as root (it may apt-get install).
# Everything it makes lives in the cache ($VGPU_KERNEL_CACHE, default
# /var/cache/vgpu-vnc-kernel/), not in build/: `node-gyp rebuild` (npm run
# build) deletes build/ while other work goes on in the same tree.
#
# Prints one JSON line on stdout: { kver, kernel, initrd } (run.mjs reads
# it); progress and phase times go to stderr.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
here="$repo/test/kernel"
cache=${VGPU_KERNEL_CACHE:-/var/cache/vgpu-vnc-kernel}
export DEBIAN_FRONTEND=noninteractive
# Others compile on this 2-core machine: stay polite.
renice -n 10 $$ >/dev/null 2>&1 || true

t_start=$(date +%s.%N)
t_phase=$t_start
phase() { # phase NAME: prints how long the phase that just ended took
  local now; now=$(date +%s.%N)
  awk -v n="$1" -v a="$t_phase" -v b="$now" 'BEGIN { printf "prepare: %-10s %6.1f s\n", n, b - a }' >&2
  t_phase=$now
}
die() { echo "prepare: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (it installs Debian packages and writes $cache)"

mkdir -p "$cache"
# One prepare at a time (parallel test runs share the cache).
exec 9>"$cache/.lock"
flock 9

# --- kernel version: follow Debian's linux-image-amd64 meta package ---------
resolve_kver() {
  apt-cache depends linux-image-amd64 2>/dev/null |
    sed -n 's/^ *Depends: linux-image-\(6\.1\.[0-9][0-9.]*-[0-9]*-amd64\)$/\1/p' | head -n1
}
# apt-cache is slow on a busy machine: remember its answer until apt's
# package lists change.
lists_stamp=$(stat -c %Y /var/lib/apt/lists 2>/dev/null || echo 0)
kver=${VGPU_KERNEL_VERSION:-}
if [ -z "$kver" ] && [ -f "$cache/kver" ] && [ "$(sed -n 1p "$cache/kver")" = "$lists_stamp" ]; then
  kver=$(sed -n 2p "$cache/kver")
fi
if [ -z "$kver" ]; then
  kver=$(resolve_kver)
  if [ -z "$kver" ]; then
    apt-get update -qq
    kver=$(resolve_kver)
    lists_stamp=$(stat -c %Y /var/lib/apt/lists 2>/dev/null || echo 0)
  fi
  [ -n "$kver" ] || die "cannot resolve the 6.1 kernel from 'apt-cache depends linux-image-amd64'"
  printf '%s\n%s\n' "$lists_stamp" "$kver" > "$cache/kver"
fi
echo "prepare: kernel $kver" >&2

# --- host packages -----------------------------------------------------------
packages=(
  qemu-system-x86          # the guest machine (TCG)
  busybox-static           # the guest's userland
  kmod                     # depmod / modprobe --show-depends on the unpacked tree
  cpio                     # initramfs archive
  make                     # out-of-tree module build
  patch                    # mbochs_rw.patch
  linux-source-6.1         # samples/vfio-mdev/*.c
  "linux-headers-$kver"    # build the samples for exactly this kernel (pulls gcc-12)
)
# One dpkg-query for all: names of the listed packages that are installed.
have=" $(dpkg-query -W -f='${db:Status-Status} ${Package}\n' "${packages[@]}" 2>/dev/null |
         awk '$1 == "installed" { printf "%s ", $2 }')"
missing=()
for p in "${packages[@]}"; do [[ "$have" == *" $p "* ]] || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "prepare: installing ${missing[*]}" >&2
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null ||
    { apt-get update -qq && apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; } ||
    die "apt-get install ${missing[*]} failed"
fi
phase packages

# --- kernel image: download and unpack, never install ------------------------
kdir="$cache/$kver"
kroot="$kdir/root"
mkdir -p "$cache/debs" "$kdir"
if [ ! -f "$kdir/unpacked.stamp" ]; then
  deb=$(ls "$cache/debs/linux-image-${kver}_"*.deb 2>/dev/null | head -n1 || true)
  if [ -z "$deb" ]; then
    (cd "$cache/debs" && apt-get download -q -o APT::Sandbox::User=root "linux-image-$kver" >/dev/null) ||
      die "apt-get download linux-image-$kver failed"
    deb=$(ls "$cache/debs/linux-image-${kver}_"*.deb | head -n1)
  fi
  rm -rf "$kroot"
  dpkg-deb -x "$deb" "$kroot"
  [ -f "$kroot/boot/vmlinuz-$kver" ] || die "no vmlinuz in $deb"
  touch "$kdir/unpacked.stamp"
fi
phase kernel

# --- the samples: extract three files, patch a copy, build -------------------
srcver=$(dpkg-query -W -f='${Version}' linux-source-6.1)
src="$cache/samples-src-$srcver"
if [ ! -f "$src/mbochs.c" ]; then
  tmp=$(mktemp -d "$cache/extract.XXXXXX")
  # --occurrence stops reading the 130 MB archive once all three are found.
  tar -xJf /usr/src/linux-source-6.1.tar.xz -C "$tmp" --occurrence=1 \
    linux-source-6.1/samples/vfio-mdev/mdpy.c \
    linux-source-6.1/samples/vfio-mdev/mbochs.c \
    linux-source-6.1/samples/vfio-mdev/mdpy-defs.h
  rm -rf "$src"
  mv "$tmp/linux-source-6.1/samples/vfio-mdev" "$src"
  rm -rf "$tmp"
fi

mods="$kdir/samples"
# The build is keyed by the sources, the kernel and the patch.
# mbochs_rw (test/kernel/mbochs_rw.patch): stock mbochs exports read-only
# dma-bufs (mmap -> EINVAL), and its dma-buf references are wrong (a released
# dma-buf exported again frees pages still in use: "BUG: Bad page state"; a
# live one handed out twice shares one file reference). The copy exports them
# O_RDWR, fixes those references, and renames its class/parent/driver
# ("mbochs" -> "mbochs_rw") so that it loads next to the stock module in the
# same boot: /sys/class/mdev_bus/mbochs_rw, types mbochs_rw-small/-medium/-large.
rw_patch=${VGPU_MBOCHS_RW_PATCH:-$here/mbochs_rw.patch}  # override: e.g. to see the fixture test catch a bad patch
kbuild='obj-m := mdpy.o mbochs.o mbochs_rw.o'
key="$srcver $kver $( { cat "$src"/*.c "$src"/*.h "$rw_patch"; echo "$kbuild"; } | sha256sum | cut -c1-16)"
if [ ! -f "$mods/built.key" ] || [ "$(cat "$mods/built.key")" != "$key" ]; then
  rm -rf "$mods"
  mkdir -p "$mods"
  cp "$src/mdpy.c" "$src/mbochs.c" "$src/mdpy-defs.h" "$mods/"
  # No fuzz: a source update that changes the patched code must fail here, loudly.
  patch -s -F0 -o "$mods/mbochs_rw.c" "$src/mbochs.c" "$rw_patch" >"$mods/patch.log" 2>&1 ||
    { cat "$mods/patch.log" >&2; die "mbochs_rw.patch does not apply to linux-source $srcver"; }
  echo "$kbuild" > "$mods/Kbuild"
  make -s -C "/usr/src/linux-headers-$kver" M="$mods" -j2 modules >"$mods/build.log" 2>&1 ||
    { cat "$mods/build.log" >&2; die "sample module build failed"; }
  echo "$key" > "$mods/built.key"
fi
phase samples

# --- module load order: depmod the unpacked tree with the samples in it -----
extra="$kroot/lib/modules/$kver/extra"
if [ ! -f "$extra/mbochs_rw.ko" ] || ! cmp -s "$mods/mbochs_rw.ko" "$extra/mbochs_rw.ko" ||
   ! cmp -s "$mods/mdpy.ko" "$extra/mdpy.ko" || ! cmp -s "$mods/mbochs.ko" "$extra/mbochs.ko" ||
   [ ! -f "$kroot/lib/modules/$kver/modules.dep" ]; then
  mkdir -p "$extra"
  cp "$mods/mdpy.ko" "$mods/mbochs.ko" "$mods/mbochs_rw.ko" "$extra/"
  depmod -b "$kroot" "$kver"
fi
# evdev + virtio_input: the input tests read keys and pointer events QEMU's virtio devices deliver.
base_modules=(vfio vfio_iommu_type1 mdev virtio_pci 9pnet_virtio 9p e1000 evdev virtio_input)
sample_modules=(mdpy mbochs mbochs_rw)
# Base modules plus whatever the samples need, in dependency order, once each.
order=$(for m in "${base_modules[@]}" "${sample_modules[@]}"; do
          modprobe --show-depends -d "$kroot" -S "$kver" "$m" | awk '$1 == "insmod" { print $2 }'
        done | awk '!seen[$0]++' | grep -v '/extra/')
[ -n "$order" ] || die "modprobe --show-depends found nothing in $kroot"
phase modules

# --- initramfs ---------------------------------------------------------------
node_bin=$(readlink -f "$(command -v node)")
# Libraries: what node and any built addon link (same glibc as the host).
elves=("$node_bin")
for f in "$repo"/build/Release/*.node; do [ -f "$f" ] && elves+=("$f"); done
libs=$(for e in "${elves[@]}"; do ldd "$e"; done |
       awk '/=> \// { print $3 } /^[ \t]*\/[^ ]+ \(/ { print $1 }' | sort -u)
ikey=$(
  {
    echo "$kver"; echo "$order"; echo "$libs"
    sha256sum "$here/guest/init.sh" "$mods"/*.ko "$(command -v busybox)" "${BASH_SOURCE[0]}"
    stat -c '%n %s %Y' "$node_bin" $libs
  } | sha256sum | cut -c1-16
)
initrd="$kdir/initramfs.cpio"
if [ ! -f "$initrd" ] || [ "$(cat "$kdir/initramfs.key" 2>/dev/null)" != "$ikey" ]; then
  stage=$(mktemp -d "$kdir/stage.XXXXXX")
  (
    cd "$stage"
    mkdir -p bin usr/bin usr/lib/x86_64-linux-gnu usr/lib64 etc proc sys dev tmp run \
             project results kmod/samples root
    ln -s bin sbin
    ln -s usr/lib lib
    ln -s usr/lib64 lib64
    cp "$(command -v busybox)" bin/busybox
    for a in $(bin/busybox --list); do [ -e "bin/$a" ] || ln -s busybox "bin/$a"; done
    cp "$node_bin" usr/bin/node
    for l in $libs; do
      mkdir -p "./$(dirname "$l")"
      cp -L "$l" "./$l"
    done
    i=0
    for m in $order; do
      i=$((i + 1))
      cp "$m" "kmod/$(printf '%02d' $i)-$(basename "$m")"
    done
    ls kmod | grep '\.ko$' > kmod/order
    cp "$mods/mdpy.ko" "$mods/mbochs.ko" "$mods/mbochs_rw.ko" kmod/samples/
    cp "$here/guest/init.sh" init
    chmod 755 init
    printf 'root:x:0:0:root:/root:/bin/sh\n' > etc/passwd
    printf 'root:x:0:\n' > etc/group
    printf '127.0.0.1 localhost\n::1 localhost\n' > etc/hosts
    echo "$kver" > etc/vgpu-kver
    # Uncompressed: the guest copies it faster than it could gunzip under TCG.
    find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet > "$stage.cpio"
  )
  rm -rf "$stage"
  mv "$stage.cpio" "$initrd"
  echo "$ikey" > "$kdir/initramfs.key"
fi
printf '{"kver":"%s","kernel":"%s","initrd":"%s"}\n' \
  "$kver" "$kroot/boot/vmlinuz-$kver" "$initrd"
phase initramfs
awk -v a="$t_start" -v b="$(date +%s.%N)" -v mb="$(( $(stat -c %s "$initrd") / 1048576 ))" \
  'BEGIN { printf "prepare: %-10s %6.1f s (initramfs %d MB)\n", "total", b - a, mb }' >&2
