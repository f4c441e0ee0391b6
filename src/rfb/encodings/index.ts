// Encoder registry: which pixel encodings this server can produce, best first.
import { ENCODING_COPYRECT } from './copyrect.js';
import { ENCODING_HEXTILE, HextileEncoder } from './hextile.js';
import { ENCODING_RAW, RawEncoder } from './raw.js';
import { ENCODING_RRE, RreEncoder } from './rre.js';
import { ENCODING_TIGHT, ENCODING_TIGHT_PNG, TightEncoder } from './tight.js';
import type { EncoderOptions } from './options.js';
import type { Encoder, Rect } from './types.js';
import { ENCODING_ZRLE, ZrleEncoder } from './zrle.js';

export { encodeCopyRect, ENCODING_COPYRECT } from './copyrect.js';
export { ENCODING_HEXTILE, ENCODING_RAW, ENCODING_RRE, ENCODING_TIGHT, ENCODING_TIGHT_PNG, ENCODING_ZRLE, TightEncoder };
export { encoderOptionsFrom, type EncoderOptions } from './options.js';

/**
 * Pixel encodings in the server's order of preference (CopyRect is not in it: it is not a
 * way to send pixels but a move of pixels the client has; see encodeCopyRect).
 */
export const SUPPORTED_ENCODINGS: readonly number[] = Object.freeze([
  ENCODING_TIGHT,
  ENCODING_TIGHT_PNG,
  ENCODING_ZRLE,
  ENCODING_HEXTILE,
  ENCODING_RRE,
  ENCODING_RAW,
]);

/**
 * An encoder whose output depends on the client's quality settings (Tight): the session
 * passes each SetEncodings' options, can ask for lossless output (a refresh of lossy
 * areas), and collects the areas that went out lossy.
 */
export interface TunableEncoder extends Encoder {
  configure(options: EncoderOptions): void;
  lossless: boolean;
  takeLossyRects(): Rect[];
}

export function isTunable(e: Encoder): e is TunableEncoder {
  return typeof (e as Partial<TunableEncoder>).configure === 'function';
}

/**
 * ZRLE's zlib level for a client that names no compression level. `npm run bench -- xvnc`,
 * 1080p plasma against Xvnc: level 6 gave 1.02× its bytes at 2.8× its frames/s, level 3 1.09×
 * at 3.5×, level 2 1.12× at 3.75× — 3 keeps bytes within 1.1× and frames/s above 3×.
 */
export const ZRLE_DEFAULT_ZLIB_LEVEL = 3;

/** A fresh encoder (with its own per-connection state), or undefined if unsupported. */
export function createEncoder(encoding: number, options: EncoderOptions = {}): Encoder | undefined {
  switch (encoding) {
    case ENCODING_RAW: return new RawEncoder();
    case ENCODING_RRE: return new RreEncoder();
    case ENCODING_HEXTILE: return new HextileEncoder();
    case ENCODING_ZRLE: return new ZrleEncoder(undefined, options.zlibLevel ?? ZRLE_DEFAULT_ZLIB_LEVEL);
    case ENCODING_TIGHT: return new TightEncoder(false, options);
    case ENCODING_TIGHT_PNG: return new TightEncoder(true, options);
    default: return undefined;
  }
}

/**
 * The pixel encoding to use for a client's SetEncodings list: the first one in the
 * client's order that we support (rfbproto: the list is in the client's order of
 * preference), Raw when none is (Raw is always allowed).
 */
export function chooseEncoding(clientEncodings: readonly number[]): number {
  for (const e of clientEncodings) if (SUPPORTED_ENCODINGS.includes(e)) return e;
  return ENCODING_RAW;
}

/** Whether the client can take CopyRect rectangles. */
export function supportsCopyRect(clientEncodings: readonly number[]): boolean {
  return clientEncodings.includes(ENCODING_COPYRECT);
}
