// Frames of a scrolling terminal: a static desktop (gradient, a coloured panel) with a window
// whose text document is shown from a given row on. Moving that row by d between frames is a
// scroll by d inside the window; everything beside the window stays put.
// Pixels are canonical XRGB8888 (bytes B,G,R,0), i.e. u32 words 0x00RRGGBB.
import { drawText, type PixelCanvas } from '../../src/source/font.js';
import type { Rect } from '../../src/rfb/encodings/types.js';

const rgb = (r: number, g: number, b: number): number => ((r & 255) << 16) | ((g & 255) << 8) | (b & 255);

export class ScrollScene {
  private readonly doc: PixelCanvas;
  private readonly desktop: Uint32Array;

  /** `docRows`: height of the text document (it repeats past its end). */
  constructor(readonly width: number, readonly height: number, readonly window: Rect, seed = 1, docRows = 2400, scale = 2) {
    const doc = { pixels: new Uint32Array(window.w * docRows).fill(rgb(16, 16, 20)), width: window.w, height: docRows };
    let s = seed >>> 0 || 1;
    const rand = (): number => {
      s ^= s << 13;
      s >>>= 0;
      s ^= s >>> 17;
      s ^= s << 5;
      return (s >>>= 0);
    };
    const lineHeight = 10 * scale;
    for (let line = 0; line * lineHeight < docRows; line++) {
      let text = '';
      const chars = 5 + (rand() % Math.max(6, Math.floor(window.w / (6 * scale)) - 5));
      while (text.length < chars) text += String.fromCharCode(97 + (rand() % 26)) + (rand() % 6 === 0 ? ' ' : '');
      const colour = line % 7 === 0 ? rgb(120, 200, 120) : rgb(210, 210, 200);
      drawText(doc, 4 + (rand() % 4) * 6 * scale, line * lineHeight + 2, text, colour, scale);
    }
    this.doc = doc;
    this.desktop = new Uint32Array(width * height);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) this.desktop[y * width + x] = rgb(30 + ((x * 50) / width), 60 + ((y * 80) / height), 110 + ((x + y) & 63));
    }
    // A static panel with text beside the window, so not every static area is smooth.
    const panel: PixelCanvas = { pixels: this.desktop, width, height };
    drawText(panel, 4, 4, 'static panel 09:41', rgb(255, 255, 255), 1);
  }

  /** The frame showing the document from row `top` on (in u32 words). */
  frameWords(top: number): Uint32Array {
    const out = this.desktop.slice();
    const { x, y, w, h } = this.window;
    const rows = this.doc.height;
    for (let j = 0; j < h; j++) {
      const src = (((top + j) % rows) + rows) % rows;
      out.set(this.doc.pixels.subarray(src * w, src * w + w), (y + j) * this.width + x);
    }
    return out;
  }

  /** The same frame as canonical surface bytes. */
  frame(top: number): Buffer {
    const words = this.frameWords(top);
    return Buffer.from(words.buffer, words.byteOffset, words.byteLength);
  }
}
