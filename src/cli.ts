// Command line (yargs). Every option is validated here and nowhere else; user errors are
// one line on stderr and exit code 2, never a stack trace.
import yargs, { type Argv } from 'yargs';
import { readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { PlainUsers } from './rfb/security/plain.js';
import { certificateTlsContext } from './server/transport/tls.js';
import type { VfioDeviceSpec } from './source/vfio-open.js';
import { edidResolutionProblem } from './source/vfio-edid.js';

export class UsageError extends Error {}

export interface ListenAddress {
  host: string;
  port: number;
}

export interface Resolution {
  width: number;
  height: number;
}

/** Where the guest's pixels come from. */
export type SourceChoice =
  | { kind: 'demo' }
  | { kind: 'fbregion'; path: string }
  | { kind: 'vfio'; spec: VfioDeviceSpec; resolution?: Resolution };

export interface ServeOptions {
  source: SourceChoice;
  listen: ListenAddress;
  password?: string;
  maxFps: number;
  viewOnly: boolean;
  insecure: boolean;
  /** Web viewer: on the RFB port ('same') or on its own address; absent: none. */
  web?: ListenAddress | 'same';
  /** Certificate and key (PEM) for VeNCrypt X509* and HTTPS/WSS. */
  tls?: { cert: Buffer; key: Buffer };
  /** Connections served at once. */
  maxConnections: number;
  /** Plain users (salted scrypt hashes) for VeNCrypt TLSPlain/X509Plain and Plain over WSS. */
  users?: PlainUsers;
  /** QEMU's QMP unix socket: keyboard and pointer go there. Absent: view-only. */
  qmp?: string;
}

export interface SnapshotOptions {
  source: SourceChoice;
  output: string;
}

const PASSWORD_ENV = 'VGPU_VNC_PASSWORD';
const NEW_PASSWORD_ENV = 'VGPU_VNC_NEW_PASSWORD';

export function parseListen(value: string): ListenAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(value);
  if (!m) throw new UsageError(`--listen: expected HOST:PORT (e.g. 127.0.0.1:5900 or [::1]:5900), got '${value}'`);
  const host = m[1] ?? (m[2] || '0.0.0.0');
  const port = Number(m[3]);
  if (port < 1 || port > 65535) throw new UsageError(`--listen: port ${port} is out of range 1-65535`);
  if (m[1] !== undefined && isIP(host) !== 6) throw new UsageError(`--listen: '${host}' is not an IPv6 address`);
  return { host, port };
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

function readPassword(file: string | undefined): string | undefined {
  let password: string | undefined;
  if (file !== undefined) {
    try {
      password = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      throw new UsageError(`--password-file: cannot read '${file}': ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    if (password.length === 0) throw new UsageError(`--password-file: '${file}' is empty`);
  } else if (process.env[PASSWORD_ENV]) {
    password = process.env[PASSWORD_ENV];
  }
  // VNC Authentication uses only the first 8 bytes; say so rather than surprise the user.
  if (password !== undefined && Buffer.byteLength(password) > 8)
    process.stderr.write('vgpu-vnc: note: VNC Authentication uses only the first 8 bytes of the password\n');
  return password;
}

const VFIO_PATH = /^\/dev\/vfio\/(\d+|devices\/[^/]+)$/;

function checkFramebufferFile(device: string): void {
  let stat;
  try {
    stat = statSync(device);
  } catch (err) {
    throw new UsageError(`--device ${device}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  if (!stat.isFile() && !stat.isCharacterDevice())
    throw new UsageError(`--device ${device}: not a framebuffer file (expected a regular file or device node)`);
}

function wholeNumber(flag: string, value: unknown, min: number, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`${flag}: expected a whole number ${min}-${max}, got ${String(value)}`);
  return n;
}

export function parseResolution(value: string): Resolution {
  const m = /^(\d{1,5})x(\d{1,5})$/.exec(value);
  if (!m) throw new UsageError(`--resolution: expected WIDTHxHEIGHT (e.g. 1280x720), got '${value}'`);
  const r = { width: Number(m[1]), height: Number(m[2]) };
  const problem = edidResolutionProblem(r.width, r.height);
  if (problem) throw new UsageError(`--resolution ${value}: ${problem}`);
  return r;
}

/** The source the device options name; `allowDemo` for the serve command. */
function sourceChoice(argv: Record<string, unknown>, allowDemo: boolean): SourceChoice {
  const device = argv.device as string | undefined;
  const named: [string, unknown][] = [
    ['--device', device],
    ['--device-fd', argv['device-fd']],
    ['--device-socket', argv['device-socket']],
    ['--vmm-pid', argv['vmm-pid']],
    ['--demo', argv.demo || undefined],
  ];
  const given = named.filter(([, v]) => v !== undefined);
  if (given.length === 0)
    throw new UsageError(`nothing to show: give --device PATH${allowDemo ? ' or --demo' : ''} (or --device-fd, --device-socket, --vmm-pid; see --help)`);
  if (given.length > 1) throw new UsageError(`${given.map(([f]) => f).join(' and ')} exclude each other`);
  const resolution = argv.resolution !== undefined ? parseResolution(String(argv.resolution)) : undefined;
  const deviceName = argv['device-name'] as string | undefined;
  const vfio = (spec: VfioDeviceSpec): SourceChoice => ({ kind: 'vfio', spec, resolution });
  const [flag] = given[0]!;
  if (flag !== '--device' && deviceName !== undefined) throw new UsageError('--device-name goes with --device /dev/vfio/N');
  if (resolution && (flag === '--demo' || (flag === '--device' && !VFIO_PATH.test(device!))))
    throw new UsageError('--resolution needs a VFIO device (it writes the device\'s EDID)');
  switch (flag) {
    case '--demo':
      return { kind: 'demo' };
    case '--device-fd':
      return vfio({ kind: 'fd', fd: wholeNumber('--device-fd', argv['device-fd'], 3, 1 << 20) });
    case '--device-socket':
      return vfio({ kind: 'socket', path: String(argv['device-socket']) });
    case '--vmm-pid':
      return vfio({ kind: 'pid', pid: wholeNumber('--vmm-pid', argv['vmm-pid'], 1, 1 << 22) });
  }
  if (device!.startsWith('/dev/vfio/')) {
    if (device === '/dev/vfio/vfio') throw new UsageError('--device /dev/vfio/vfio is the VFIO container; give the group, /dev/vfio/N');
    if (!VFIO_PATH.test(device!)) throw new UsageError(`--device ${device}: expected /dev/vfio/N or /dev/vfio/devices/vfioX`);
    return vfio({ kind: 'path', path: device!, deviceName });
  }
  if (deviceName !== undefined) throw new UsageError('--device-name goes with --device /dev/vfio/N');
  checkFramebufferFile(device!);
  return { kind: 'fbregion', path: device! };
}

/** Options naming a device, shared by serve, snapshot and probe. */
function deviceOptions<T>(y: Argv<T>) {
  return y
    .option('device', { type: 'string', describe: 'VFIO group /dev/vfio/N or cdev /dev/vfio/devices/vfioX, or a draft-protocol framebuffer file' })
    .option('device-name', { type: 'string', describe: 'which device of the VFIO group (mdev UUID or PCI address); default: the one in sysfs' })
    .option('device-fd', { type: 'number', describe: 'an inherited, already open VFIO device fd' })
    .option('device-socket', { type: 'string', describe: 'unix socket on which a VMM hands over the VFIO device fd (SCM_RIGHTS)' })
    .option('vmm-pid', { type: 'number', describe: 'take the VFIO device fd from this running VMM (pidfd_getfd; needs ptrace rights)' })
    .option('resolution', { type: 'string', describe: 'WxH: write an EDID so the guest can pick this mode (devices with an EDID region)' });
}

function serveOptions(argv: Record<string, unknown>): ServeOptions {
  const source = sourceChoice(argv, true);
  const maxFps = argv['max-fps'] as number;
  if (!Number.isFinite(maxFps) || maxFps < 1 || maxFps > 240) throw new UsageError(`--max-fps: expected 1-240, got ${String(argv['max-fps'])}`);
  const listen = parseListen(argv.listen as string);
  const password = readPassword(argv['password-file'] as string | undefined);
  const insecure = Boolean(argv.insecure);
  const security = securityOptions(argv, listen, password, insecure);
  const qmp = qmpOption(argv.qmp);
  return { source, listen, password, maxFps, viewOnly: Boolean(argv['view-only']) || qmp === undefined, insecure, qmp, ...security };
}

/** --qmp PATH: QEMU may not be running yet (the client reconnects), but a path that is something else is a mistake. */
export function qmpOption(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  const path = String(value);
  if (path === '') throw new UsageError("--qmp: expected the path of QEMU's QMP socket (-qmp unix:PATH,server=on,wait=off)");
  let stat;
  try {
    stat = statSync(path);
  } catch {
    return path; // not there yet: connect when QEMU starts
  }
  if (!stat.isSocket()) throw new UsageError(`--qmp ${path}: not a unix socket (give QEMU's -qmp unix:PATH,server=on,wait=off)`);
  return path;
}

/** `--web` alone: the RFB port serves browsers too; `--web HOST:PORT`: a port of its own. */
export function parseWeb(value: string): ListenAddress | 'same' {
  if (value === '' || value === 'same') return 'same';
  try {
    return parseListen(value);
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/^--listen/, '--web').replace('HOST:PORT (', 'HOST:PORT, or nothing for the VNC port ('));
  }
}

function readFileOption(option: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new UsageError(`${option}: cannot read '${file}': ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** Security and web options of `serve`, checked together (they constrain each other). */
function securityOptions(argv: Record<string, unknown>, listen: ListenAddress, password: string | undefined, insecure: boolean) {
  const certFile = argv['tls-cert'] as string | undefined, keyFile = argv['tls-key'] as string | undefined;
  if ((certFile === undefined) !== (keyFile === undefined)) throw new UsageError('--tls-cert and --tls-key go together: give both or neither');
  let tls: { cert: Buffer; key: Buffer } | undefined;
  if (certFile !== undefined && keyFile !== undefined) {
    tls = { cert: readFileOption('--tls-cert', certFile), key: readFileOption('--tls-key', keyFile) };
    try {
      certificateTlsContext(tls);
    } catch (err) {
      throw new UsageError(`--tls-cert/--tls-key: ${(err as Error).message}`);
    }
  }
  const maxConnections = argv['max-connections'] as number;
  if (!Number.isInteger(maxConnections) || maxConnections < 1 || maxConnections > 1000)
    throw new UsageError(`--max-connections: expected a whole number 1-1000, got ${String(argv['max-connections'])}`);
  let users: PlainUsers | undefined;
  const usersFile = argv['plain-users'] as string | undefined;
  if (usersFile !== undefined) {
    try {
      users = PlainUsers.parse(readFileOption('--plain-users', usersFile).toString('utf8'), usersFile);
    } catch (err) {
      throw err instanceof UsageError ? err : new UsageError(`--plain-users: ${(err as Error).message}`);
    }
  }
  const webArg = argv.web as string | undefined;
  const web = webArg === undefined ? undefined : parseWeb(webArg);
  const exposed = [listen.host, ...(web && web !== 'same' ? [web.host] : [])].find((h) => !isLoopback(h));
  if (exposed !== undefined && password === undefined && users === undefined && !insecure)
    throw new UsageError(`refusing to serve without a password on ${exposed}: give --password-file (or ${PASSWORD_ENV}) or --plain-users, or --insecure if you really mean it`);
  return { web, tls, maxConnections, users };
}

function buildParser(args: string[]): Argv {
  return yargs(args)
    .scriptName('vgpu-vnc')
    .usage('$0 --device /dev/vfio/N | --device FILE | --demo [options]\n\nShow a vGPU guest\'s screen to any VNC viewer, without OpenGL.')
    .command(
      '$0',
      'serve a device (or the demo) over VNC',
      (y) =>
        deviceOptions(y)
          .option('demo', { type: 'boolean', describe: 'serve an emulated vGPU with a moving desktop' })
          .option('listen', { type: 'string', default: '127.0.0.1:5900', describe: 'HOST:PORT to listen on' })
          .option('password-file', { type: 'string', describe: `file holding the VNC password (or set ${PASSWORD_ENV})` })
          .option('max-fps', { type: 'number', default: 60, describe: 'highest capture rate' })
          .option('view-only', { type: 'boolean', default: false, describe: 'ignore keyboard and mouse (the default without --qmp)' })
          .option('qmp', { type: 'string', describe: "QEMU's QMP unix socket (-qmp unix:PATH,server=on,wait=off): forward keyboard and mouse to the guest" })
          .option('insecure', { type: 'boolean', default: false, describe: 'allow no password on a non-loopback address' })
          .option('web', { type: 'string', describe: 'also serve the browser viewer: alone on the VNC port, or on HOST:PORT' })
          .option('tls-cert', { type: 'string', describe: 'PEM certificate: VeNCrypt X509 and HTTPS/WSS (with --tls-key)' })
          .option('tls-key', { type: 'string', describe: 'PEM private key of --tls-cert' })
          .option('plain-users', { type: 'string', describe: "users file of salted scrypt hashes (see 'vgpu-vnc passwd') for user/password logins" })
          .option('max-connections', { type: 'number', default: 16, describe: 'connections served at once' }),
      async (argv) => {
        const { serve } = await import('./server/serve.js');
        await serve(serveOptions(argv));
      },
    )
    .command(
      'snapshot',
      'write the current guest picture to a PNG file',
      (y) => deviceOptions(y).option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'PNG file to write' }),
      async (argv) => {
        const source = sourceChoice(argv, false);
        const { snapshot } = await import('./server/snapshot.js');
        await snapshot({ source, output: argv.output });
      },
    )
    .command(
      'probe',
      'describe a VFIO device: regions, plane types, the current plane (start here when something is wrong)',
      (y) => deviceOptions(y),
      async (argv) => {
        const source = sourceChoice(argv, false);
        if (source.kind !== 'vfio') throw new UsageError('probe: give a VFIO device (--device /dev/vfio/N, --device-fd, --device-socket or --vmm-pid)');
        const { probeVfio } = await import('./source/vfio-probe.js');
        process.stdout.write(`${await probeVfio(source.spec)}\n`);
      },
    )
    .command(
      'passwd <file> <user>',
      `add or replace USER in a --plain-users FILE; the password comes from ${NEW_PASSWORD_ENV} or the first line of stdin`,
      (y) => y.positional('file', { type: 'string', demandOption: true }).positional('user', { type: 'string', demandOption: true }),
      async (argv) => {
        const { setUserPassword } = await import('./server/passwd.js');
        try {
          await setUserPassword(argv.file, argv.user, process.env[NEW_PASSWORD_ENV]);
        } catch (err) {
          throw new UsageError(`passwd: ${(err as Error).message}`);
        }
      },
    )
    .strict()
    .help()
    .version()
    .wrap(Math.min(100, process.stdout.columns || 100))
    .fail((msg, err) => {
      throw err ?? new UsageError(msg);
    });
}

/** Entry point used by bin/vgpu-vnc. */
export async function main(args: string[]): Promise<void> {
  try {
    await buildParser(args).parseAsync();
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`vgpu-vnc: ${message}\n`);
    if (!(err instanceof UsageError) && process.env.VGPU_VNC_DEBUG) process.stderr.write(`${(err as Error).stack}\n`);
    process.exitCode = err instanceof UsageError ? 2 : 1;
  }
}
