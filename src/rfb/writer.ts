// Server-to-client messages as Buffers (TigerVNC's SMsgWriter role): no session state.
// Pixel rectangles themselves come from the encoders (src/rfb/encodings/).
import { PseudoEncoding, ServerMsg, UPDATE_COUNT_UNTIL_LAST_RECT } from './constants.js';
import { writePixelFormat, type PixelFormat } from './pixel-format.js';

/** FramebufferUpdate header; `count` rectangles follow, or use `untilLastRect`. */
export function framebufferUpdateHeader(count: number): Buffer {
  if (!Number.isInteger(count) || count < 0 || count > 0xffff) throw new RangeError(`rectangle count ${count} out of range`);
  const b = Buffer.alloc(4);
  b[0] = ServerMsg.FramebufferUpdate;
  b.writeUInt16BE(count, 2);
  return b;
}

/** Header of an update whose end is marked by a LastRect rectangle (client must support it). */
export function framebufferUpdateHeaderUntilLastRect(): Buffer {
  return framebufferUpdateHeader(UPDATE_COUNT_UNTIL_LAST_RECT);
}

export function rectHeader(x: number, y: number, w: number, h: number, encoding: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt16BE(x, 0);
  b.writeUInt16BE(y, 2);
  b.writeUInt16BE(w, 4);
  b.writeUInt16BE(h, 6);
  b.writeInt32BE(encoding, 8);
  return b;
}

export function lastRect(): Buffer {
  return rectHeader(0, 0, 0, 0, PseudoEncoding.LastRect);
}

/** DesktopSize pseudo-rectangle: the new framebuffer size in w/h, no body. */
export function desktopSizeRect(width: number, height: number): Buffer {
  return rectHeader(0, 0, width, height, PseudoEncoding.DesktopSize);
}

/** The one screen we announce (any non-zero id; see extendedDesktopSizeRect). */
export const SCREEN_ID = 1;

/**
 * ExtendedDesktopSize pseudo-rectangle: x = reason, y = status, w/h = framebuffer size,
 * then the screen layout: one screen, id SCREEN_ID, covering the whole surface.
 */
export function extendedDesktopSizeRect(reason: number, status: number, width: number, height: number): Buffer {
  const b = Buffer.alloc(12 + 4 + 16);
  rectHeader(reason, status, width, height, PseudoEncoding.ExtendedDesktopSize).copy(b, 0);
  b[12] = 1; // number-of-screens, then 3 bytes padding
  // screen: id u32, x u16 (0), y u16 (0), w, h, flags u32 (0). The id is 1, not 0:
  // libvncclient treats a screen with id 0 as invalid and ignores the new size.
  b.writeUInt32BE(SCREEN_ID, 16);
  b.writeUInt16BE(width, 16 + 8);
  b.writeUInt16BE(height, 16 + 10);
  return b;
}

/** Empty rectangle confirming the QEMU extended key event extension. */
export function qemuExtendedKeyEventRect(): Buffer {
  return rectHeader(0, 0, 0, 0, PseudoEncoding.QemuExtendedKeyEvent);
}

/** Colours as 16-bit r, g, b (unused while only true-colour formats are served). */
export function setColourMapEntries(firstColour: number, colours: Array<[number, number, number]>): Buffer {
  const b = Buffer.alloc(6 + 6 * colours.length);
  b[0] = ServerMsg.SetColourMapEntries;
  b.writeUInt16BE(firstColour, 2);
  b.writeUInt16BE(colours.length, 4);
  colours.forEach(([r, g, bl], i) => {
    b.writeUInt16BE(r, 6 + 6 * i);
    b.writeUInt16BE(g, 8 + 6 * i);
    b.writeUInt16BE(bl, 10 + 6 * i);
  });
  return b;
}

export function bell(): Buffer {
  return Buffer.from([ServerMsg.Bell]);
}

/** Latin-1 text, as rfbproto specifies for the classic (non-extended) clipboard. */
export function serverCutText(text: string): Buffer {
  const body = Buffer.from(text, 'latin1');
  const b = Buffer.alloc(8 + body.length);
  b[0] = ServerMsg.ServerCutText;
  b.writeUInt32BE(body.length, 4);
  body.copy(b, 8);
  return b;
}

export function endOfContinuousUpdates(): Buffer {
  return Buffer.from([ServerMsg.EndOfContinuousUpdates]);
}

export function serverFence(flags: number, payload: Buffer): Buffer {
  if (payload.length > 64) throw new RangeError(`fence payload of ${payload.length} bytes exceeds 64`);
  const b = Buffer.alloc(9 + payload.length);
  b[0] = ServerMsg.ServerFence;
  b.writeUInt32BE(flags >>> 0, 4);
  b[8] = payload.length;
  payload.copy(b, 9);
  return b;
}

export function serverInit(width: number, height: number, pf: PixelFormat, name: string): Buffer {
  const nameBytes = Buffer.from(name, 'utf8');
  const b = Buffer.alloc(24 + nameBytes.length);
  b.writeUInt16BE(width, 0);
  b.writeUInt16BE(height, 2);
  writePixelFormat(pf).copy(b, 4);
  b.writeUInt32BE(nameBytes.length, 20);
  nameBytes.copy(b, 24);
  return b;
}
