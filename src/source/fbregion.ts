// The SERVER side of the draft region protocol (REFERENCE.md §3): map the file, ask for a
// frame (state = REQUEST_UPDATE), wait a bounded time for UPDATE_COMPLETE, validate the
// trailer and hand the plane to the surface. Guest misbehaviour never throws out of here:
// it becomes the last good frame or a "no signal" reason, each logged once.
import { statSync } from 'node:fs';
import { native, type NativeMapping, type PlaneGeometry } from '../native.js';
import { bytesPerPixel, describeFourcc, fourccName } from '../surface/fourcc.js';
import { State, TRAILER_ARGSZ, TRAILER_SIZE, TrailerField } from './fbregion-producer.js';
import type { Frame, FrameSource, Logger } from './types.js';

export const MAX_DIMENSION = 16384;

export interface FbRegionOptions {
  log?: Logger;
  /** How long to wait for UPDATE_COMPLETE before showing the last good frame (default 100 ms). */
  answerTimeoutMs?: number;
  /** Opens the shared mapping; the default is the native addon's. */
  openMapping?: (path: string) => NativeMapping;
}

export interface Trailer {
  argsz: number;
  format: number;
  offset: number;
  width: number;
  height: number;
  stride: number;
  state: number;
}

export type TrailerCheck =
  | { ok: true; plane: PlaneGeometry }
  /** `problem` names the kind of fault (for log de-duplication), `reason` says it in words. */
  | { ok: false; problem: string; reason: string };

/**
 * Checks a trailer against the size of the file it came from. Every value is a u32, so
 * offset + stride×(height−1) + width×Bpp stays below 2^47: exact in a double.
 */
export function validateTrailer(t: Trailer, fileSize: number): TrailerCheck {
  const bad = (problem: string, reason: string): TrailerCheck => ({ ok: false, problem, reason });
  if (t.argsz !== TRAILER_ARGSZ) return bad('argsz', `trailer argsz is ${t.argsz}, expected ${TRAILER_ARGSZ}`);
  if (t.format === 0) return bad('no-format', 'the producer describes no frame (format 0)');
  const bpp = bytesPerPixel(t.format);
  if (bpp === undefined) return bad('format', `unsupported pixel format ${describeFourcc(t.format)}`);
  if (t.width < 1 || t.width > MAX_DIMENSION) return bad('width', `width ${t.width} is outside 1..${MAX_DIMENSION}`);
  if (t.height < 1 || t.height > MAX_DIMENSION) return bad('height', `height ${t.height} is outside 1..${MAX_DIMENSION}`);
  if (t.stride < t.width * bpp) {
    return bad('stride', `stride ${t.stride} is less than width ${t.width} × ${bpp} bytes per pixel`);
  }
  const end = t.offset + t.stride * (t.height - 1) + t.width * bpp;
  const trailerStart = fileSize - TRAILER_SIZE;
  if (end > trailerStart) {
    return bad(
      'extent',
      `pixels (offset ${t.offset}, stride ${t.stride}, ${t.width}x${t.height}) end at byte ${end}, ` +
        `past the trailer at byte ${trailerStart}`,
    );
  }
  return { ok: true, plane: { fourcc: t.format, width: t.width, height: t.height, stride: t.stride, offset: t.offset } };
}

export function parseTrailer(bytes: Buffer): Trailer {
  return {
    argsz: bytes.readUInt32LE(TrailerField.argsz),
    format: bytes.readUInt32LE(TrailerField.format),
    offset: bytes.readUInt32LE(TrailerField.offset),
    width: bytes.readUInt32LE(TrailerField.width),
    height: bytes.readUInt32LE(TrailerField.height),
    stride: bytes.readUInt32LE(TrailerField.stride),
    state: bytes.readUInt32LE(TrailerField.state),
  };
}

function describePlane(p: PlaneGeometry): string {
  return `${p.width}x${p.height} ${fourccName(p.fourcc) ?? describeFourcc(p.fourcc)} stride ${p.stride} offset ${p.offset}`;
}

function samePlane(a: PlaneGeometry, b: PlaneGeometry): boolean {
  return a.fourcc === b.fourcc && a.width === b.width && a.height === b.height && a.stride === b.stride && a.offset === b.offset;
}

