// Scroll detection: which dirty areas of the new frame are the previous frame's pixels moved
// vertically, so a client that still holds the previous frame can be sent a CopyRect for them
// and pixels only for the newly exposed strip.
//
// Input is per-segment hashes (one u64 per surface row and tile column, computed by the native
// capture for the tiles it marks dirty; the others still hash what they held): `prev` before the
// capture, `cur` after it. A move of dy in tile column tx is a run of rows where cur[y] equals
// prev[y+dy]. Offsets are found by voting with rows whose hash is unique in the column (blank rows
// vote for nothing), trying first the offsets already seen in this frame and the last one, since
// a scroll moves many columns alike and goes on for many frames.
import type { Rect } from '../rfb/encodings/types.js';
import type { TileGrid } from './dirty.js';
import type { SourceSigs } from '../native.js';

/** Destination rect whose pixels are the previous frame's pixels at (x, y + dy). */
export interface Move extends Rect {
  dy: number;
}

/** Offsets tried per run of dirty tiles (best first); more rarely pays. */
const MAX_CANDIDATES = 3;
/** A row hash seen more often than this in a column (blank, ruled lines) casts no vote. */
const MAX_REPEATS = 4;
/** Rows that must agree on an offset before it is tried (one or two agree by chance in text), and at least 1/8 of the voters. */
const MIN_VOTES = 3;
/** Changed, non-repeating rows a move needs: fewer is background matching by chance. */
const MIN_EVIDENCE = 6;

export class ScrollDetector {
  /** Offsets found in the last frame: tried first in the next one. */
  private recent: number[] = [];
  private rowIndex: RowIndex | undefined;

  /**
   * Moves explaining dirty tiles of `grid`, each covering at least one whole dirty tile, in an
   * order a client can apply one after the other (no move reads where an earlier one wrote).
   * `prev`/`cur`: segment hashes as u32 pairs ([2*(y*tilesX+tx)], [+1]).
   */
  detect(grid: TileGrid, dirty: Uint8Array, prev: Uint32Array, cur: Uint32Array): Move[] {
    const { tilesX, tilesY, tileSize: t, width, height } = grid;
    const perColumn: Array<{ tx: number; y0: number; y1: number; dy: number }> = [];
    const seen: number[] = [...this.recent];
    const stride = tilesX * 2;
    for (let tx = 0; tx < tilesX; tx++) {
      const col = tx * 2;
      const inColumn = new Set<string>();
      let indexed = false;
      // The column's previous rows are indexed once, and only if some run needs votes.
      const index = (): RowIndex => {
        if (this.rowIndex?.height !== height) this.rowIndex = new RowIndex(height);
        if (!indexed) this.rowIndex.fill(prev, stride, col);
        indexed = true;
        return this.rowIndex;
      };
      let ty = 0;
      while (ty < tilesY) {
        if (!dirty[ty * tilesX + tx]) { ty++; continue; }
        const ta = ty;
        while (ty < tilesY && dirty[ty * tilesX + tx]) ty++;
        for (const run of this.explainRun(grid, tx, ta * t, Math.min(ty * t, height), prev, cur, seen, index)) {
          if (!seen.includes(run.dy)) seen.push(run.dy);
          // Grown through matching rows of clean tiles too, so that neighbouring columns end up
          // with the same rows and merge (one CopyRect per scrolled area, not one per column).
          let { y0, y1 } = run;
          while (y0 > 0 && y0 - 1 + run.dy >= 0 && rowMatches(prev, cur, stride, col, y0 - 1, run.dy)) y0--;
          while (y1 < height && y1 + run.dy < height && rowMatches(prev, cur, stride, col, y1, run.dy)) y1++;
          const key = `${y0},${y1},${run.dy}`;
          if (inColumn.has(key)) continue;
          inColumn.add(key);
          perColumn.push({ tx, y0, y1, dy: run.dy });
        }
      }
    }
    this.recent = seen.slice(-4);
    // Neighbouring columns with the same rows and offset become one rect.
    perColumn.sort((a, b) => a.y0 - b.y0 || a.y1 - b.y1 || a.dy - b.dy || a.tx - b.tx);
    const merged: Move[] = [];
    for (let i = 0; i < perColumn.length; ) {
      const m = perColumn[i]!;
      let j = i + 1;
      while (j < perColumn.length && perColumn[j]!.y0 === m.y0 && perColumn[j]!.y1 === m.y1 && perColumn[j]!.dy === m.dy && perColumn[j]!.tx === m.tx + (j - i)) j++;
      const x = m.tx * t;
      merged.push({ x, y: m.y0, w: Math.min((m.tx + (j - i)) * t, width) - x, h: m.y1 - m.y0, dy: m.dy });
      i = j;
    }
    // Content moving up is copied top first, content moving down bottom first, so that runs of
    // one scroll cut into several rects never read rows an earlier rect overwrote.
    merged.sort((p, q) => orderKey(p) - orderKey(q));
    return applicableInOrder(merged);
  }

