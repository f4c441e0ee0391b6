// The pictures the kernel tests paint into a device: XRGB8888 (X byte 0), a function of
// (x, y, seed), so the guest (painter input) and the host (what a VNC client must show)
// compute the same picture independently of vgpu-vnc.
export function pictureXrgb(width, height, seed) {
  const b = Buffer.alloc(width * height * 4);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const [r, g, bl] = pixel(x, y, seed);
      b.writeUInt32LE((r << 16) | (g << 8) | bl, (y * width + x) * 4);
    }
  return b;
}

export function pictureRgb(width, height, seed) {
  const b = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) b.set(pixel(x, y, seed), (y * width + x) * 3);
  return b;
}

function pixel(x, y, seed) {
  return [(x * 3 + seed * 40) & 0xff, (y * 5 + seed * 17) & 0xff, ((x ^ y) + seed * 91) & 0xff];
}
