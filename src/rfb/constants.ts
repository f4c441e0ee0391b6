// RFB numbers (rfbproto; REFERENCE.md §5). Plain constant objects so they can be used both
// as values and, through `typeof`, as types.

export const ClientMsg = {
  SetPixelFormat: 0,
  SetEncodings: 2,
  FramebufferUpdateRequest: 3,
  KeyEvent: 4,
  PointerEvent: 5,
  ClientCutText: 6,
  EnableContinuousUpdates: 150,
  ClientFence: 248,
  SetDesktopSize: 251,
  Qemu: 255,
} as const;

/** Submessages of the QEMU client message (255). */
export const QemuSubMsg = {
  ExtendedKeyEvent: 0,
} as const;

export const ServerMsg = {
  FramebufferUpdate: 0,
  SetColourMapEntries: 1,
  Bell: 2,
  ServerCutText: 3,
  EndOfContinuousUpdates: 150,
  ServerFence: 248,
} as const;

/** Real encodings: rectangles that carry pixels. */
export const Encoding = {
  Raw: 0,
  CopyRect: 1,
  RRE: 2,
  Hextile: 5,
  Zlib: 6,
  Tight: 7,
  ZRLE: 16,
  TightPNG: -260,
} as const;

/** Pseudo-encodings: capabilities a client announces in SetEncodings. */
export const PseudoEncoding = {
  JpegQualityLowest: -32, // -32..-23, -23 best
  JpegQualityHighest: -23,
  CompressLevelLowest: -256, // -256..-247
  CompressLevelHighest: -247,
  DesktopSize: -223,
  LastRect: -224,
  Cursor: -239,
  QemuExtendedKeyEvent: -258,
  DesktopName: -307,
  ExtendedDesktopSize: -308,
  Fence: -312,
  ContinuousUpdates: -313,
  AlphaCursor: -314,
} as const;

export const SecurityType = {
  Invalid: 0,
  None: 1,
  VncAuth: 2,
  VeNCrypt: 19,
} as const;

/** SecurityResult status words. */
export const SecurityResult = {
  Ok: 0,
  Failed: 1,
} as const;

/** ExtendedDesktopSize rectangle: x carries the reason, y the status. */
export const DesktopSizeReason = {
  Server: 0,
  ThisClient: 1,
  OtherClient: 2,
} as const;

export const DesktopSizeStatus = {
  Ok: 0,
  Prohibited: 1,
  OutOfResources: 2,
  InvalidLayout: 3,
  Forwarded: 4,
} as const;

export const FenceFlag = {
  BlockBefore: 1 << 0,
  BlockAfter: 1 << 1,
  SyncNext: 1 << 2,
  Request: 0x80000000,
} as const;

/** Bounds on client-supplied lengths (REFERENCE.md §7). */
export const Limits = {
  /** ClientCutText: larger texts are refused rather than buffered. */
  maxCutText: 1024 * 1024,
  /**
   * SetEncodings: rfbproto defines well under 200 encodings and pseudo-encodings, so no
   * honest client lists more than 1024; the cap bounds what one message can make us buffer.
   */
  maxEncodings: 1024,
  /** rfbproto: a Fence payload is at most 64 bytes. */
  maxFencePayload: 64,
  /** SetDesktopSize: 16 screens is more than any client asks for and bounds the message. */
  maxScreens: 16,
} as const;

/** FramebufferUpdate rectangle count meaning "until a LastRect rectangle". */
export const UPDATE_COUNT_UNTIL_LAST_RECT = 0xffff;
