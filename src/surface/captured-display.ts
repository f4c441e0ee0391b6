// The Display clients see: owns the canonical surface, pulls frames from a source while
// some client wants one, captures them natively and announces damage and mode changes.
import { EventEmitter } from 'node:events';
import { native, type CaptureHistory, type NativeMapping, type PlaneGeometry, type SourceSigs } from '../native.js';
import type { FrameSource, Logger } from '../source/types.js';
import type { CursorState, Display, ResizeAnswer } from '../server/display.js';
import { compareCursor, hasCursor } from '../source/cursor.js';
import type { SurfaceView } from '../rfb/encodings/types.js';
import { TileGrid } from './dirty.js';
import { PollInterval } from './poller.js';
import { FlipCadence } from './cadence.js';
import { renderNoSignal } from './no-signal.js';
import { ScrollDetector, verifyMoves, type Move } from './scroll.js';
import { SurfaceBuffers } from './surface-buffers.js';
import { SourceSignatures } from './source-sigs.js';

/** While idle, each tick looks at every PROBE_ROW_STEP-th row only (rotating), so any row is seen within this many ticks. */
export const PROBE_ROW_STEP = 16;
/** Ticks without change before probing replaces the full pass. */
export const PROBE_AFTER_IDLE_TICKS = 2;
/** A full pass at least once per this many ticks even while probes see nothing (bounds a hash collision). */
export const FULL_PASS_EVERY_TICKS = 64;
/** Probes reading at most this many source bytes run on the JS thread (1080p and 4K XRGB8888 do). */
const SYNC_PROBE_MAX_BYTES = 4 << 20;
/** Captures reading at most this many source bytes run on the JS thread (1080p XRGB8888 with some stride padding). */
export const SYNC_CAPTURE_MAX_BYTES = 9 << 20;
/** Every OLD_ROW_STEP-th row of the previous frame is kept to check detected moves against real pixels. */
const OLD_ROW_STEP = 8;

export interface CapturedDisplayOptions {
  name: string;
  maxFps: number;
  log: Logger;
  tileSize?: number;
  idleIntervalMs?: number;
  /** Size of the "no signal" screen before the guest ever showed a mode. */
  defaultWidth?: number;
  defaultHeight?: number;
  /** Clients' SetDesktopSize goes here (e.g. an EDID writer); absent: the display cannot be resized. */
  resize?: (width: number, height: number) => ResizeAnswer;
  /** Find vertical moves (scrolls) and announce them with the damage (default true). */
  scrollDetection?: boolean;
}

/** Changes in a row covering at least BIG_CHANGE_SHARE of the tiles with no move found before detection pauses. */
export const PAUSE_AFTER_BIG_CHANGES = 4;
/** While paused, one capture in this many hashes every segment so that the next one can look for moves. */
export const PAUSED_LOOK_EVERY = 8;
const BIG_CHANGE_SHARE = 0.5;

/**
 * What a capture does for scroll detection: 'detect' hashes the dirty tiles' segments and looks
 * for moves; 'rehash' hashes every segment (the hashes went stale) and looks for none; 'skip'
 * keeps no hashes at all.
 */
export type ScrollStep = 'detect' | 'rehash' | 'skip';

/**
 * Full-screen motion that is not a scroll (video, animation) would pay for hashing every frame
 * (about a tenth of the server's CPU on such content) and find nothing. After
 * PAUSE_AFTER_BIG_CHANGES such frames detection pauses, looking again every PAUSED_LOOK_EVERY
 * captures; the first move found (or a smaller change) ends the pause.
 */
export class ScrollPacing {
  private bigWithoutMoves = 0;
  private sinceDetect = 0;
  private stale = false;
  private last: ScrollStep = 'detect';

  next(): ScrollStep {
    if (this.bigWithoutMoves < PAUSE_AFTER_BIG_CHANGES) return this.stale ? 'rehash' : 'detect';
    if (this.last === 'rehash') return 'detect';
    // PAUSED_LOOK_EVERY − 2 skips, a rehash, a detect.
    return this.sinceDetect >= PAUSED_LOOK_EVERY - 2 ? 'rehash' : 'skip';
  }

  /** After a capture that changed something: the step it took, the share of tiles it dirtied, the moves found. */
  record(step: ScrollStep, dirtyShare: number, moves: number): void {
    this.last = step;
    if (step === 'detect') {
      this.sinceDetect = 0;
      this.bigWithoutMoves = dirtyShare >= BIG_CHANGE_SHARE && moves === 0 ? this.bigWithoutMoves + 1 : 0;
      return;
    }
    this.sinceDetect++;
    this.stale = step === 'skip';
  }
}

