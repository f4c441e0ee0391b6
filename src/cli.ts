// Command line (yargs). Every option is validated here and nowhere else; user errors are
// one line on stderr and exit code 2, never a stack trace.
import yargs, { type Argv } from 'yargs';
import { readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';

export class UsageError extends Error {}

export interface ListenAddress {
  host: string;
  port: number;
}

export interface ServeOptions {
  device?: string;
  demo: boolean;
  listen: ListenAddress;
  password?: string;
  maxFps: number;
  viewOnly: boolean;
  insecure: boolean;
}

export interface SnapshotOptions {
  device: string;
  output: string;
}

const PASSWORD_ENV = 'VGPU_VNC_PASSWORD';

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

function checkDevicePath(device: string): void {
  if (device.startsWith('/dev/vfio/'))
    throw new UsageError(`--device ${device}: real VFIO devices are not supported yet; use a draft-protocol file or --demo`);
  let stat;
  try {
    stat = statSync(device);
  } catch (err) {
    throw new UsageError(`--device ${device}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  if (!stat.isFile() && !stat.isCharacterDevice())
    throw new UsageError(`--device ${device}: not a framebuffer file (expected a regular file or device node)`);
}

function serveOptions(argv: Record<string, unknown>): ServeOptions {
  const device = argv.device as string | undefined;
  const demo = Boolean(argv.demo);
  if (!device && !demo) throw new UsageError('nothing to show: give --device PATH or --demo (see --help)');
  if (device && demo) throw new UsageError('--device and --demo exclude each other');
  if (device) checkDevicePath(device);
  const maxFps = argv['max-fps'] as number;
  if (!Number.isFinite(maxFps) || maxFps < 1 || maxFps > 240) throw new UsageError(`--max-fps: expected 1-240, got ${String(argv['max-fps'])}`);
  const listen = parseListen(argv.listen as string);
  const password = readPassword(argv['password-file'] as string | undefined);
  const insecure = Boolean(argv.insecure);
  if (!isLoopback(listen.host) && password === undefined && !insecure)
    throw new UsageError(`refusing to serve without a password on ${listen.host}: give --password-file (or ${PASSWORD_ENV}), or --insecure if you really mean it`);
  return { device, demo, listen, password, maxFps, viewOnly: Boolean(argv['view-only']), insecure };
}

function buildParser(args: string[]): Argv {
  return yargs(args)
    .scriptName('vgpu-vnc')
    .usage('$0 --device PATH | --demo [options]\n\nShow a vGPU guest\'s screen to any VNC viewer, without OpenGL.')
    .command(
      '$0',
      'serve a device (or the demo) over VNC',
      (y) =>
        y
          .option('device', { type: 'string', describe: 'draft-protocol framebuffer file (VFIO devices: coming)' })
          .option('demo', { type: 'boolean', describe: 'serve an emulated vGPU with a moving desktop' })
          .option('listen', { type: 'string', default: '127.0.0.1:5900', describe: 'HOST:PORT to listen on' })
          .option('password-file', { type: 'string', describe: `file holding the VNC password (or set ${PASSWORD_ENV})` })
          .option('max-fps', { type: 'number', default: 60, describe: 'highest capture rate' })
          .option('view-only', { type: 'boolean', default: false, describe: 'ignore keyboard and mouse (always, until an input path exists)' })
          .option('insecure', { type: 'boolean', default: false, describe: 'allow no password on a non-loopback address' }),
      async (argv) => {
        const { serve } = await import('./server/serve.js');
        await serve(serveOptions(argv));
      },
    )
    .command(
      'snapshot',
      'write the current guest picture to a PNG file',
      (y) =>
        y
          .option('device', { type: 'string', demandOption: true, describe: 'draft-protocol framebuffer file' })
          .option('output', { alias: 'o', type: 'string', demandOption: true, describe: 'PNG file to write' }),
      async (argv) => {
        checkDevicePath(argv.device);
        const { snapshot } = await import('./server/snapshot.js');
        await snapshot({ device: argv.device, output: argv.output });
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
