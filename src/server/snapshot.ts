// `vgpu-vnc snapshot`: one frame from the device to a PNG file (sharp).
import sharp from 'sharp';
import type { SnapshotOptions } from '../cli.js';
import { native } from '../native.js';
import { openSource } from '../source/open.js';
import { xrgbToRgb } from '../surface/pixels.js';

export async function snapshot(opts: SnapshotOptions): Promise<void> {
  const log = (m: string) => process.stderr.write(`vgpu-vnc: ${m}\n`);
  const opened = await openSource(opts.source, log);
  try {
    const frame = await opened.source.nextFrame();
    if (frame.kind === 'no-signal') throw new Error(`no picture to save: ${frame.reason}`);
    const { width, height } = frame.plane;
    const surface = Buffer.alloc(width * height * 4);
    await native.capture(frame.mapping, frame.plane, surface, 32, true);
    await sharp(xrgbToRgb(surface, width, height), { raw: { width, height, channels: 3 } }).png().toFile(opts.output);
    log(`wrote ${opts.output} (${width}x${height})`);
  } finally {
    await opened.stop();
  }
}