  /** Moves for the dirty rows [a, b) of tile column tx. */
  private explainRun(grid: TileGrid, tx: number, a: number, b: number, prev: Uint32Array, cur: Uint32Array, seen: number[], index: () => RowIndex): Array<{ y0: number; y1: number; dy: number }> {
    const stride = grid.tilesX * 2;
    const col = tx * 2;
    const tried = new Set<number>();
    const scored: Array<{ dy: number; runs: Array<[number, number]>; rows: number }> = [];
    const tryOffset = (dy: number): void => {
      if (dy === 0 || tried.has(dy)) return;
      tried.add(dy);
      const runs = matchingRuns(grid, a, b, dy, prev, cur, stride, col);
      let rows = 0;
      for (const [y0, y1] of runs) rows += y1 - y0;
      if (rows > 0) scored.push({ dy, runs, rows });
    };
    for (const dy of seen) tryOffset(dy);
    const best = scored.reduce((m, s) => Math.max(m, s.rows), 0);
    if (best < (b - a) / 2) for (const dy of voteOffsets(index(), a, b, stride, col, prev, cur)) tryOffset(dy);
    scored.sort((p, q) => q.rows - p.rows);
    // Rows that changed and differ from the row above: content that moved, not background that
    // happens to match at some offset.
    const evidence = (y0: number, y1: number, enough = Infinity): number => {
      let n = 0;
      for (let y = Math.max(y0, 1); y < y1 && n < enough; y++) {
        const i = y * stride + col, up = i - stride;
        if ((cur[i] !== prev[i] || cur[i + 1] !== prev[i + 1]) && (cur[i] !== cur[up] || cur[i + 1] !== cur[up + 1])) n++;
      }
      return n;
    };
    // Best offset first; the next ones may explain rows it left (two panes in one column).
    const taken = new Uint8Array(b - a);
    const out: Array<{ y0: number; y1: number; dy: number }> = [];
    let changed: number | undefined;
    for (const s of scored.slice(0, MAX_CANDIDATES)) {
      // A weak run still counts when its offset explains most of what changed in this column
      // (counted only when needed: the common strong run stops counting early).
      let lenient: boolean | undefined;
      const explainsMost = (): boolean => {
        changed ??= evidence(a, b);
        return s.runs.reduce((n, [r0, r1]) => n + evidence(r0, r1), 0) * 2 >= changed;
      };
      for (const [r0, r1] of s.runs) {
        let y = r0;
        while (y < r1) {
          if (taken[y - a]) { y++; continue; }
          const y0 = y;
          while (y < r1 && !taken[y - a]) y++;
          if (!coversWholeTile(grid, y0, y)) continue;
          const strong = evidence(y0, y, MIN_EVIDENCE) >= MIN_EVIDENCE;
          if (strong || ((lenient ??= explainsMost()) && evidence(y0, y, 1) >= 1)) {
            out.push({ y0, y1: y, dy: s.dy });
            taken.fill(1, y0 - a, y - a);
          }
        }
      }
    }
    return out;
  }
}