/** Upper bound of the learned first wait for an answer: a slow producer costs at most this much extra latency per frame. */
const MAX_FIRST_WAIT_MS = 8;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** File identity: a new inode (file replaced) or a new size means a new mapping. */
interface FileId {
  size: number;
  ino: number;
}

/** A problem logged this recently is not logged again when it recurs (see loggedAt). */
const LOG_REPEAT_MS = 60_000;

export class FbRegionSource implements FrameSource {
  readonly description: string;
  private readonly log: Logger;
  private readonly answerTimeoutMs: number;
  private readonly openMapping: (path: string) => NativeMapping;
  private mapping: NativeMapping | undefined;
  private mappedFile: FileId | undefined;
  private lastGood: PlaneGeometry | undefined;
  private lastLoggedPlane: PlaneGeometry | undefined;
  /** The condition last logged: 'ok' or a problem key. Only changes are logged. */
  private condition: string | undefined;
  /**
   * When each problem was last logged. A problem that comes back within LOG_REPEAT_MS (a
   * producer that is late now and then on a loaded machine) is counted, not logged again,
   * so the log does not flap between "late" and "answers again".
   */
  private readonly loggedAt = new Map<string, number>();
  private quietCondition = false;
  private repeats = 0;
  private pending: Promise<Frame> | undefined;
  private closed = false;
  /** How long to sleep before the first look for the producer's answer (learned per request). */
  private firstWaitMs = 1;

  constructor(readonly path: string, options: FbRegionOptions = {}) {
    this.description = `fbregion ${path}`;
    this.log = options.log ?? (() => {});
    this.answerTimeoutMs = options.answerTimeoutMs ?? 100;
    this.openMapping = options.openMapping ?? ((p) => new native.Mapping(p));
  }

  /** The file may not exist yet: a producer started later is picked up on the next tick. */
  static open(path: string, options: FbRegionOptions = {}): FbRegionSource {
    return new FbRegionSource(path, options);
  }

  nextFrame(): Promise<Frame> {
    if (this.closed) return Promise.resolve({ kind: 'no-signal', reason: 'source closed' });
    // One request at a time: a second caller shares the answer instead of racing the state word.
    this.pending ??= this.tick().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.pending?.catch(() => {});
    this.dropMapping();
  }

