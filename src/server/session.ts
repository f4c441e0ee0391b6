// One connected client: handshake, then its messages, its pixel format and encoding, and
// its own pending damage. Updates are coalesced into that pending bitmap, never queued:
// while the socket holds more than HIGH_WATER unsent bytes nothing more is encoded, and a
// slow client simply gets the latest picture once it catches up.
//
// Resizes: a client that announced neither DesktopSize nor ExtendedDesktopSize cannot follow
// a mode change, so it is disconnected with a logged reason (as TigerVNC does) rather than
// shown a picture cropped or padded to a size it no longer matches.
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import type { CursorState, Display, InputSink, Move } from './display.js';
import { isBatchEncoder, type BatchEncoder, type EncodedRects, type Encoder, type Rect, type SurfaceView } from '../rfb/encodings/types.js';
import { chooseEncoding, createEncoder, encodeCopyRect, encoderOptionsFrom, isTunable, supportsCopyRect, type EncoderOptions } from '../rfb/encodings/index.js';
import { SERVER_PIXEL_FORMAT, validatePixelFormat, type PixelFormat } from '../rfb/pixel-format.js';
import { intersect, RECT_COST_PIXELS, RECT_COST_RAW, TileBounds, type TileGrid } from '../surface/dirty.js';
import {
  DesktopSizeReason,
  DesktopSizeStatus,
  Encoding,
  FenceFlag,
  PseudoEncoding,
} from '../rfb/constants.js';
import { ClientMessageReader, ProtocolError, type ClientMessage } from '../rfb/reader.js';
import { PushedBytes, serverHandshake } from '../rfb/handshake.js';
import { securityHandlers, type SecurityHandler } from '../rfb/security/index.js';
import type { SecureContext } from 'node:tls';
import { upgradeToTls } from './transport/tls.js';
import * as W from '../rfb/writer.js';
import { native } from '../native.js';
import { alphaCursorRect, compositeRect, cursorBounds, cursorRect } from '../rfb/encodings/cursor.js';

export interface SessionOptions {
  password?: string;
  viewOnly: boolean;
  input?: InputSink;
  log: (msg: string) => void;
  name?: string;
  /** A connection that has not finished the handshake by then is dropped (default 30 s). */
  handshakeTimeoutMs?: number;
  /** A client whose unsent output makes no progress for this long is dropped (default 20 s). */
  stallTimeoutMs?: number;
  /** A client that sends nothing for this long after the handshake is dropped (default 0: never). */
  idleTimeoutMs?: number;
  /** Areas sent lossy (JPEG) are sent again losslessly once unchanged this long (default 500 ms). */
  losslessRefreshMs?: number;
  /** Security types to offer (built per connection by the listener); default from `password`. */
  security?: SecurityHandler[];
  /** Refuse this client after the version exchange with this reason (limits, blocked address). */
  refusal?: string;
  /** Remote address, for throttles; default the socket's remoteAddress. */
  peer?: string;
}

/** Unsent bytes above which no further update is encoded (resume on 'drain'). */
export const HIGH_WATER = 1024 * 1024;
const HANDSHAKE_TIMEOUT_MS = 30_000;
/** TigerVNC's ClientWaitTimeMillis: how long a client may leave its output unread. */
const STALL_TIMEOUT_MS = 20_000;
/**
 * QEMU's rule (VNC_THROTTLE_OUTPUT_LIMIT_SCALE): at most one update is ever queued, so more
 * than 5 × max(one frame, 1 MiB) of unsent output means a client that does not read while
 * provoking writes that bypass coalescing (fences, answers): it is disconnected.
 */
const OUTPUT_LIMIT_SCALE = 5;
/** SetDesktopSize answers kept for a client that is not reading them. */
const MAX_PENDING_ANSWERS = 64;
/** After a failure message, how long the peer gets to read it before the socket is destroyed. */
const LINGER_MS = 2_000;
const MAX_RECTS_PER_UPDATE = 0xfffe; // 0xffff means "until LastRect"
const LOSSLESS_REFRESH_MS = 500;
/** CopyRects queued for one client at most; past that, moves go as pixels. */
const MAX_QUEUED_MOVES = 256;

const ENCODING_NAMES: Record<number, string> = {
  [Encoding.Raw]: 'Raw',
  [Encoding.RRE]: 'RRE',
  [Encoding.Hextile]: 'Hextile',
  [Encoding.ZRLE]: 'ZRLE',
  [Encoding.Tight]: 'Tight',
  [Encoding.TightPNG]: 'TightPNG',
};

interface Capabilities {
  desktopSize: boolean;
  extendedDesktopSize: boolean;
  lastRect: boolean;
  fence: boolean;
  continuousUpdates: boolean;
  qemuKeyEvent: boolean;
  cursor: boolean;
  alphaCursor: boolean;
  copyRect: boolean;
}

export class ClientSession extends EventEmitter {
  private closed = false;
  /** Set when ServerInit is written: from then on the client has a framebuffer. */
  private grid: TileGrid | undefined;
  private pending: Uint8Array = new Uint8Array(0);
  /**
   * Counts markings of `pending`; `marksAtSend` is the count when pixels were last taken for an
   * update. Continuous updates send pixels only after a new marking: a tile partly outside the
   * continuous area stays pending once its inside part is sent, and would go again and again.
   */
  private marks = 0;
  private marksAtSend = -1;
  /** Where in each pending tile the changed pixels are (exact damage; see TileBounds). */
  private bounds: TileBounds | undefined;
  /**
   * Lossless refresh (as TigerVNC): tiles the client holds as JPEG, when each went out lossy,
   * and the pending tiles that are such a refresh (sent with the encoder in lossless mode).
   */
  private lossy: Uint8Array = new Uint8Array(0);
  private lossyAt: Float64Array = new Float64Array(0);
  private refresh: Uint8Array = new Uint8Array(0);
  private refreshTimer: NodeJS.Timeout | undefined;
  private readonly handshakeBytes: PushedBytes;
  private readonly reader = new ClientMessageReader();
  private handshakeTimer: NodeJS.Timeout | undefined;
  private lingerTimer: NodeJS.Timeout | undefined;
  private stallTimer: NodeJS.Timeout | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  /** Unsent bytes when the stall timer last looked. */
  private stallQueued = 0;

