// RFB keyboard and pointer events → QEMU `input-send-event` (QMP). Keys become qcode key events
// (from the XT scancode when the client sent the QEMU extended key event, else from the keysym);
// pointer positions become absolute `abs` axis events scaled to 0..32767 of the guest's mode,
// button-mask changes become `btn` events (wheel included). One QMP command per RFB message.
import type { InputSink } from '../server/display.js';
import type { Logger } from '../source/types.js';
import { keyToQcode } from './keymap.js';

/** The part of a QmpClient this needs (tests pass a recorder). */
export interface QmpSender {
  execute(command: string, args?: Record<string, unknown>): boolean;
}

/** QEMU's absolute axis range (INPUT_EVENT_ABS_MIN..MAX). */
export const ABS_MAX = 0x7fff;

/** RFB PointerEvent button-mask bits, as QEMU's own VNC server reads them. */
export const BUTTONS: ReadonlyArray<[bit: number, name: string]> = [
  [0x01, 'left'],
  [0x02, 'middle'],
  [0x04, 'right'],
  [0x08, 'wheel-up'],
  [0x10, 'wheel-down'],
  [0x20, 'wheel-left'],
  [0x40, 'wheel-right'],
];

export type InputEvent =
  | { type: 'key'; data: { down: boolean; key: { type: 'qcode'; data: string } } }
  | { type: 'btn'; data: { down: boolean; button: string } }
  | { type: 'abs'; data: { axis: 'x' | 'y'; value: number } };

/** Maps a pixel coordinate of a `size`-pixel axis onto 0..ABS_MAX (the last pixel is ABS_MAX). */
export function scaleAxis(pixel: number, size: number): number {
  if (size <= 1) return 0;
  const p = Math.min(Math.max(pixel, 0), size - 1);
  return Math.round((p * ABS_MAX) / (size - 1));
}

export class QemuInputSink implements InputSink {
  private buttons = 0;
  private lastAbs: { x: number; y: number } | undefined;
  private readonly unmapped = new Set<string>();
  /** Keys QEMU was told are down. */
  private readonly down = new Set<string>();

  constructor(
    private readonly qmp: QmpSender,
    /** The guest's current mode (pointer positions are relative to it). */
    private readonly size: () => { width: number; height: number },
    private readonly log: Logger = () => {},
  ) {}

  /** QEMU (re)connected: it knows no buttons and no position yet. */
  reset(): void {
    this.down.clear();
    this.buttons = 0;
    this.lastAbs = undefined;
  }

  key(down: boolean, keysym: number, scancode?: number): void {
    const qcode = keyToQcode(keysym, scancode);
    if (!qcode) {
      const what = `keysym 0x${(keysym >>> 0).toString(16)}${scancode ? ` scancode 0x${scancode.toString(16)}` : ''}`;
      if (!this.unmapped.has(what) && this.unmapped.size < 64) {
        this.unmapped.add(what);
        this.log(`input: no key for ${what}${scancode ? '' : ' on a US layout (a client sending the QEMU extended key event works for any layout)'}; ignored`);
      }
      return;
    }
    if (this.send([{ type: 'key', data: { down, key: { type: 'qcode', data: qcode } } }])) {
      if (down) this.down.add(qcode);
      else this.down.delete(qcode);
    }
  }

  /** Key-up for every key still down and button-up for every button held (a client left mid-press). */
  releaseAll(): void {
    const events: InputEvent[] = [...this.down].map((q) => ({ type: 'key', data: { down: false, key: { type: 'qcode', data: q } } }) as InputEvent);
    for (const [bit, button] of BUTTONS) if (this.buttons & bit) events.push({ type: 'btn', data: { down: false, button } });
    if (events.length === 0 || !this.send(events)) return;
    this.down.clear();
    this.buttons = 0;
  }

  pointer(buttonMask: number, x: number, y: number): void {
    const { width, height } = this.size();
    const events: InputEvent[] = [];
    const abs = { x: scaleAxis(x, width), y: scaleAxis(y, height) };
    // Moves first, so a click lands where the client clicked.
    if (!this.lastAbs || this.lastAbs.x !== abs.x) events.push({ type: 'abs', data: { axis: 'x', value: abs.x } });
    if (!this.lastAbs || this.lastAbs.y !== abs.y) events.push({ type: 'abs', data: { axis: 'y', value: abs.y } });
    const changed = (this.buttons ^ buttonMask) & 0x7f;
    for (const [bit, button] of BUTTONS) {
      if (changed & bit) events.push({ type: 'btn', data: { down: (buttonMask & bit) !== 0, button } });
    }
    if (events.length === 0) return;
    // A dropped command (QEMU away) leaves the state as QEMU last saw it, so it is resent later.
    if (this.send(events)) {
      this.buttons = buttonMask & 0x7f;
      this.lastAbs = abs;
    }
  }

  private send(events: InputEvent[]): boolean {
    return this.qmp.execute('input-send-event', { events });
  }
}
