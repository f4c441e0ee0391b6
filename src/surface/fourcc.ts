// DRM fourcc codes (drm_fourcc.h). All are little-endian words in memory.
export const Fourcc = {
  XRGB8888: 0x34325258,
  ARGB8888: 0x34325241,
  XBGR8888: 0x34324258,
  ABGR8888: 0x34324241,
  BGRX8888: 0x34325842,
  RGBX8888: 0x34325852,
  RGB888: 0x34324752,
  BGR888: 0x34324742,
  RGB565: 0x36314752,
  XRGB2101010: 0x30335258,
  XBGR2101010: 0x30334258,
} as const;

export type FourccName = keyof typeof Fourcc;

const BYTES_PER_PIXEL: Record<FourccName, number> = {
  XRGB8888: 4, ARGB8888: 4, XBGR8888: 4, ABGR8888: 4, BGRX8888: 4, RGBX8888: 4,
  RGB888: 3, BGR888: 3, RGB565: 2, XRGB2101010: 4, XBGR2101010: 4,
};

const byValue = new Map<number, FourccName>(
  (Object.entries(Fourcc) as [FourccName, number][]).map(([name, value]) => [value, name]),
);

export function fourccName(value: number): FourccName | undefined {
  return byValue.get(value);
}

export function bytesPerPixel(value: number): number | undefined {
  const name = byValue.get(value);
  return name === undefined ? undefined : BYTES_PER_PIXEL[name];
}

/** Printable form of any fourcc, known or not: 'XR24 (0x34325258)'. */
export function describeFourcc(value: number): string {
  const chars = [0, 8, 16, 24].map((s) => (value >>> s) & 0xff);
  const text = chars.every((c) => c >= 0x20 && c < 0x7f) ? String.fromCharCode(...chars) : '????';
  const name = byValue.get(value);
  return `${name ?? text} (0x${(value >>> 0).toString(16).padStart(8, '0')})`;
}