/** Maximal runs of rows in [a, b) (source rows inside the surface) where `match` holds, each covering a whole tile row. */
function matchingRuns(grid: TileGrid, a: number, b: number, dy: number, prev: Uint32Array, cur: Uint32Array, stride: number, col: number): Array<[number, number]> {
  const lo = Math.max(a, -dy), hi = Math.min(b, grid.height - dy);
  const runs: Array<[number, number]> = [];
  let y = lo;
  while (y < hi) {
    if (!rowMatches(prev, cur, stride, col, y, dy)) { y++; continue; }
    const y0 = y;
    while (y < hi && rowMatches(prev, cur, stride, col, y, dy)) y++;
    if (coversWholeTile(grid, y0, y)) runs.push([y0, y]);
  }
  return runs;
}

/** Whether the new row y of a column equals its previous row y + dy (by hash). */
function rowMatches(prev: Uint32Array, cur: Uint32Array, stride: number, col: number, y: number, dy: number): boolean {
  const i = y * stride + col, j = i + dy * stride;
  return cur[i] === prev[j] && cur[i + 1] === prev[j + 1];
}

/** Whether rows [y0, y1) hold every row of some tile row (the last one may be short). */
function coversWholeTile(grid: TileGrid, y0: number, y1: number): boolean {
  const t = grid.tileSize;
  const first = Math.ceil(y0 / t) * t;
  return first < grid.height && Math.min(first + t, grid.height) <= y1;
}

/**
 * The previous rows of one tile column by hash (low word), at most MAX_REPEATS rows per hash:
 * an open-addressing table in typed arrays, as a Map costs several ms per 1080p frame.
 */
class RowIndex {
  private readonly keys: Uint32Array;
  private readonly counts: Uint8Array;
  private readonly rows: Int32Array;
  private readonly mask: number;
  /** Votes per offset dy, at dy + height. */
  readonly votes: Int32Array;
  constructor(readonly height: number) {
    let size = 16;
    while (size < height * 2) size *= 2;
    this.keys = new Uint32Array(size);
    this.counts = new Uint8Array(size);
    this.rows = new Int32Array(size * MAX_REPEATS);
    this.mask = size - 1;
    this.votes = new Int32Array(height * 2);
  }

  /** Indexes rows 0..height-1 of column `col` of `prev`. */
  fill(prev: Uint32Array, stride: number, col: number): void {
    this.counts.fill(0);
    for (let y = 0; y < this.height; y++) {
      const key = prev[y * stride + col]!;
      let h = Math.imul(key, 0x9e3779b1) >>> 0 & this.mask;
      while (this.counts[h] && this.keys[h] !== key) h = (h + 1) & this.mask;
      const c = this.counts[h]!;
      this.keys[h] = key;
      if (c < 255) this.counts[h] = c + 1;
      if (c < MAX_REPEATS) this.rows[h * MAX_REPEATS + c] = y;
    }
  }

  /** Slot holding `key` (rows at slot*MAX_REPEATS, count(slot) of them), or -1. */
  find(key: number): number {
    let h = Math.imul(key, 0x9e3779b1) >>> 0 & this.mask;
    while (this.counts[h]) {
      if (this.keys[h] === key) return h;
      h = (h + 1) & this.mask;
    }
    return -1;
  }

  count(slot: number): number {
    return this.counts[slot]!;
  }

  row(slot: number, k: number): number {
    return this.rows[slot * MAX_REPEATS + k]!;
  }
}

/**
 * Offsets (most votes first) suggested by changed rows of [a, b) whose new hash is found a few
 * times at most among the column's previous rows (text drawn at scale 2 repeats each row; a blank
 * row repeats everywhere and votes for nothing).
 */
