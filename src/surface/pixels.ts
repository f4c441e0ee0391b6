// Conversions of the canonical surface for image files.

/** Canonical XRGB8888 (bytes B,G,R,X) → packed RGB888. */
export function xrgbToRgb(surface: Buffer, width: number, height: number): Buffer {
  const n = width * height;
  const rgb = Buffer.allocUnsafe(n * 3);
  for (let i = 0, o = 0, s = 0; i < n; i++, o += 3, s += 4) {
    rgb[o] = surface[s + 2];
    rgb[o + 1] = surface[s + 1];
    rgb[o + 2] = surface[s];
  }
  return rgb;
}
