/**
 * Pictures as the tests compare them: packed RGB888 (3 bytes per pixel,
 * row after row, no padding), plus readers for what real clients write
 * (PPM from vncgrab, XWD from `xwd`) and a comparison with a readable message.
 */

export interface RgbImage {
  width: number;
  height: number;
  /** width * height * 3 bytes: R, G, B per pixel. */
  rgb: Buffer;
}

export type Rgb = readonly [number, number, number];

/** Canonical surface bytes (B, G, R, X per pixel) → RGB888. */
export function xrgbToRgb(surface: Uint8Array, width: number, height: number): RgbImage {
  const pixels = width * height;
  if (surface.length < pixels * 4) {
    throw new Error(`surface has ${surface.length} bytes, ${width}x${height} needs ${pixels * 4}`);
  }
  const rgb = Buffer.alloc(pixels * 3);
  for (let i = 0, o = 0; i < pixels * 4; i += 4, o += 3) {
    rgb[o] = surface[i + 2];
    rgb[o + 1] = surface[i + 1];
    rgb[o + 2] = surface[i];
  }
  return { width, height, rgb };
}

/** A picture of one colour. */
export function solidImage(width: number, height: number, [r, g, b]: Rgb): RgbImage {
  const rgb = Buffer.alloc(width * height * 3);
  for (let o = 0; o < rgb.length; o += 3) {
    rgb[o] = r;
    rgb[o + 1] = g;
    rgb[o + 2] = b;
  }
  return { width, height, rgb };
}

export function pixelAt(img: RgbImage, x: number, y: number): Rgb {
  const o = (y * img.width + x) * 3;
  return [img.rgb[o], img.rgb[o + 1], img.rgb[o + 2]];
}

export function crop(img: RgbImage, x: number, y: number, width: number, height: number): RgbImage {
  if (x < 0 || y < 0 || x + width > img.width || y + height > img.height) {
    throw new Error(`crop ${width}x${height}+${x}+${y} is outside ${img.width}x${img.height}`);
  }
  const rgb = Buffer.alloc(width * height * 3);
  for (let row = 0; row < height; row++) {
    const from = ((y + row) * img.width + x) * 3;
    img.rgb.copy(rgb, row * width * 3, from, from + width * 3);
  }
  return { width, height, rgb };
}

/** Binary PPM (P6, maxval 255), e.g. to save a failing capture for a look. */
export function toPpm(img: RgbImage): Buffer {
  return Buffer.concat([Buffer.from(`P6\n${img.width} ${img.height}\n255\n`, 'ascii'), img.rgb]);
}

/** Reads a binary PPM (P6) with maxval 255, comments allowed in the header. */
export function readPpm(data: Buffer): RgbImage {
  let pos = 0;
  const fields: string[] = [];
  while (fields.length < 4) {
    while (pos < data.length && /\s/.test(String.fromCharCode(data[pos]))) pos++;
    if (data[pos] === 0x23 /* # */) {
      while (pos < data.length && data[pos] !== 0x0a) pos++;
      continue;
    }
    const start = pos;
    while (pos < data.length && !/\s/.test(String.fromCharCode(data[pos]))) pos++;
    if (start === pos) throw new Error('PPM: header ends early');
    fields.push(data.toString('ascii', start, pos));
  }
  pos++; // the single whitespace byte after maxval
  const [magic, w, h, max] = fields;
  const width = Number(w);
  const height = Number(h);
  if (magic !== 'P6') throw new Error(`PPM: expected P6, got ${JSON.stringify(magic)}`);
  if (max !== '255') throw new Error(`PPM: only maxval 255 is supported, got ${max}`);
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 0 || height < 0) {
    throw new Error(`PPM: bad size ${w}x${h}`);
  }
  const size = width * height * 3;
  if (data.length - pos < size) {
    throw new Error(`PPM: ${width}x${height} needs ${size} bytes of pixels, has ${data.length - pos}`);
  }
  return { width, height, rgb: Buffer.from(data.subarray(pos, pos + size)) };
}

/**
 * Reads an XWD (X Window Dump, version 7) as written by `xwd`: a big-endian
 * header, the window name, the colormap, then a ZPixmap in the byte order the
 * header names. Only TrueColor/DirectColor pictures of 24 or 32 bits per
 * pixel (what Xvfb at depth 24 gives).
 */