function voteOffsets(index: RowIndex, a: number, b: number, stride: number, col: number, prev: Uint32Array, cur: Uint32Array): number[] {
  const { votes, height } = index;
  const voted: number[] = [];
  let voters = 0;
  for (let y = a; y < b; y++) {
    const i = y * stride + col;
    if (cur[i] === prev[i] && cur[i + 1] === prev[i + 1]) continue; // row unchanged: no news
    if (y > 0 && cur[i] === cur[i - stride] && cur[i + 1] === cur[i + 1 - stride]) continue; // same as above: no news either
    const slot = index.find(cur[i]!);
    if (slot < 0) continue;
    const n = index.count(slot);
    if (n > MAX_REPEATS) continue;
    voters++;
    for (let k = 0; k < n; k++) {
      const from = index.row(slot, k);
      if (prev[from * stride + col + 1] !== cur[i + 1]) continue;
      const v = from - y + height;
      if (votes[v]++ === 0) voted.push(v);
    }
  }
  const enough = Math.max(MIN_VOTES, voters / 8);
  const best = voted.filter((v) => votes[v]! >= enough).sort((p, q) => votes[q]! - votes[p]!).slice(0, MAX_CANDIDATES).map((v) => v - height);
  for (const v of voted) votes[v] = 0;
  return best;
}

function orderKey(m: Move): number {
  return m.dy > 0 ? m.y : -(m.y + m.h);
}

/** Keeps moves, in order, whose source no earlier kept move has written to. */
function applicableInOrder(moves: Move[]): Move[] {
  const kept: Move[] = [];
  for (const m of moves) {
    const src = { x: m.x, y: m.y + m.dy, w: m.w, h: m.h };
    if (kept.every((k) => !overlaps(k, src))) kept.push(m);
  }
  return kept;
}

function overlaps(a: Rect, b: Rect): boolean {
  return a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;
}

/**
 * Drops moves that real pixels contradict (a hash collision): rows of each move's source that
 * `oldRows` kept (every `step`-th row of the previous frame) must equal the destination rows of
 * the new `surface`. With the capture's source signatures (`sigs`, after the capture) only the
 * segments it compared were kept: a segment whose value is not 1 did not change in that row, so
 * its old pixels are read from the surface (see CaptureHistory).
 */
export function verifyMoves(
  moves: Move[],
  surface: { data: Buffer; width: number },
  oldRows: Buffer,
  step: number,
  sigs?: Pick<SourceSigs, 'sigs' | 'segmentWidth'>,
): Move[] {
  const rowBytes = surface.width * 4;
  const segment = sigs?.segmentWidth ?? surface.width;
  const segments = Math.ceil(surface.width / segment);
  const values = sigs && new DataView(sigs.sigs.buffer, sigs.sigs.byteOffset, sigs.sigs.byteLength);
  const changed = (y: number, s: number) => !values || (values.getUint32((y * segments + s) * 8, true) === 1 && values.getUint32((y * segments + s) * 8 + 4, true) === 0);
  return moves.filter((m) => {
    const first = Math.ceil((m.y + m.dy) / step) * step;
    for (let src = first; src < m.y + m.dy + m.h; src += step) {
      const dstAt = (src - m.dy) * rowBytes;
      // Runs of segments whose old pixels are in the same place, each compared in one go.
      for (let x = m.x, end: number; x < m.x + m.w; x = end) {
        const kept = changed(src, Math.floor(x / segment));
        end = Math.min(m.x + m.w, (Math.floor(x / segment) + 1) * segment);
        while (end < m.x + m.w && changed(src, end / segment) === kept) end = Math.min(m.x + m.w, end + segment);
        const old = kept ? oldRows.subarray((src / step) * rowBytes + x * 4, (src / step) * rowBytes + end * 4) : surface.data.subarray(src * rowBytes + x * 4, src * rowBytes + end * 4);
        if (!old.equals(surface.data.subarray(dstAt + x * 4, dstAt + end * 4))) return false;
      }
    }
    return true;
  });
}