/** Segment hashes of the surface (see CaptureHistory), before and after the last capture. */
class ScrollHistory {
  readonly cur: Uint32Array;
  readonly prev: Uint32Array;
  readonly oldRows: Buffer;
  readonly detector = new ScrollDetector();
  readonly pacing = new ScrollPacing();
  constructor(grid: TileGrid) {
    this.cur = new Uint32Array(grid.height * grid.tilesX * 2);
    this.prev = new Uint32Array(this.cur.length);
    this.oldRows = Buffer.alloc(Math.ceil(grid.height / OLD_ROW_STEP) * grid.width * 4);
  }
  /** The native capture's argument; full captures and rehashes hash everything, and keep no old rows. */
  forCapture(full: boolean, step: ScrollStep): CaptureHistory | undefined {
    if (step === 'skip' && !full) return undefined;
    const segmentHashes = Buffer.from(this.cur.buffer, this.cur.byteOffset, this.cur.byteLength);
    if (full) return { segmentHashes };
    return step === 'rehash' ? { segmentHashes, hashAll: true } : { segmentHashes, oldRows: this.oldRows, oldRowStep: OLD_ROW_STEP };
  }
}

export class CapturedDisplay extends EventEmitter implements Display {
  grid: TileGrid;
  readonly name: string;
  private readonly tileSize: number;
  private readonly interval: PollInterval;
  /** The guest's flip cadence, when it has one: polls then come just after its flips. */
  private readonly cadence: FlipCadence;
  private wanted = false;
  private timer: NodeJS.Timeout | undefined;
  private capturing = false;
  /** The surface's front (what encoders hold and read) and spare (see SurfaceBuffers). */
  private buffers: SurfaceBuffers;
  private lastTickAt = -Infinity;
  private closed = false;
  private lastProblem: string | undefined;
  private lastPlane: PlaneGeometry | undefined;
  private probePhase = 0;
  private idleTicks = 0;
  private ticksSinceFullPass = 0;
  private scroll: ScrollHistory | undefined;
  /** What the capture knows of the surface's segments (forgotten when anything else writes it). */
  private sigs: SourceSignatures;
  /** Time the last scroll detection took (ms), for benchmarks. */
  lastDetectMs = 0;
  /** Frames captured since start (for tests and stats). */
  captures = 0;
  /** Of those, captures a probe alone answered (no full pass). */
  probeOnlyCaptures = 0;
  /** The guest's cursor, when the source reports one ('cursor' events announce changes). */
  cursor: CursorState | undefined;
  requestResize?: (width: number, height: number) => ResizeAnswer;

  constructor(private readonly source: FrameSource, private readonly opts: CapturedDisplayOptions) {
    super();
    this.name = opts.name;
    this.tileSize = opts.tileSize ?? 32;
    this.interval = new PollInterval({ maxFps: opts.maxFps, idleIntervalMs: opts.idleIntervalMs ?? 250 });
    this.cadence = new FlipCadence({ minPeriodMs: this.interval.min });
    const w = opts.defaultWidth ?? 1024, h = opts.defaultHeight ?? 768;
    this.grid = new TileGrid(w, h, this.tileSize);
    this.buffers = new SurfaceBuffers({ data: Buffer.alloc(w * h * 4), width: w, height: h }, this.grid);
    this.sigs = new SourceSignatures(w, h, this.tileSize);
    if (opts.scrollDetection !== false) this.scroll = new ScrollHistory(this.grid);
    if (opts.resize) this.requestResize = opts.resize;
  }

  /**
   * Capture the first frame so the first client sees the guest's real mode. A source that
   * has no picture yet often has a transient reason (mbochs answers the first query after a
   * mode change with ENOMEM), so give it a moment before settling for "no signal".
   */
  async start(settleMs = 1000): Promise<void> {
    const end = performance.now() + settleMs;
    await this.tick();
    while (this.lastProblem !== undefined && performance.now() < end && !this.closed) {
      await new Promise((r) => setTimeout(r, 50));
      await this.tick();
    }
  }

  get surface(): SurfaceView {
    return this.buffers.front;
  }

  wantFrame(): void {
    if (this.closed) return;
    this.wanted = true;
    // A capture waiting for an encoder to let go of the surface may now take the spare.
    if (this.capturing) this.buffers.wake();
    if (this.timer || this.capturing) return;
    // Keep the pace even when requests arrive faster than --max-fps allows; a guest with a
    // steady cadence is polled when its next flip is due.
    this.schedule(Math.max(0, this.nextPollAt() - performance.now()));
  }

  hold(): (() => void) | undefined {
    return this.buffers.hold();
  }