  private pf: PixelFormat = { ...SERVER_PIXEL_FORMAT };
  private readonly encoders = new Map<number, Encoder>();
  private encoder: Encoder;
  private caps: Capabilities = {
    desktopSize: false,
    extendedDesktopSize: false,
    lastRect: false,
    fence: false,
    continuousUpdates: false,
    qemuKeyEvent: false,
    cursor: false,
    alphaCursor: false,
    copyRect: false,
  };
  /**
   * Scrolls owed as CopyRect, in order, ahead of the next update's pixels. Invariant: once they
   * are applied, every tile not in `pending` holds the surface's pixels of the last damage.
   */
  private moves: Move[] = [];
  /** The cursor shape is owed to a client that draws the cursor itself. */
  private cursorShapeDue = false;
  /** Where the cursor was drawn into this client's picture (clients without cursor encodings). */
  private cursorDrawn: Rect | undefined;
  /** This client's composited pixels (same layout as the surface): the shared surface stays clean. */
  private composite: Buffer | undefined;
  private fenceConfirmed = false;
  private continuousConfirmed = false;
  private qemuKeyConfirmed = false;
  private qemuKeyAckDue = false;

  /** An update being encoded off the JS thread (BatchEncoder): nothing else is encoded meanwhile. */
  private batch: { after: Buffer[] } | undefined;
  /** FramebufferUpdateRequests received (an update answers those received before it was started). */
  private requestCount = 0;
  /** An update request is outstanding; `requestArea` is its (cropped, merged) area. */
  private requestOutstanding = false;
  private requestArea: Rect | undefined;
  private continuousOn = false;
  private continuousArea: Rect | undefined;
  private resizeDue = false;
  /** ExtendedDesktopSize rectangles owed, sizes filled in when sent. */
  private extAnswers: Array<{ reason: number; status: number }> = [];
  private syncFence: { flags: number; payload: Buffer } | undefined;
  private waitingForDrain = false;
  private inputDropLogged = false;
  /** This client sent keys or pointer events to the input sink (released when it leaves). */
  private sentInput = false;

  private readonly onData = (chunk: Buffer) => this.guard(() => this.receive(chunk));
  private readonly onSocketError = (err: Error) => this.close(`socket error: ${err.message}`);
  private readonly onSocketGone = () => this.close('client disconnected');
  private readonly onDamage = (bitmap: Uint8Array, moves?: Move[], bounds?: Uint8Array) => this.guard(() => this.damage(bitmap, moves ?? [], bounds));
  private readonly onResize = () => this.guard(() => this.resize());
  private readonly onCursor = (_state: CursorState | undefined, shapeChanged: boolean) => this.guard(() => this.cursorChanged(shapeChanged));
  private waitingForSurface = false;
  private readonly onSurfaceFree = () => {
    this.waitingForSurface = false;
    this.guard(() => this.maybeSendUpdate());
  };
  private readonly onDrain = () => {
    this.waitingForDrain = false;
    clearTimeout(this.stallTimer);
    this.guard(() => this.maybeSendUpdate());
  };

  /** The connection; replaced by its TLS layer when VeNCrypt starts TLS. */
  private socket: Duplex;

  constructor(
    socket: Duplex,
    private readonly display: Display,
    private readonly options: SessionOptions,
  ) {
    super();
    this.socket = socket;
    this.encoder = this.encoderFor(Encoding.Raw);
    this.handshakeBytes = new PushedBytes(
      (data) => this.write(data),
      (context) => this.startTls(context),
    );
    this.attachSocket(socket);
    display.on('damage', this.onDamage);
    display.on('resize', this.onResize);
    display.on('cursor', this.onCursor);
    const handshakeMs = options.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS;
    this.handshakeTimer = setTimeout(() => this.close(`handshake not completed within ${handshakeMs} ms`, true), handshakeMs);
    this.handshakeTimer.unref();
    void this.handshake();
  }

  private attachSocket(socket: Duplex, errors = true): void {
    socket.on('data', this.onData);
    if (errors) socket.on('error', this.onSocketError);
    socket.on('end', this.onSocketGone);
    socket.on('close', this.onSocketGone);
  }

  /**
   * VeNCrypt: from now on the connection speaks TLS. The TLS socket takes over the raw one;
   * session listeners move to it at once so a peer vanishing mid-handshake still closes us.
   */
  private async startTls(context: SecureContext): Promise<void> {
    const raw = this.socket;
    raw.off('data', this.onData);
    raw.off('error', this.onSocketError);
    raw.off('end', this.onSocketGone);
    raw.off('close', this.onSocketGone);
    raw.on('error', () => {}); // reported by the TLS socket
    const { socket, secure } = upgradeToTls(raw, context);
    this.socket = socket;
    // Errors during the TLS handshake are reported (in one line) by `secure`, not as socket errors.
    this.attachSocket(socket, false);
    try {
      await secure;
    } catch (err) {
      throw new ProtocolError((err as Error).message);
    }
    socket.on('error', this.onSocketError);
  }

