// A VFIO device that may go away and come back: it forwards to the device it holds, watches it
// (vfio-presence.ts) on its own timer — so a removal is never held up by us, even with no viewer
// connected — and when it is gone closes it at once (after `onLost` has dropped every mapping:
// each mmap holds the device file too) and keeps trying to open the spec again.
//   --vmm-pid PID: the VMM's fds are looked at again (a VMM re-opens the new device itself).
//   --device /dev/vfio/N: the group path again; with --device-name NAME, NAME's group now
//   (a re-created mdev keeps its UUID but may get another group number).
// While detached every call fails with code ENODEV and the loss as its message.
import type { NativeMapping, NativeVfioDevice, VfioDeviceInfo, VfioPlaneError, VfioPlaneInfo, VfioPlaneKind, VfioPlaneType, VfioRegionInfo } from '../native.js';
import type { Logger } from './types.js';
import { openVfioDevice, type VfioDeviceSpec } from './vfio-open.js';
import { currentGroupOf, watchDevice, type DeviceWatch, type PresenceOptions } from './vfio-presence.js';

export interface ReattachOptions extends PresenceOptions {
  log?: Logger;
  /** called synchronously when the device is found gone, before it is closed: drop its mappings */
  onLost?: (reason: string) => void;
  /** called after a re-attach with the new device (e.g. to write the EDID again) */
  onAttached?: (device: NativeVfioDevice) => void;
  /** how often the device's presence is checked (default 250 ms) */
  checkMs?: number;
  /** how often a lost device is looked for again (default 500 ms) */
  retryMs?: number;
}

export class ReattachingDevice implements NativeVfioDevice {
  private current: NativeVfioDevice | undefined;
  private watch: DeviceWatch | undefined;
  private lostReason: string | undefined;
  private lastDescription: string;
  private readonly timer: NodeJS.Timeout;
  private nextRetryAt = 0;
  private opening = false;
  private closed = false;
  private lastOpenError: string | undefined;
  /** Bumped on every (re)attach: state tied to the previous device must be dropped. */
  generation = 0;

  constructor(device: NativeVfioDevice, private readonly spec: VfioDeviceSpec, private readonly opts: ReattachOptions = {}) {
    this.current = device;
    this.lastDescription = device.description;
    this.watch = this.watchFor(true);
    this.timer = setInterval(() => this.check(), opts.checkMs ?? 250);
    this.timer.unref();
  }

  /** undefined while attached; otherwise why there is no device. */
  get lost(): string | undefined {
    return this.lostReason;
  }

  get description(): string {
    return this.current?.description ?? this.lastDescription;
  }

  /** Checks now (the timer does it too). Returns the loss reason, if any. */
  check(): string | undefined {
    if (this.closed) return this.lostReason;
    if (this.current) {
      const reason = this.watch?.lost();
      if (reason !== undefined) this.detach(reason);
    } else if (!this.opening && performance.now() >= this.nextRetryAt) {
      void this.reopen();
    }
    return this.lostReason;
  }

  info(): VfioDeviceInfo {
    return this.live().info();
  }
  regionInfo(index: number): VfioRegionInfo | undefined {
    return this.live().regionInfo(index);
  }
  queryPlane(type: VfioPlaneType, kind: VfioPlaneKind): VfioPlaneInfo | VfioPlaneError {
    if (!this.current) return { ok: false, code: 'ENODEV', message: this.lostReason ?? 'no device' };
    return this.current.queryPlane(type, kind);
  }
  probe(): { dmabuf: boolean; region: boolean } {
    return this.live().probe();
  }
  mapRegion(index: number, size?: number): NativeMapping {
    return this.live().mapRegion(index, size);
  }
  getDmabuf(dmabufId: number): NativeMapping {
    return this.live().getDmabuf(dmabufId);
  }
  readRegion(index: number, offset: number, length: number): Buffer {
    return this.live().readRegion(index, offset, length);
  }
  writeRegion(index: number, offset: number, data: Uint8Array): void {
    this.live().writeRegion(index, offset, data);
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    this.current?.close();
    this.current = undefined;
  }

  private live(): NativeVfioDevice {
    if (this.current) return this.current;
    throw Object.assign(new Error(this.lostReason ?? 'no device'), { code: 'ENODEV' });
  }

  private watchFor(initial: boolean): DeviceWatch | undefined {
    const { watch, note } = watchDevice(this.spec, this.opts);
    if (note && initial) this.opts.log?.(`vfio: ${note}`);
    return watch;
  }

  private detach(reason: string): void {
    this.lostReason = reason;
    this.opts.log?.(`vfio: ${reason}: releasing ${this.description} (so the removal can finish) and waiting for a device`);
    this.opts.onLost?.(reason);
    this.current?.close();
    this.current = undefined;
    this.nextRetryAt = performance.now() + (this.opts.retryMs ?? 500);
  }

  private reopenSpec(): VfioDeviceSpec {
    const spec = this.spec;
    if (spec.kind !== 'path' || spec.deviceName === undefined) return spec;
    const group = currentGroupOf(spec.deviceName, this.opts);
    if (group === undefined || group === spec.path) return spec;
    return { ...spec, path: group };
  }

  private async reopen(): Promise<void> {
    this.opening = true;
    const spec = this.reopenSpec();
    try {
      // Do not even take a VMM's fd while the device it points at is still going away.
      const before = spec.kind === 'pid' ? watchDevice(spec, this.opts).watch?.lost() : undefined;
      if (before !== undefined) throw Object.assign(new Error(before), { code: 'ENODEV' });
      const device = await openVfioDevice(spec, { log: this.opts.log, procRoot: this.opts.procRoot, sysRoot: this.opts.sysRoot });
      const watch = watchDevice(spec, this.opts).watch;
      const still = watch?.lost();
      if (this.closed || still !== undefined) {
        device.close();
        if (!this.closed) throw Object.assign(new Error(still), { code: 'ENODEV' });
        return;
      }
      this.current = device;
      this.watch = watch;
      this.lastDescription = device.description;
      this.lostReason = undefined;
      this.lastOpenError = undefined;
      this.generation++;
      this.opts.log?.(`vfio: device back: ${device.description}${spec !== this.spec && spec.kind === 'path' ? ` (now ${spec.path})` : ''}`);
      this.opts.onAttached?.(device);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const said = `${e.code ?? 'EIO'}: ${e.message}`;
      if (said !== this.lastOpenError) this.opts.log?.(`vfio: no device yet (${said}); still trying every ${this.opts.retryMs ?? 500} ms`);
      this.lastOpenError = said;
    } finally {
      this.opening = false;
      this.nextRetryAt = performance.now() + (this.opts.retryMs ?? 500);
    }
  }
}