  private async tick(): Promise<Frame> {
    try {
      // A resize seen while waiting gets one immediate retry on the new mapping.
      for (let attempt = 0; ; attempt++) {
        const problem = this.ensureMapping();
        if (problem) return this.failure(problem.problem, problem.reason, false);
        const mapping = this.mapping!;
        const size = mapping.size;
        mapping.writeU32(size - 4, State.REQUEST_UPDATE);
        const outcome = await this.waitForAnswer(mapping);
        if (this.closed) return { kind: 'no-signal', reason: 'source closed' };
        if (outcome === 'resized' && attempt === 0) continue;
        if (outcome !== 'answered') {
          const what = outcome === 'resized' ? 'the file changed size twice in one request' : `did not answer within ${this.answerTimeoutMs} ms`;
          return this.failure('no-answer', `producer ${what}`, true);
        }
        const check = validateTrailer(parseTrailer(mapping.read(size - TRAILER_SIZE, TRAILER_SIZE)), size);
        if (!check.ok) return this.failure(check.problem, check.reason, true);
        return this.success(mapping, check.plane);
      }
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e?.code === 'SIGBUS') {
        // Pages vanished under the mapping (file truncated): map again next tick.
        this.dropMapping();
        return this.failure('sigbus', 'the file shrank while being read (SIGBUS); remapping', false);
      }
      return this.failure('error', `unexpected error: ${e?.message ?? String(err)}`, false);
    }
  }

  private success(mapping: NativeMapping, plane: PlaneGeometry): Frame {
    if (this.condition !== 'ok' && this.condition !== undefined && !this.quietCondition) this.log(`${this.description}: producer answers again`);
    this.condition = 'ok';
    if (!this.lastLoggedPlane || !samePlane(this.lastLoggedPlane, plane)) {
      this.log(`${this.description}: ${describePlane(plane)}`);
      this.lastLoggedPlane = plane;
    }
    this.lastGood = plane;
    return { kind: 'plane', mapping, plane };
  }

  /** Logs the problem if it is new, then returns the last good frame (when allowed) or no-signal. */
  private failure(problem: string, reason: string, useLastGood: boolean): Frame {
    const showLast = useLastGood && this.lastGood !== undefined && this.mapping !== undefined;
    if (this.condition !== problem) {
      const now = Date.now();
      const last = this.loggedAt.get(problem);
      this.quietCondition = last !== undefined && now - last < LOG_REPEAT_MS;
      if (this.quietCondition) this.repeats++;
      else {
        const again = this.repeats > 0 ? ` (${this.repeats} brief repeat${this.repeats > 1 ? 's' : ''} of known problems not logged)` : '';
        this.log(`${this.description}: ${reason}; ${showLast ? 'showing the last good frame' : 'no signal'}${again}`);
        this.loggedAt.set(problem, now);
        this.repeats = 0;
      }
      this.condition = problem;
    }
    if (showLast) return { kind: 'plane', mapping: this.mapping!, plane: this.lastGood! };
    return { kind: 'no-signal', reason };
  }

  /** Maps the file, or maps it again if it was replaced or resized. Returns a problem or undefined. */
  private ensureMapping(): { problem: string; reason: string } | undefined {
    let id: FileId;
    try {
      const st = statSync(this.path);
      id = { size: st.size, ino: st.ino };
    } catch (err) {
      this.dropMapping();
      const code = (err as NodeJS.ErrnoException).code;
      return { problem: 'missing', reason: code === 'ENOENT' ? 'the file does not exist' : `cannot stat the file (${code})` };
    }
    if (id.size < TRAILER_SIZE) {
      this.dropMapping();
      return { problem: 'small', reason: `the file is ${id.size} bytes, too small for the ${TRAILER_SIZE}-byte trailer` };
    }
    if (this.mapping && this.mappedFile && this.mappedFile.size === id.size && this.mappedFile.ino === id.ino) return undefined;
    this.dropMapping();
    try {
      this.mapping = this.openMapping(this.path);
    } catch (err) {
      return { problem: 'map', reason: `cannot map the file: ${(err as Error).message}` };
    }
    this.mappedFile = { size: this.mapping.size, ino: id.ino };
    // The last good geometry stays usable only if it still fits before the new trailer.
    if (this.lastGood) {
      const g = this.lastGood;
      const still = validateTrailer({ argsz: TRAILER_ARGSZ, format: g.fourcc, offset: g.offset, width: g.width, height: g.height, stride: g.stride, state: 0 }, this.mapping.size);
      if (!still.ok) this.lastGood = undefined;
    }
    return undefined;
  }

  private dropMapping(): void {
    this.mapping?.close();
    this.mapping = undefined;
    this.mappedFile = undefined;
  }

  /**
   * Polls the state word with short timers (never blocking the event loop) until answered, resized or
   * timed out. The first sleep is learned (firstWaitMs): one wake-up usually finds the answer.
   */
  private async waitForAnswer(mapping: NativeMapping): Promise<'answered' | 'resized' | 'timeout'> {
    const deadline = performance.now() + this.answerTimeoutMs;
    for (let polls = 0; ; polls++) {
      // Size first: reading the old trailer of a shrunken file would fault.
      if (this.fileChanged()) return 'resized';
      if (mapping.readU32(mapping.size - 4) === State.UPDATE_COMPLETE) {
        this.learnFirstWait(polls);
        return 'answered';
      }
      if (performance.now() >= deadline || this.closed) return 'timeout';
      await sleep(polls === 0 ? this.firstWaitMs : 1);
    }
  }

  /** Answered right after the first sleep: try a shorter one; it took more polls: sleep longer first. */
  private learnFirstWait(polls: number): void {
    if (polls <= 1) this.firstWaitMs = Math.max(1, this.firstWaitMs - 1);
    else this.firstWaitMs = Math.min(MAX_FIRST_WAIT_MS, this.answerTimeoutMs, this.firstWaitMs + 1);
  }

  private fileChanged(): boolean {
    try {
      const st = statSync(this.path);
      return st.size !== this.mappedFile?.size || st.ino !== this.mappedFile?.ino;
    } catch {
      return true;
    }
  }
}