  /** Ends this session (idempotent). `flush` lets already written bytes reach the client. */
  close(reason: string, flush = false): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.handshakeTimer);
    clearTimeout(this.refreshTimer);
    clearTimeout(this.stallTimer);
    clearTimeout(this.idleTimer);
    if (this.sentInput) this.options.input?.releaseAll?.();
    this.display.off('damage', this.onDamage);
    this.display.off('resize', this.onResize);
    this.display.off('cursor', this.onCursor);
    this.display.off('surface-free', this.onSurfaceFree);
    this.socket.off('data', this.onData);
    this.socket.off('drain', this.onDrain);
    this.handshakeBytes.fail(new Error('connection closed'));
    if (flush && !this.socket.destroyed) {
      this.socket.end();
      this.lingerTimer = setTimeout(() => this.socket.destroy(), LINGER_MS);
      this.lingerTimer.unref();
      this.socket.once('close', () => clearTimeout(this.lingerTimer));
    } else {
      this.socket.destroy();
    }
    this.emit('close', reason);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Bytes written to the socket but not yet taken by the kernel: the server memory this client holds. */
  get queuedBytes(): number {
    return this.socket.writableLength;
  }

  /** Runs `fn`; any error closes just this session with a one-line reason. */
  private guard(fn: () => void): void {
    if (this.closed) return;
    try {
      fn();
    } catch (err) {
      this.close(err instanceof ProtocolError ? err.message : `internal error: ${(err as Error).message}`);
    }
  }

  /**
   * Messages outside updates (fence answers, EndOfContinuousUpdates): while an update is being
   * encoded off the JS thread they wait for it, so the wire keeps the order they were caused in.
   */
  private writeControl(data: Buffer): void {
    if (this.batch) this.batch.after.push(data);
    else this.write(data);
  }

  /**
   * `written` runs once the socket has taken the bytes (not when the write is refused).
   * `update`: the size of the update `data` belongs to, when it may exceed a frame of the current
   * size (one encoded before the surface shrank).
   */
  private write(data: Buffer, written?: () => void, update = 0): void {
    if (this.closed || this.socket.destroyed) return;
    const limit = this.outputLimit(update);
    if (this.socket.writableLength + data.length > limit) {
      this.close(`client is not reading: ${this.socket.writableLength} bytes unsent, limit ${limit}`);
      return;
    }
    this.socket.write(data, written);
  }

  /** OUTPUT_LIMIT_SCALE × max(one frame in the client's pixel format, HIGH_WATER, the update being written). */
  private outputLimit(update = 0): number {
    const { width, height } = this.display.surface;
    return OUTPUT_LIMIT_SCALE * Math.max(width * height * (this.pf.bitsPerPixel / 8), HIGH_WATER, update);
  }

  /** While output waits for 'drain': drop the client if none of it leaves for a whole period. */
  private watchStall(): void {
    const ms = this.options.stallTimeoutMs ?? STALL_TIMEOUT_MS;
    this.stallQueued = this.socket.writableLength;
    clearTimeout(this.stallTimer);
    this.stallTimer = setTimeout(() => {
      if (this.closed || !this.waitingForDrain) return;
      const queued = this.socket.writableLength;
      if (queued >= this.stallQueued) this.close(`client stopped reading: ${queued} bytes unsent for ${ms} ms`);
      else this.watchStall();
    }, ms);
    this.stallTimer.unref();
  }

  private resetIdle(): void {
    const ms = this.options.idleTimeoutMs ?? 0;
    if (ms <= 0) return;
    if (this.idleTimer) this.idleTimer.refresh();
    else {
      this.idleTimer = setTimeout(() => this.close(`client sent nothing for ${ms} ms`, true), ms);
      this.idleTimer.unref();
    }
  }

  // ---- handshake ----

  private async handshake(): Promise<void> {
    const peer = this.options.peer ?? (this.socket as Duplex & { remoteAddress?: string }).remoteAddress;
    try {
      const result = await serverHandshake(this.handshakeBytes, {
        security: this.options.security ?? securityHandlers(this.options),
        refusal: this.options.refusal,
        peer,
        serverInit: () => {
          // The client's framebuffer starts now, at the size ServerInit announces.
          this.adoptSurface(0);
          const { width, height } = this.display.surface;
          return W.serverInit(width, height, SERVER_PIXEL_FORMAT, this.options.name ?? this.display.name);
        },
      });
      if (this.closed) return;
      clearTimeout(this.handshakeTimer);
      this.resetIdle();
      this.options.log(`RFB ${result.version}, ${result.securityName}, ${result.shared ? 'shared' : 'exclusive'}`);
      this.emit('shared', result.shared);
      const rest = this.handshakeBytes.takeRest();
      this.guard(() => this.receive(rest));
    } catch (err) {
      if (this.closed) return;
      this.close(err instanceof ProtocolError ? err.message : `handshake failed: ${(err as Error).message}`, true);
    }
  }

  // ---- client messages ----

  private receive(chunk: Buffer): void {
    if (!this.grid) {
      this.handshakeBytes.push(chunk);
      return;
    }
    this.resetIdle();
    for (const msg of this.reader.push(chunk)) {
      const fence = this.syncFence;
      this.handle(msg);
      // SyncNext: the fence answer goes out once the message after it has taken effect.
      if (fence && this.syncFence === fence) {
        this.syncFence = undefined;
        this.writeControl(W.serverFence(fence.flags, fence.payload));
      }
      if (this.closed) return;
    }
    this.maybeSendUpdate();
  }

  private handle(msg: ClientMessage): void {
    switch (msg.type) {
      case 'SetPixelFormat': {
        const why = validatePixelFormat(msg.pixelFormat);
        if (why) throw new ProtocolError(`SetPixelFormat refused: ${why}`);
        this.pf = msg.pixelFormat;
        return;
      }
      case 'SetEncodings':
        return this.setEncodings(msg.encodings);
      case 'FramebufferUpdateRequest':
        return this.updateRequest(msg.incremental, msg.rect);
      case 'KeyEvent':
        if (this.inputAllowed()) this.options.input!.key(msg.down, msg.keysym);
        return;
      case 'QemuExtendedKeyEvent':
        if (this.inputAllowed()) this.options.input!.key(msg.down, msg.keysym, msg.keycode);
        return;
      case 'PointerEvent':
        if (this.inputAllowed()) this.options.input!.pointer(msg.buttonMask, msg.x, msg.y);
        return;
      case 'ClientCutText':
        return; // no clipboard inside a VFIO display
      case 'EnableContinuousUpdates':
        if (msg.enable) {
          this.continuousOn = true;
          this.continuousArea = this.crop(msg.rect);
        } else {
          this.continuousOn = false;
          this.continuousArea = undefined;
          this.writeControl(W.endOfContinuousUpdates()); // rfbproto: always, even if already off
        }
        return;
      case 'ClientFence': {
        if (!(msg.flags & FenceFlag.Request)) return; // the answer to our confirmation fence
        // Messages are handled synchronously, so BlockBefore/BlockAfter hold trivially.
        const flags = msg.flags & (FenceFlag.BlockBefore | FenceFlag.BlockAfter | FenceFlag.SyncNext);
        if (flags & FenceFlag.SyncNext) this.syncFence = { flags, payload: msg.payload };
        else this.writeControl(W.serverFence(flags, msg.payload));
        return;
      }
      case 'SetDesktopSize':
        // The guest decides its mode; at most we ask it (EDID). rfbproto: always answer.
        if (this.extAnswers.length >= MAX_PENDING_ANSWERS) {
          // Many pipelined requests: answer what is owed now. Still owed after that means
          // the socket is backed up by a client that sends but does not read.
          this.maybeSendUpdate();
          if (this.extAnswers.length >= MAX_PENDING_ANSWERS)
            throw new ProtocolError(`${MAX_PENDING_ANSWERS} SetDesktopSize answers unread; client is not reading`);
        }
        if (this.caps.extendedDesktopSize)
          this.extAnswers.push({ reason: DesktopSizeReason.ThisClient, status: this.desktopSizeStatus(msg) });
        return;
    }
  }

  /** The SetDesktopSize status: 4 forwarded to the guest, 3 a layout we cannot ask for, 1 not resizable. */
  private desktopSizeStatus(msg: { width: number; height: number; screens: Array<{ x: number; y: number; w: number; h: number }> }): number {
    if (!this.display.requestResize) return DesktopSizeStatus.Prohibited;
    const [screen] = msg.screens;
    // One monitor: a single screen the size of the framebuffer. Its x/y are not checked:
    // libvncclient 0.9.14 sends them (and the id) uninitialised.
    const oneScreen = msg.screens.length === 1 && screen!.w === msg.width && screen!.h === msg.height;
    if (!oneScreen || msg.width === 0 || msg.height === 0) {
      this.options.log(`SetDesktopSize ${msg.width}x${msg.height} with ${msg.screens.length} screen(s): invalid layout (one screen covering the framebuffer only)`);
      return DesktopSizeStatus.InvalidLayout;
    }
    const answer = this.display.requestResize(msg.width, msg.height);
    this.options.log(`SetDesktopSize ${msg.width}x${msg.height}: ${answer}`);
    return answer === 'forwarded' ? DesktopSizeStatus.Forwarded : answer === 'invalid' ? DesktopSizeStatus.InvalidLayout : DesktopSizeStatus.Prohibited;
  }

  private inputAllowed(): boolean {
    if (!this.options.viewOnly && this.options.input) return (this.sentInput = true);
    if (!this.inputDropLogged) {
      this.inputDropLogged = true;
      this.options.log(`view-only: ignoring keyboard and pointer input${this.options.input ? '' : ' (no input target)'}`);
    }
    return false;
  }

  private encoderFor(encoding: number, options: EncoderOptions = {}): Encoder {
    // One instance per encoding and connection: ZRLE's zlib stream must live as long as
    // the connection, even if the client switches encodings back and forth.
    let e = this.encoders.get(encoding);
    if (!e) {
      e = createEncoder(encoding, options);
      if (!e) throw new Error(`no encoder for encoding ${encoding}`);
      this.encoders.set(encoding, e);
    }
    return e;
  }

  private setEncodings(list: number[]): void {
    const has = (e: number) => list.includes(e);
    this.caps = {
      desktopSize: has(PseudoEncoding.DesktopSize),
      extendedDesktopSize: has(PseudoEncoding.ExtendedDesktopSize),
      lastRect: has(PseudoEncoding.LastRect),
      fence: has(PseudoEncoding.Fence),
      continuousUpdates: has(PseudoEncoding.ContinuousUpdates),
      qemuKeyEvent: has(PseudoEncoding.QemuExtendedKeyEvent),
      cursor: has(PseudoEncoding.Cursor),
      alphaCursor: has(PseudoEncoding.AlphaCursor),
      copyRect: supportsCopyRect(list),
    };
    if (!this.caps.copyRect) this.dropMoves();
    // A client that now draws the cursor itself gets the shape; one that stopped gets it drawn in.
    if (this.drawsOwnCursor()) {
      // Only a display that knows a cursor sends one (a hidden shape would hide the client's own pointer).
      this.cursorShapeDue = this.display.cursor !== undefined;
      this.markCursorArea(this.cursorDrawn);
      this.cursorDrawn = undefined;
    } else {
      this.cursorShapeDue = false;
      this.cursorChanged(false);
    }
    const chosen = chooseEncoding(list);
    if (chosen !== this.encoder.encoding)
      this.options.log(`encoding ${ENCODING_NAMES[chosen] ?? chosen}`);
    const options = encoderOptionsFrom(list);
    // ZRLE's one zlib stream takes the client's compression level as its zlib level, as
    // TigerVNC does (from the list that first chose ZRLE; the stream keeps it).
    this.encoder = this.encoderFor(chosen, { zlibLevel: options.compressLevel });
    // Compression level, JPEG quality / fine quality / subsampling: the latest list rules.
    if (isTunable(this.encoder)) this.encoder.configure(options);
    // Confirm extensions the client cannot use before the server has shown support.
    if (this.caps.fence && !this.fenceConfirmed) {
      this.fenceConfirmed = true;
      this.writeControl(W.serverFence(FenceFlag.Request, Buffer.alloc(0)));
    }
    if (this.caps.continuousUpdates && this.caps.fence && !this.continuousConfirmed) {
      this.continuousConfirmed = true;
      this.writeControl(W.endOfContinuousUpdates());
    }
    if (this.caps.qemuKeyEvent && !this.qemuKeyConfirmed && this.options.input && !this.options.viewOnly) {
      this.qemuKeyConfirmed = true;
      this.qemuKeyAckDue = true;
    }
  }

  private updateRequest(incremental: boolean, rect: Rect): void {
    const area = this.crop(rect);
    if (!incremental) {
      if (area) this.grid!.markRect(this.pending, area, this.bounds);
      this.marks++;
      // rfbproto: a client with ExtendedDesktopSize gets the layout on every full request
      // (one pending layout answers any number of them).
      if (this.caps.extendedDesktopSize && !this.extAnswers.some((a) => a.reason === DesktopSizeReason.Server))
        this.extAnswers.push({ reason: DesktopSizeReason.Server, status: DesktopSizeStatus.Ok });
    } else if (this.continuousOn) {
      return; // rfbproto: incremental requests are ignored while continuous updates run
    }
    this.requestOutstanding = true;
    this.requestCount++;
    this.requestArea = union(this.requestArea, area);
  }

  /** `r` cropped to the current surface; undefined when nothing of it is inside. */
  private crop(r: Rect): Rect | undefined {
    const { width, height } = this.display.surface;
    return intersect(r, { x: 0, y: 0, w: width, h: height });
  }

  // ---- display events ----

  private adoptSurface(fill: 0 | 1): void {
    this.grid = this.display.grid;
    this.pending = this.grid.newBitmap(fill);
    this.marks++;
    this.bounds = new TileBounds(this.grid);
    this.lossy = this.grid.newBitmap(0);
    this.lossyAt = new Float64Array(this.grid.count);
    this.refresh = this.grid.newBitmap(0);
    this.moves = [];
  }

  private damage(bitmap: Uint8Array, moves: Move[], captureBounds?: Uint8Array): void {
    if (!this.grid) return;
    const p = this.pending;
    this.marks++;
    // Judged before this damage joins `pending`: the client's picture is the previous frame's.
    const copied = bitmap.length === p.length ? this.acceptMoves(moves) : undefined;
    // Damage of another grid: every tile, whole.
    this.bounds!.addDamage(p, bitmap, captureBounds);
    if (bitmap.length !== p.length) this.refresh.fill(0);
    else for (let i = 0; i < p.length; i++) if (bitmap[i]) this.refresh[i] = 0; // changed again: an ordinary update, lossy or not
    // Tiles a queued CopyRect fills entirely are right once it is applied (lossless unless
    // their source was lossy).
    if (copied) {
      const now = performance.now();
      for (let i = 0; i < p.length; i++) {
        if (copied.covered[i]) p[i] = this.lossy[i] = this.refresh[i] = 0;
        if (copied.lossyDst?.[i]) {
          this.lossy[i] = 1;
          this.lossyAt[i] = now;
          this.refresh[i] = 0;
        }
      }
      this.bounds!.forgetUnmarked(p);
      if (copied.lossyDst) this.scheduleRefresh();
    }
    this.maybeSendUpdate();
  }

  /**
   * Queues the moves this client can apply as CopyRect: it takes them, and the pixels at each
   * source are the previous frame's in its picture (no pending tile, no cursor drawn in by us).
   * A source the client holds lossy moves its lossiness along (as TigerVNC's lossy region
   * does): the destination tiles become lossy, refreshed once still. Returns the tiles the
   * queued moves fill entirely (undefined: none) and the destination tiles made lossy.
   */
  private acceptMoves(moves: Move[]): { covered: Uint8Array; lossyDst: Uint8Array | undefined } | undefined {
    if (!this.caps.copyRect || moves.length === 0) return undefined;
    const grid = this.grid!;
    const { width, height } = this.display.surface;
    const cursor = this.drawsOwnCursor() ? undefined : this.cursorDrawn;
    let covered: Uint8Array | undefined;
    let lossyDst: Uint8Array | undefined;
    for (const m of moves) {
      if (this.moves.length >= MAX_QUEUED_MOVES) break;
      const dst = { x: m.x, y: m.y, w: m.w, h: m.h };
      const src = { x: m.x, y: m.y + m.dy, w: m.w, h: m.h };
      if (src.x < 0 || src.y < 0 || src.x + src.w > width || src.y + src.h > height || dst.x + dst.w > width || dst.y + dst.h > height) continue;
      if (cursor && (intersect(cursor, src) || intersect(cursor, dst))) continue;
      const touched = grid.newBitmap(0);
      grid.markRect(touched, src);
      if (touched.some((v, i) => v && this.pending[i])) continue;
      this.moves.push(m);
      covered ??= grid.newBitmap(0);
      markInside(grid, covered, dst);
      if (touched.some((v, i) => v && this.lossy[i])) grid.markRect((lossyDst ??= grid.newBitmap(0)), dst);
    }
    return covered && { covered, lossyDst };
  }

  /** CopyRects that can no longer be sent: their destinations go as pixels instead. */
  private dropMoves(): void {
    if (!this.grid) return;
    for (const m of this.moves) this.grid.markRect(this.pending, m, this.bounds);
    this.marks++;
    this.moves = [];
  }

  private drawsOwnCursor(): boolean {
    return this.caps.cursor || this.caps.alphaCursor;
  }

  /** The guest's cursor moved or changed: owe the shape, or redraw where it was and is. */
  private cursorChanged(shapeChanged: boolean): void {
    if (!this.grid) return;
    if (this.drawsOwnCursor()) {
      if (shapeChanged) {
        this.cursorShapeDue = true;
        this.maybeSendUpdate();
      }
      return;
    }
    const { width, height } = this.display.surface;
    const now = cursorBounds(this.display.cursor, width, height);
    if (sameRect(now, this.cursorDrawn) && !shapeChanged) return;
    this.markCursorArea(this.cursorDrawn);
    this.markCursorArea(now);
    this.cursorDrawn = now;
    this.maybeSendUpdate();
  }

  private markCursorArea(r: Rect | undefined): void {
    const area = r && this.crop(r);
    if (area) this.grid!.markRect(this.pending, area, this.bounds);
    this.marks++;
  }

  private resize(): void {
    if (!this.grid) return; // ServerInit not sent yet: it will carry the new size
    const { width, height } = this.display.surface;
    if (!this.caps.desktopSize && !this.caps.extendedDesktopSize) {
      this.close(`client does not support DesktopSize; cannot follow the mode change to ${width}x${height}`);
      return;
    }
    this.adoptSurface(1);
    this.composite = undefined;
    this.cursorDrawn = this.drawsOwnCursor() ? undefined : cursorBounds(this.display.cursor, width, height);
    this.resizeDue = true;
    this.requestArea = this.requestArea && this.crop(this.requestArea);
    this.continuousArea = this.continuousOn ? { x: 0, y: 0, w: width, h: height } : undefined;
    this.maybeSendUpdate();
  }

  // ---- updates ----

  private maybeSendUpdate(): void {
    if (this.closed || !this.grid) return;
    if (this.waitingForDrain || this.batch || this.waitingForSurface) return;
    if (this.socket.writableLength > HIGH_WATER) {
      // Coalesce: damage keeps OR-ing into `pending`; nothing is encoded until the client reads.
      this.waitingForDrain = true;
      this.socket.once('drain', this.onDrain);
      this.watchStall();
      return;
    }
    const { width, height } = this.display.surface;
    const wantsPixels = this.requestOutstanding || this.continuousOn;

    if (this.resizeDue && wantsPixels) {
      const serverAnswerOwed = this.extAnswers.some((a) => a.reason === DesktopSizeReason.Server);
      const noData = this.takeNoDataRects(wantsPixels);
      // The new size goes alone (REFERENCE §5); the whole new surface follows as pending.
      if (!this.caps.extendedDesktopSize) noData.unshift(W.desktopSizeRect(width, height));
      else if (!serverAnswerOwed)
        noData.unshift(W.extendedDesktopSizeRect(DesktopSizeReason.Server, DesktopSizeStatus.Ok, width, height));
      this.sendUpdate(noData, []);
      this.resizeDue = false;
      this.requestOutstanding = false;
      this.requestArea = undefined;
      if (this.continuousOn) this.maybeSendUpdate();
      return;
    }

    // A tile the client holds lossy is exact again only once all of it is sent losslessly: its
    // changed part alone would leave the rest lossy while the tile counts as sent.
    for (let i = 0; i < this.pending.length; i++) if (this.pending[i] && this.lossy[i]) this.bounds!.makeWhole(this.pending, i);
    const area = union(this.requestOutstanding ? this.requestArea : undefined, this.continuousOn ? this.continuousArea : undefined);
    const cost = this.encoder.encoding === Encoding.Raw ? RECT_COST_RAW : RECT_COST_PIXELS;
    const pixelsDue = this.requestOutstanding || this.marks !== this.marksAtSend;
    const rects = area && !this.resizeDue && pixelsDue ? this.grid.toRects(this.pending, area, this.bounds, cost) : [];
    // Queued CopyRects ride on a requested update, like pixels.
    const moves = wantsPixels ? this.moves : [];
    if (rects.length === 0 && moves.length === 0 && !this.hasNoDataRects(wantsPixels)) {
      if (this.requestOutstanding && !this.requestArea) {
        // A request entirely outside the framebuffer: answered, with nothing.
        this.sendUpdate([], []);
        this.requestOutstanding = false;
      } else if (wantsPixels) {
        this.display.wantFrame();
      }
      return;
    }
    // The pixels must not change while they are read (a capture writing now would tear them, and
    // a torn tile under a later CopyRect's source would spread).
    const hold = this.display.hold ? this.display.hold() : () => {};
    if (!hold) {
      this.waitingForSurface = true;
      this.display.once('surface-free', this.onSurfaceFree);
      return;
    }
    // Moves first: they copy pixels the client has, before any of them is overwritten.
    const encoded: Buffer[][] = moves.map((m) => {
      const parts: Buffer[] = [];
      encodeCopyRect({ x: m.x, y: m.y, w: m.w, h: m.h }, m.x, m.y + m.dy, parts);
      return parts;
    });
    if (moves.length) this.moves = [];
    const encoder = this.encoder;
    const tunable = isTunable(encoder);
    // Refresh tiles go in rects of their own, encoded losslessly.
    const refreshing = pixelsDue && tunable && area !== undefined && this.refresh.includes(1);
    const refreshRects = refreshing ? this.grid.toRects(andBitmaps(this.pending, this.refresh, false), area, this.bounds, cost) : [];
    const normalRects = refreshing ? this.grid.toRects(andBitmaps(this.pending, this.refresh, true), area, this.bounds, cost) : rects;
    const sentBefore = tunable || this.lossy.includes(1) ? this.pending.slice() : undefined;
    if (area) {
      clearCovered(this.grid, this.pending, area);
      this.bounds!.forgetUnmarked(this.pending);
      this.marksAtSend = this.marks;
    }
    const jobs = [
      ...this.splitByCursor(normalRects).map((j) => ({ ...j, lossless: false })),
      ...this.splitByCursor(refreshRects).map((j) => ({ ...j, lossless: true })),
    ];
    if (isBatchEncoder(encoder)) {
      this.runBatch(encoder, encoded, jobs, sentBefore, hold);
      return;
    }
    try {
      for (const job of jobs) {
        if (tunable) encoder.lossless = job.lossless;
        try {
          for (const r of job.rects) {
            const parts: Buffer[] = [];
            const n = encoder.encode(job.surface, r, this.pf, parts);
            for (let i = 0; i < n; i++) encoded.push(i === 0 ? parts : []);
            if (n === 0 && parts.length) throw new Error('encoder wrote bytes for zero rectangles');
          }
        } finally {
          if (tunable) encoder.lossless = false;
        }
      }
    } finally {
      hold();
    }
    if (sentBefore) this.trackLossy(sentBefore, tunable ? encoder.takeLossyRects() : []);
    this.sendUpdate(this.takeNoDataRects(wantsPixels), encoded);
    if (this.requestOutstanding) {
      this.requestOutstanding = false;
      this.requestArea = undefined;
    }
    if (this.continuousOn) this.display.wantFrame();
  }

  /**
   * Encodes the update's pixels off the JS thread, then sends it. The surface is held unchanged
   * meanwhile; damage that arrives keeps OR-ing into `pending` and goes in the next update. An
   * update overtaken by a mode change still goes out: its rects fit the size the client has until
   * the new one reaches it, and an encoder's zlib stream already holds their data (dropped, the
   * client's inflater would lose step). The new size and all of the new surface follow.
   */
  private runBatch(encoder: BatchEncoder, head: EncodedRects, jobs: Array<{ surface: SurfaceView; rects: Rect[]; lossless: boolean }>, sentBefore: Uint8Array | undefined, release: () => void): void {
    const grid = this.grid;
    const requestsAtStart = this.requestCount;
    const batch = { after: [] as Buffer[] };
    this.batch = batch;
    const tunable = isTunable(encoder);
    const encodeAll = async (): Promise<EncodedRects> => {
      try {
        for (const job of jobs) {
          if (job.rects.length === 0) continue;
          if (tunable) encoder.lossless = job.lossless;
          const done = encoder.encodeBatch(job.surface, job.rects, this.pf);
          if (tunable) encoder.lossless = false;
          for (const rect of await done) head.push(rect);
        }
        return head;
      } finally {
        release();
      }
    };
    encodeAll().then(
      (out) => {
        this.batch = undefined;
        this.guard(() => {
          const current = this.grid === grid;
          const wantsPixels = this.requestOutstanding || this.continuousOn;
          if (sentBefore && current) this.trackLossy(sentBefore, tunable ? encoder.takeLossyRects() : []);
          else if (tunable) encoder.takeLossyRects(); // the new surface is sent whole anyway
          // Rects without pixels describe the new size: they wait for the update after this one.
          this.sendUpdate(current ? this.takeNoDataRects(wantsPixels) : [], out);
          // Requests that came in while encoding are answered by the next update.
          if (this.requestCount === requestsAtStart) {
            this.requestOutstanding = false;
            this.requestArea = undefined;
          }
          for (const b of batch.after) this.write(b);
          if (this.continuousOn) this.display.wantFrame();
          this.maybeSendUpdate();
        });
      },
      (err: Error) => {
        this.batch = undefined;
        this.close(`internal error: ${err.message}`);
      },
    );
  }

  /** Whether an update is owed for rects without pixels (answers, confirmations, the cursor shape). */
  private hasNoDataRects(wantsPixels: boolean): boolean {
    return this.extAnswers.length > 0 || (wantsPixels && (this.qemuKeyAckDue || (this.cursorShapeDue && !this.resizeDue)));
  }

  /** The rects without pixels owed now; they are taken (the caller sends them). */
  private takeNoDataRects(wantsPixels: boolean): Buffer[] {
    const { width, height } = this.display.surface;
    const noData: Buffer[] = [];
    for (const a of this.extAnswers) noData.push(W.extendedDesktopSizeRect(a.reason, a.status, width, height));
    this.extAnswers = [];
    // Confirmations ride on a requested update; only SetDesktopSize answers go unasked.
    if (this.qemuKeyAckDue && wantsPixels) {
      noData.push(W.qemuExtendedKeyEventRect());
      this.qemuKeyAckDue = false;
    }
    if (this.cursorShapeDue && wantsPixels && !this.resizeDue) {
      const image = this.display.cursor?.image;
      noData.push(Buffer.concat(this.caps.alphaCursor ? alphaCursorRect(image) : cursorRect(image, this.pf)));
      this.cursorShapeDue = false;
    }
    return noData;
  }

  /**
   * `rects` grouped by what they are encoded from: the shared surface, or for a client that
   * cannot draw the cursor, this client's copy of the rects the cursor touches with it blended in.
   */
  private splitByCursor(rects: Rect[]): Array<{ surface: SurfaceView; rects: Rect[] }> {
    const surface = this.display.surface;
    const state = this.display.cursor;
    const bounds = this.drawsOwnCursor() ? undefined : cursorBounds(state, surface.width, surface.height);
    if (!bounds || rects.length === 0) return rects.length ? [{ surface, rects }] : [];
    const plain: Rect[] = [], touched: Rect[] = [];
    for (const r of rects) (intersect(bounds, r) ? touched : plain).push(r);
    if (touched.length === 0) return [{ surface, rects: plain }];
    if (this.composite?.length !== surface.data.length) this.composite = Buffer.alloc(surface.data.length);
    for (const r of touched) compositeRect(surface, this.composite, r, state!);
    const composite = { data: this.composite, width: surface.width, height: surface.height };
    return plain.length ? [{ surface, rects: plain }, { surface: composite, rects: touched }] : [{ surface: composite, rects: touched }];
  }

  /**
   * After an update: tiles just sent are no longer lossy unless the encoder sent them lossy;
   * lossy ones get a lossless refresh once unchanged for the refresh delay.
   */
  private trackLossy(pendingBefore: Uint8Array, lossyRects: Rect[]): void {
    const grid = this.grid!;
    for (let i = 0; i < pendingBefore.length; i++) {
      if (pendingBefore[i] && !this.pending[i]) {
        this.lossy[i] = 0;
        this.refresh[i] = 0;
      }
    }
    if (lossyRects.length === 0) return;
    const now = performance.now();
    const marks = grid.newBitmap(0);
    for (const r of lossyRects) grid.markRect(marks, r);
    for (let i = 0; i < marks.length; i++) {
      if (!marks[i]) continue;
      this.lossy[i] = 1;
      this.lossyAt[i] = now;
    }
    this.scheduleRefresh();
  }

  /** Looks for due refreshes after `inMs` (default: the refresh delay) unless a look is already planned. */
  private scheduleRefresh(inMs?: number): void {
    if (this.refreshTimer || this.closed) return;
    const delay = this.options.losslessRefreshMs ?? LOSSLESS_REFRESH_MS;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = undefined;
      this.guard(() => this.dueRefresh(delay));
    }, inMs ?? delay);
    this.refreshTimer.unref();
  }

  /**
   * Lossy tiles unchanged for `delay` become pending refreshes; the next look is when the
   * youngest of the rest is due (not a whole delay later: a still picture turns lossless
   * `delay` after its last change).
   */
  private dueRefresh(delay: number): void {
    const now = performance.now();
    let nextDue = Infinity, due = false;
    for (let i = 0; i < this.lossy.length; i++) {
      if (!this.lossy[i] || this.pending[i]) continue;
      const age = now - this.lossyAt[i]!;
      if (age >= delay - 1) {
        this.pending[i] = 1;
        this.marks++;
        this.refresh[i] = 1;
        due = true;
      } else {
        nextDue = Math.min(nextDue, delay - age);
      }
    }
    if (nextDue !== Infinity) this.scheduleRefresh(Math.max(1, Math.ceil(nextDue)));
    if (due) this.maybeSendUpdate();
  }

  /**
   * Writes one FramebufferUpdate (more if there are over 65534 rectangles and the client
   * lacks LastRect). `pixelRects` has one entry per rectangle.
   */
  private sendUpdate(noData: Buffer[], pixelRects: Buffer[][]): void {
    const all: Buffer[][] = [...noData.map((b) => [b]), ...pixelRects];
    const out: Buffer[] = [];
    if (all.length > MAX_RECTS_PER_UPDATE && this.caps.lastRect) {
      out.push(W.framebufferUpdateHeaderUntilLastRect());
      for (const parts of all) out.push(...parts);
      out.push(W.lastRect());
    } else {
      let i = 0;
      do {
        const batch = all.slice(i, i + MAX_RECTS_PER_UPDATE);
        out.push(W.framebufferUpdateHeader(batch.length));
        for (const parts of batch) out.push(...parts);
        i += MAX_RECTS_PER_UPDATE;
      } while (i < all.length);
    }
    // The socket calls back in write order: once the last write is out, so are the encoders'
    // output Buffers, and their memory can go back to the native pool at once (not at a GC).
    const recycle = (): void => {
      for (const parts of pixelRects) for (const b of parts) native.recycleBuffer(b);
    };
    const bytes = out.reduce((n, b) => n + b.length, 0);
    this.socket.cork();
    out.forEach((b, i) => this.write(b, i === out.length - 1 ? recycle : undefined, bytes));
    this.socket.uncork();
  }
}

