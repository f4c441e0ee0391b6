// `vgpu-vnc --device … | --demo`: wire a source, the captured display and the listener.
import type { ServeOptions } from '../cli.js';
import { CapturedDisplay } from '../surface/captured-display.js';
import { openSource } from '../source/open.js';
import { VncListener } from './listener.js';
import { AccessPolicy } from './access-policy.js';
import { certificateTlsContext } from './transport/tls.js';
import { WebFrontend } from './web/frontend.js';
import { VfioSource } from '../source/vfio.js';
import { edidResizer } from '../source/vfio-resize.js';
import { QmpClient } from '../input/qmp.js';
import { QemuInputSink } from '../input/qemu-input.js';

export function log(message: string): void {
  process.stderr.write(`vgpu-vnc: ${message}\n`);
}

export async function serve(opts: ServeOptions): Promise<void> {
  const opened = await openSource(opts.source, log);
  // SetDesktopSize reaches the guest through the EDID region where the device has one.
  const resize = opened.source instanceof VfioSource ? edidResizer(opened.source.device, log) : undefined;
  // View-only (no --qmp): clients see it in the desktop name; each session logs dropped input once.
  const name = opts.viewOnly ? `${opened.name} (view-only)` : opened.name;
  const display = new CapturedDisplay(opened.source, { name, maxFps: opts.maxFps, log, resize });
  await display.start();
  const qmp = !opts.viewOnly && opts.qmp ? new QmpClient(opts.qmp, { log }) : undefined;
  const input = qmp ? new QemuInputSink(qmp, () => display.surface, log) : undefined;
  if (qmp) qmp.on('connect', () => input!.reset());
  if (!input) log(`view-only: keyboard and pointer input is ignored${opts.qmp ? '' : " (give --qmp PATH, QEMU's QMP socket, to forward it)"}`);
  const certificate = opts.tls ? certificateTlsContext(opts.tls) : undefined;
  const policy = new AccessPolicy({ maxConnections: opts.maxConnections, insecure: opts.insecure });
  // The web frontend hands its WebSocket streams to the listener, which is made just below.
  let listenerRef: VncListener | undefined;
  const web = opts.web
    ? new WebFrontend({
        certificate,
        log,
        onStream: (stream, info) => listenerRef?.attach(stream, { ...info, canStartTls: false }),
      })
    : undefined;
  const listener = new VncListener(display, {
    host: opts.listen.host,
    port: opts.listen.port,
    password: opts.password,
    users: opts.users,
    certificate,
    policy,
    web: opts.web === 'same' ? web : undefined,
    viewOnly: opts.viewOnly,
    input,
    log,
  });
  listenerRef = listener;
  let address;
  let webAddress: { host: string; port: number } | undefined;
  const where = (a: { host: string; port: number }) => `${a.host}:${a.port}`;
  try {
    address = await listener.listen();
    if (web && opts.web !== 'same' && opts.web) {
      const at = opts.web;
      webAddress = await web.listen(at.host, at.port).catch((err: NodeJS.ErrnoException) => {
        throw Object.assign(new Error(err.message), { code: err.code, where: at });
      });
    }
  } catch (err) {
    await listener.close();
    qmp?.close();
    await display.close();
    await opened.stop();
    const e = err as NodeJS.ErrnoException & { where?: { host: string; port: number } };
    throw new Error(`cannot listen on ${where(e.where ?? opts.listen)}: ${e.code === 'EADDRINUSE' ? 'address already in use' : e.message}`);
  }
  const { width, height } = display.surface;
  const auth = [opts.password ? 'VNC authentication' : '', opts.users ? `${opts.users.size} Plain user(s)` : '', certificate ? 'X509 certificate' : '']
    .filter(Boolean)
    .join(', ');
  log(`serving ${opened.name} (${width}x${height}) on ${where(address)}${auth ? ` with ${auth}` : ''}`);
  if (web) {
    const scheme = certificate ? 'https' : 'http';
    const at = webAddress ?? address;
    const host = at.host === '0.0.0.0' || at.host === '::' ? 'localhost' : at.host.includes(':') ? `[${at.host}]` : at.host;
    log(`web viewer at ${scheme}://${host}:${at.port}/${opts.web === 'same' ? ' (same port as VNC)' : ''}`);
  }

  const shutdown = async (signal: string) => {
    log(`${signal}: shutting down`);
    await listener.close();
    await web?.close();
    qmp?.close();
    await display.close();
    await opened.stop();
    process.exit(0);
  };
  process.once('SIGINT', () => void shutdown('SIGINT'));
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
}