  /**
   * A buffer to write the next frame into (until the tick ends). The front once no encoder holds
   * it (a hold taken between the wake-up and the write would read pixels half old, half new); or,
   * while a client waits for a frame, the spare: one client's slow encode does not hold back
   * another's frames. A capture ahead of any request waits for the front.
   */
  private async takeSurface(): Promise<Buffer> {
    for (;;) {
      const target = this.buffers.take(this.wanted);
      if (target) return target;
      await this.buffers.changed();
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.source.close();
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.tick().then((changed) => {
        if (this.closed) return;
        this.interval.next(changed);
        this.cadence.record(this.lastTickAt, changed);
        // Damage satisfies the wish; sessions that still want more ask again. While the picture
        // changes, the next frame is captured ahead anyway: a client's next request then finds
        // it ready instead of waiting for a poll, the guest's answer and a capture.
        const changing = this.interval.active || this.cadence.locked;
        if (this.wanted || (changing && this.listenerCount('damage') > 0))
          this.schedule(Math.max(0, this.nextPollAt() - performance.now()));
      });
    }, delayMs);
  }

  /**
   * The next expected flip while locked to the guest's cadence, else one interval after the
   * last tick's start (the tick itself — the guest's answer, the capture — is part of the period).
   */
  private nextPollAt(): number {
    return this.cadence.nextPollAt(performance.now()) ?? this.lastTickAt + this.interval.ms;
  }

  /** One capture. Returns whether anything changed. Never throws. */
  private async tick(): Promise<boolean> {
    if (this.capturing) return false;
    this.capturing = true;
    this.lastTickAt = performance.now();
    let target: Buffer | undefined;
    try {
      const frame = await this.source.nextFrame();
      // Everything below may write the target.
      target = await this.takeSurface();
      if (this.closed) return false;
      const changed = frame.kind === 'no-signal' ? this.showNoSignal(frame.reason, target) : await this.capturePlane(frame.mapping, frame.plane, target);
      return this.pollCursor() || changed;
    } catch (err) {
      // A spare already shown may be held by now: draw into a buffer taken anew.
      if (!target || !this.buffers.writable(target)) target = await this.takeSurface();
      return this.showNoSignal(`capture failed: ${(err as Error).message}`, target);
    } finally {
      this.capturing = false;
      if (this.buffers.finishWrite()) this.emit('surface-free');
    }
  }

  /** Captures the plane into `taken` (from takeSurface; a new buffer on a mode change). */
  private async capturePlane(mapping: Parameters<typeof native.capture>[0], plane: PlaneGeometry, taken: Buffer): Promise<boolean> {
    const resized = plane.width !== this.surface.width || plane.height !== this.surface.height;
    const fromNoSignal = this.lastProblem !== undefined;
    const target = resized ? Buffer.alloc(plane.width * plane.height * 4) : taken;
    const full = resized || fromNoSignal;
    if (!full && (await this.probeSaysUnchanged(mapping, plane, target))) {
      this.buffers.untouched(target);
      this.captures++;
      this.probeOnlyCaptures++;
      this.ticksSinceFullPass++;
      this.idleTicks++;
      return false;
    }
    const history = this.scrollHistoryFor(plane, full);
    const step = history?.pacing.next() ?? 'skip';
    if (history && step === 'detect' && !full) history.prev.set(history.cur);
    // Up to 1080p the pass runs right here: it takes about as long (0.5 ms) as the thread pool's
    // round trip adds to every frame's latency (about 1 ms here, more in a loaded VM).
    const sigs = this.sigsFor(plane).forPass();
    const args = [mapping, plane, target, this.tileSize, full, undefined, history?.forCapture(full, step), sigs] as const;
    const result = plane.stride * plane.height <= SYNC_CAPTURE_MAX_BYTES ? native.captureSync(...args) : await native.capture(...args);
    this.captures++;
    this.ticksSinceFullPass = 0;
    if (result.dirtyCount > 0) this.idleTicks = 0;
    else this.idleTicks++;
    if (this.lastProblem !== undefined) this.opts.log(`display: picture back (${plane.width}x${plane.height})`);
    this.lastProblem = undefined;
    this.lastPlane = plane;
    if (resized) {
      this.replaceSurface({ data: target, width: plane.width, height: plane.height });
      return true;
    }
    // The target is the surface now (moves are checked against it).
    this.buffers.present(target, result.dirty);
    const changed = result.dirtyCount > 0;
    const moves = changed && !full && history && step === 'detect' ? this.findMoves(result.dirty, history, sigs) : [];
    // A capture that changed nothing kept what the hashes say (a rehash renewed them anyway).
    if (history && !full && (changed || step === 'rehash')) history.pacing.record(step, result.dirtyCount / (this.grid.tilesX * this.grid.tilesY), moves.length);
    if (!changed) return false;
    this.wanted = false;
    this.emit('damage', result.dirty, moves, result.bounds);
    return true;
  }

  /** The scroll history for this capture: a new one for a new size (a full capture hashes every segment). */
  private scrollHistoryFor(plane: PlaneGeometry, full: boolean): ScrollHistory | undefined {
    if (this.opts.scrollDetection === false) return undefined;
    const resized = plane.width !== this.surface.width || plane.height !== this.surface.height;
    if (!this.scroll || resized) this.scroll = new ScrollHistory(new TileGrid(plane.width, plane.height, this.tileSize));
    if (full) this.scroll.pacing.record('rehash', 1, 0);
    return this.scroll;
  }

  /**
   * The source signatures for a capture of `plane`: new for a new size. They hash the converted
   * pixels, so a flip to another buffer, stride or format keeps them.
   */
  private sigsFor(plane: PlaneGeometry): SourceSignatures {
    if (this.sigs.width !== plane.width || this.sigs.height !== plane.height) this.sigs = new SourceSignatures(plane.width, plane.height, this.tileSize);
    return this.sigs;
  }

  /** Vertical moves that explain dirty tiles, checked against the previous frame's kept rows (and, where the signatures say nothing changed, the surface). */
  private findMoves(dirty: Uint8Array, history: ScrollHistory, sigs: SourceSigs): Move[] {
    const started = performance.now();
    const found = history.detector.detect(this.grid, dirty, history.prev, history.cur);
    const moves = found.length ? verifyMoves(found, this.surface, history.oldRows, OLD_ROW_STEP, sigs) : found;
    this.lastDetectMs = performance.now() - started;
    return moves;
  }

  /**
   * While idle, a probe of every PROBE_ROW_STEP-th row (rotating) stands in for the full pass.
   * True when it saw no change; undefined when a full pass is due (busy screen, new layout, the
   * periodic full pass, or the probe saw a change). Small probes run right here: a round trip
   * through the thread pool costs more than hashing a few hundred KiB.
   */
  private async probeSaysUnchanged(mapping: NativeMapping, plane: PlaneGeometry, target: Buffer): Promise<true | undefined> {
    if (this.lastPlane === undefined || !samePlane(plane, this.lastPlane)) return undefined;
    if (this.idleTicks < PROBE_AFTER_IDLE_TICKS || this.ticksSinceFullPass >= FULL_PASS_EVERY_TICKS - 1) return undefined;
    // The probe trusts the signatures: when they are due to be forgotten, a real pass comes first.
    if (this.sigs.refreshDue()) return undefined;
    const probe = { rowStep: PROBE_ROW_STEP, phase: this.probePhase, fullPassOnChange: false };
    this.probePhase = (this.probePhase + 1) % PROBE_ROW_STEP;
    const probedBytes = Math.ceil(plane.height / PROBE_ROW_STEP) * plane.stride;
    const result =
      probedBytes <= SYNC_PROBE_MAX_BYTES
        ? native.captureSync(mapping, plane, target, this.tileSize, false, probe, undefined, this.sigs.current())
        : await native.capture(mapping, plane, target, this.tileSize, false, probe, undefined, this.sigs.current());
    return result.probeChanged ? undefined : true;
  }

  /** Reads the source's cursor (if it has one); emits 'cursor' when it moved or changed. */
  private pollCursor(): boolean {
    if (this.closed || !hasCursor(this.source)) return false;
    const next = this.source.readCursor();
    const { changed, shapeChanged } = compareCursor(this.cursor, next);
    if (!changed) return false;
    this.cursor = next;
    this.emit('cursor', next, shapeChanged);
    return true;
  }

  /** Draws the "no signal" screen into `target` (from takeSurface) and shows it. */
  private showNoSignal(reason: string, target: Buffer): boolean {
    if (reason === this.lastProblem) return false;
    this.opts.log(`display: no signal: ${reason}`);
    this.lastProblem = reason;
    const { width, height } = this.surface;
    const data = Buffer.alloc(width * height * 4);
    renderNoSignal(data, width, height, reason);
    data.copy(target);
    this.buffers.present(target, undefined);
    this.sigs.forget();
    this.wanted = false;
    this.emit('damage', this.grid.newBitmap(1), [], undefined); // no bounds: whole tiles
    return true;
  }

  private replaceSurface(surface: SurfaceView): void {
    this.grid = new TileGrid(surface.width, surface.height, this.tileSize);
    this.buffers.replace(surface, this.grid);
    this.wanted = false;
    this.emit('resize', surface);
  }

  /** Geometry of the last plane shown (undefined while there is no signal). */
  get plane(): PlaneGeometry | undefined {
    return this.lastProblem === undefined ? this.lastPlane : undefined;
  }
}

function samePlane(a: PlaneGeometry, b: PlaneGeometry): boolean {
  return (
    a.fourcc === b.fourcc && a.width === b.width && a.height === b.height && a.stride === b.stride &&
    a.offset === b.offset && BigInt(a.modifier ?? 0) === BigInt(b.modifier ?? 0)
  );
}