/** Mark the tiles lying wholly inside `r`. */
function markInside(grid: TileGrid, bitmap: Uint8Array, r: Rect): void {
  const t = grid.tileSize;
  for (let ty = Math.ceil(r.y / t); ty < grid.tilesY; ty++) {
    const y1 = Math.min((ty + 1) * t, grid.height);
    if (y1 > r.y + r.h) break;
    for (let tx = Math.ceil(r.x / t); tx < grid.tilesX; tx++) {
      if (Math.min((tx + 1) * t, grid.width) > r.x + r.w) break;
      bitmap[ty * grid.tilesX + tx] = 1;
    }
  }
}

/** a AND b (or a AND NOT b), as a new bitmap. */
function andBitmaps(a: Uint8Array, b: Uint8Array, invertB: boolean): Uint8Array {
  const out = new Uint8Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! & (invertB ? b[i]! ^ 1 : b[i]!);
  return out;
}

function sameRect(a: Rect | undefined, b: Rect | undefined): boolean {
  return a === b || (!!a && !!b && a.x === b.x && a.y === b.y && a.w === b.w && a.h === b.h);
}

function union(a: Rect | undefined, b: Rect | undefined): Rect | undefined {
  if (!a) return b;
  if (!b) return a;
  const x = Math.min(a.x, b.x), y = Math.min(a.y, b.y);
  return { x, y, w: Math.max(a.x + a.w, b.x + b.w) - x, h: Math.max(a.y + a.h, b.y + b.h) - y };
}

/** Clear the tiles whose on-surface part lies wholly inside `area` (those were just sent). */
function clearCovered(grid: TileGrid, bitmap: Uint8Array, area: Rect): void {
  const t = grid.tileSize;
  const ax1 = area.x + area.w, ay1 = area.y + area.h;
  for (let ty = Math.floor(area.y / t); ty < grid.tilesY; ty++) {
    const y0 = ty * t, y1 = Math.min(y0 + t, grid.height);
    if (y0 >= ay1) break;
    if (y0 < area.y || y1 > ay1) continue;
    for (let tx = Math.floor(area.x / t); tx < grid.tilesX; tx++) {
      const x0 = tx * t, x1 = Math.min(x0 + t, grid.width);
      if (x0 >= ax1) break;
      if (x0 >= area.x && x1 <= ax1) bitmap[ty * grid.tilesX + tx] = 0;
    }
  }
}