export function readXwd(data: Buffer): RgbImage {
  if (data.length < 100) throw new Error(`XWD: ${data.length} bytes is too short for a header`);
  const field = (i: number) => data.readUInt32BE(i * 4);
  const headerSize = field(0);
  const version = field(1);
  const format = field(2);
  const width = field(4);
  const height = field(5);
  const byteOrder = field(7); // 0 = LSBFirst
  const bitsPerPixel = field(11);
  const bytesPerLine = field(12);
  const visualClass = field(13);
  const masks = [field(14), field(15), field(16)];
  const ncolors = field(19);
  if (version !== 7) throw new Error(`XWD: version ${version}, expected 7`);
  if (format !== 2) throw new Error(`XWD: pixmap format ${format}, expected ZPixmap (2)`);
  if (bitsPerPixel !== 32 && bitsPerPixel !== 24) {
    throw new Error(`XWD: ${bitsPerPixel} bits per pixel is not supported (24 or 32 only)`);
  }
  if (visualClass !== 4 && visualClass !== 5) {
    throw new Error(`XWD: visual class ${visualClass} is not TrueColor/DirectColor`);
  }
  const pixelsAt = headerSize + ncolors * 12;
  if (data.length < pixelsAt + bytesPerLine * height) {
    throw new Error(`XWD: ${width}x${height} needs ${pixelsAt + bytesPerLine * height} bytes, has ${data.length}`);
  }
  const shifts = masks.map((m) => (m === 0 ? 0 : 31 - Math.clz32(m & -m)));
  const maxes = masks.map((m, i) => m >>> shifts[i]);
  const bpp = bitsPerPixel / 8;
  const rgb = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    let p = pixelsAt + y * bytesPerLine;
    for (let x = 0; x < width; x++, p += bpp) {
      let v = 0;
      for (let b = 0; b < bpp; b++) {
        v += data[p + (byteOrder === 0 ? b : bpp - 1 - b)] * 2 ** (8 * b);
      }
      const o = (y * width + x) * 3;
      for (let c = 0; c < 3; c++) {
        const raw = (v & masks[c]) >>> shifts[c];
        rgb[o + c] = maxes[c] === 255 ? raw : Math.round((raw * 255) / maxes[c]);
      }
    }
  }
  return { width, height, rgb };
}

export interface CompareOptions {
  /** Largest difference allowed in any one channel (default 0: exact). */
  maxChannelDelta?: number;
}

const hex = ([r, g, b]: Rgb) => '#' + [r, g, b].map((c) => c.toString(16).padStart(2, '0')).join('');

/**
 * Null when the pictures are equal (within maxChannelDelta), otherwise one
 * line saying how they differ: size, how many pixels, the largest channel
 * difference, and the first differing pixel with both colours.
 */
export function describeDifference(actual: RgbImage, expected: RgbImage, opts: CompareOptions = {}): string | null {
  if (actual.width !== expected.width || actual.height !== expected.height) {
    return `size differs: got ${actual.width}x${actual.height}, expected ${expected.width}x${expected.height}`;
  }
  const tolerance = opts.maxChannelDelta ?? 0;
  let count = 0;
  let first = -1;
  let maxDelta = 0;
  const pixels = actual.width * actual.height;
  for (let i = 0; i < pixels; i++) {
    const o = i * 3;
    const d = Math.max(
      Math.abs(actual.rgb[o] - expected.rgb[o]),
      Math.abs(actual.rgb[o + 1] - expected.rgb[o + 1]),
      Math.abs(actual.rgb[o + 2] - expected.rgb[o + 2]),
    );
    if (d > tolerance) {
      count++;
      if (first < 0) first = i;
      if (d > maxDelta) maxDelta = d;
    }
  }
  if (count === 0) return null;
  const x = first % actual.width;
  const y = Math.floor(first / actual.width);
  return (
    `${count} of ${pixels} pixels differ (largest channel difference ${maxDelta}, allowed ${tolerance}); ` +
    `first at (${x},${y}): got ${hex(pixelAt(actual, x, y))}, expected ${hex(pixelAt(expected, x, y))}`
  );
}

/** Throws an Error carrying describeDifference's message, prefixed by `label`. */
export function assertSameImage(actual: RgbImage, expected: RgbImage, label: string, opts: CompareOptions = {}): void {
  const diff = describeDifference(actual, expected, opts);
  if (diff !== null) throw new Error(`${label}: ${diff}`);
}
