// The "no signal" screen: what a viewer shows while the guest is not scanning out,
// with the reason in words (never a black screen without explanation).
import { drawText, textWidth, CELL_HEIGHT } from '../source/font.js';

const BACKGROUND = 0x00202830;
const TITLE = 0x00e8eef4;
const REASON = 0x00a8b4c0;

/** Word-wrap `text` to lines of at most `columns` characters. */
function wrap(text: string, columns: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    for (let w = word; w.length > 0; w = w.slice(columns)) {
      const piece = w.slice(0, columns);
      if (line.length === 0) line = piece;
      else if (line.length + 1 + piece.length <= columns) line += ` ${piece}`;
      else {
        lines.push(line);
        line = piece;
      }
    }
  }
  if (line) lines.push(line);
  return lines;
}

/** Paint the screen into a canonical XRGB8888 surface. */
export function renderNoSignal(surface: Buffer, width: number, height: number, reason: string): void {
  const pixels = new Uint32Array(surface.buffer, surface.byteOffset, width * height);
  pixels.fill(BACKGROUND);
  const canvas = { pixels, width, height };
  const titleScale = width >= 640 ? 4 : 2;
  const title = 'NO SIGNAL';
  const reasonScale = width >= 640 ? 2 : 1;
  const columns = Math.max(8, Math.floor((width * 0.8) / textWidth('m', reasonScale) ));
  const lines = wrap(reason, columns).slice(0, 6);
  const blockHeight = CELL_HEIGHT * titleScale + 16 + lines.length * CELL_HEIGHT * reasonScale;
  let y = Math.max(0, Math.floor((height - blockHeight) / 2));
  drawText(canvas, Math.floor((width - textWidth(title, titleScale)) / 2), y, title, TITLE, titleScale);
  y += CELL_HEIGHT * titleScale + 16;
  for (const line of lines) {
    drawText(canvas, Math.floor((width - textWidth(line, reasonScale)) / 2), y, line, REASON, reasonScale);
    y += CELL_HEIGHT * reasonScale;
  }
}
