#!/usr/bin/env bash
# Installs the real VNC clients and tools the integration tests drive, then
# builds the libvncclient test client into node_modules/.cache/vgpu-vnc-test/
# (not build/: `node-gyp rebuild`, run by `npm run build`, deletes build/).
# Idempotent: when everything is present it only checks dpkg and make-style
# timestamps, so `npm test` stays fast. Fails loudly when it cannot install.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export DEBIAN_FRONTEND=noninteractive

# Debian package -> why the tests need it.
packages=(
  gvncviewer                  # gvnccapture: gtk-vnc client (no Tight, exclusive)
  tigervnc-viewer             # xtigervncviewer: the most demanding client
  xvfb                        # X server for xtigervncviewer
  x11-apps                    # xwd: screenshot of the Xvfb root window
  x11-utils                   # xwininfo: find the viewer window
  x11-xserver-utils           # xsetroot: paint the reference server's root
  tigervnc-standalone-server  # Xvnc: reference server for the harness self-check
  libvncserver-dev            # libvncclient headers + library for vncgrab
  build-essential             # cc for vncgrab (and node-gyp)
  pkg-config                  # flags for libvncclient
  chromium                    # headless browser for the web viewer tests (playwright-core drives it)
  libx11-dev                  # Xlib headers: bench/xvnc's frame player into Xvnc
  libxext-dev                 # MIT-SHM headers: the same player
)

installed() {
  [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

missing=()
for p in "${packages[@]}"; do
  installed "$p" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "test/setup.sh: installing ${missing[*]}" >&2
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
      sudo=(sudo -n -E)
    else
      echo "test/setup.sh: missing packages (${missing[*]}) and not root; install them with apt-get" >&2
      exit 1
    fi
  fi
  if ! "${sudo[@]}" apt-get update -qq ||
     ! "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
    echo "test/setup.sh: apt-get could not install ${missing[*]}" >&2
    exit 1
  fi
  for p in "${missing[@]}"; do
    installed "$p" || { echo "test/setup.sh: $p is still not installed" >&2; exit 1; }
  done
fi

# Build vncgrab only when its source (or the header it shares) is newer than the binary.
src="$repo/test/clients/vncgrab.c"
tap="$repo/test/clients/rfb-tap.h"
out="$repo/node_modules/.cache/vgpu-vnc-test/vncgrab"
if [ ! -x "$out" ] || [ "$src" -nt "$out" ] || [ "$tap" -nt "$out" ]; then
  mkdir -p "$(dirname "$out")"
  # shellcheck disable=SC2046  # pkg-config prints several words on purpose
  cc -std=c11 -O2 -Wall -Wextra -Werror -o "$out.tmp" "$src" \
    $(pkg-config --cflags --libs libvncclient)
  mv "$out.tmp" "$out"
  echo "test/setup.sh: built $out" >&2
fi
