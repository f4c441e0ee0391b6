// Side-by-side benchmark: the same 1920×1080 frame sequences played at 30 and 60 frames/s
// into vgpu-vnc (draft-protocol producer) and into TigerVNC's Xvnc (XShmPutImage), watched
// by one libvncclient measuring client per encoding. Prints, per encoding, a table with
// rows content × rate and, for each metric, us / Xvnc / ratio. See bench/xvnc/README.md.
//
// Long (several minutes), so `npm run bench` skips it unless named: `npm run bench -- xvnc`.
// Environment knobs: BENCH_XVNC_SECONDS (measure window, default 5), BENCH_XVNC_WARMUP_MS
// (default 1000), BENCH_XVNC_CONTENT (e.g. "plasma,noise"), BENCH_XVNC_RATES ("30,60"),
// BENCH_XVNC_ENCODINGS ("raw,zrle,tight,jpeg"), BENCH_XVNC_SERVERS ("us,xvnc"),
// BENCH_XVNC_PROFILE=DIR (run our server under node --cpu-prof, profiles in DIR),
// BENCH_XVNC_NICE=N (run servers, players and client at niceness N, e.g. -10 on a busy machine).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FbRegionProducer } from '../../src/source/fbregion-producer.js';
import { Fourcc } from '../../src/surface/fourcc.js';
import { buildTools, type Tools } from './build.js';
import { CONTENTS, type Content, FRAME_BYTES, frameCount, generateFrames, HEIGHT, WIDTH } from './frames.js';
import { niced, startVgpu, startXvnc, type RunningServer } from './servers.js';
import { formatTables, type Cell, type Measurement } from './table.js';

const here = fileURLToPath(new URL('.', import.meta.url)); // dist/bench/xvnc/
const repo = resolve(here, '../../..');

export interface EncodingSpec {
  key: string;
  title: string;
  /** RFB encoding number that must show up in the rectangles. */
  rfb: number;
  args: string[];
}

// CopyRect is in every set, as real viewers ask for it (scroll detection may use it).
export const ENCODINGS: EncodingSpec[] = [
  { key: 'raw', title: 'Raw', rfb: 0, args: ['--encodings', 'raw copyrect'] },
  { key: 'zrle', title: 'ZRLE', rfb: 16, args: ['--encodings', 'zrle copyrect'] },
  { key: 'tight', title: 'Tight lossless', rfb: 7, args: ['--encodings', 'tight copyrect'] },
  { key: 'jpeg', title: 'Tight+JPEG quality 6', rfb: 7, args: ['--encodings', 'tight copyrect', '--quality', '6'] },
];

const RFB_NAMES: Record<number, string> = { 0: 'raw', 7: 'tight', 16: 'zrle' };

type Target = 'us' | 'xvnc';

interface Options {
  seconds: number;
  warmupMs: number;
  contents: Content[];
  rates: number[];
  encodings: EncodingSpec[];
  targets: Target[];
  profileDir?: string;
  niceness?: number;
  /** A second client that watches each cell with this encoding (its numbers are printed, not tabulated). */
  alongside?: EncodingSpec;
}

function list(env: string | undefined, all: readonly string[], what: string): string[] {
  if (!env) return [...all];
  const picked = env.split(',').map((s) => s.trim()).filter(Boolean);
  for (const p of picked) if (!all.includes(p)) throw new Error(`${what}: unknown "${p}" (known: ${all.join(', ')})`);
  return picked;
}

function options(): Options {
  const e = process.env;
  const seconds = Number(e.BENCH_XVNC_SECONDS ?? 5);
  const warmupMs = Number(e.BENCH_XVNC_WARMUP_MS ?? 1000);
  if (!(seconds > 0) || !(warmupMs >= 0)) throw new Error('BENCH_XVNC_SECONDS must be > 0 and BENCH_XVNC_WARMUP_MS >= 0');
  const rates = list(e.BENCH_XVNC_RATES, ['30', '60'], 'BENCH_XVNC_RATES').map(Number);
  const keys = list(e.BENCH_XVNC_ENCODINGS, ENCODINGS.map((x) => x.key), 'BENCH_XVNC_ENCODINGS');
  const alongside = e.BENCH_XVNC_ALONGSIDE ? list(e.BENCH_XVNC_ALONGSIDE, ENCODINGS.map((x) => x.key), 'BENCH_XVNC_ALONGSIDE') : [];
  if (alongside.length > 1) throw new Error('BENCH_XVNC_ALONGSIDE: one encoding');
  return {
    seconds,
    warmupMs,
    contents: list(e.BENCH_XVNC_CONTENT, CONTENTS, 'BENCH_XVNC_CONTENT') as Content[],
    rates,
    encodings: ENCODINGS.filter((x) => keys.includes(x.key)),
    targets: list(e.BENCH_XVNC_SERVERS, ['us', 'xvnc'], 'BENCH_XVNC_SERVERS') as Target[],
    profileDir: e.BENCH_XVNC_PROFILE ? resolve(e.BENCH_XVNC_PROFILE) : undefined,
    niceness: niceness(e.BENCH_XVNC_NICE),
    alongside: ENCODINGS.find((x) => x.key === alongside[0]),
  };
}

function niceness(env: string | undefined): number | undefined {
  if (env === undefined || env === '') return undefined;
  const n = Number(env);
  if (!Number.isInteger(n) || n < -20 || n > 19) throw new Error(`BENCH_XVNC_NICE must be an integer in -20..19, got "${env}"`);
  return n;
}

/** The pixel encodings our server has right now (undefined if the registry cannot be read). */
async function ourEncodings(): Promise<Set<number> | undefined> {
  try {
    const registry = (await import('../../src/rfb/encodings/index.js')) as { SUPPORTED_ENCODINGS?: readonly number[] };
    return registry.SUPPORTED_ENCODINGS ? new Set(registry.SUPPORTED_ENCODINGS) : undefined;
  } catch {
    return undefined;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Player {
  stop(): Promise<string>;
}

function startPlayer(cmd: string, args: string[], niceness: number | undefined): Player {
  const child: ChildProcess = spawn(...niced(niceness, cmd, args), { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => (stderr = (stderr + b.toString()).slice(-2000)));
  const closed = new Promise((r) => child.once('close', r));
  return {
    stop: async () => {
      // 'close' (not 'exit'): its last words on stderr have arrived too.
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await closed;
      return stderr.trim();
    },
  };
}

function measure(tools: Tools, server: RunningServer, enc: EncodingSpec, tsPath: string, opts: Options): Promise<Measurement> {
  const args = [`127.0.0.1:${server.port}`, ...enc.args, '--ts', tsPath, '--warmup-ms', String(opts.warmupMs),
    '--measure-ms', String(Math.round(opts.seconds * 1000)), '--cpu-pid', String(server.pid)];
  return new Promise((res) => {
    const child = spawn(...niced(opts.niceness, tools.measure, args), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    child.on('exit', () => {
      try {
        const m = JSON.parse(out.trim()) as Measurement;
        const seenRects = Object.keys(m.rects);
        if (m.updates > 0 && !seenRects.includes(RFB_NAMES[enc.rfb]!)) {
          res({ ...m, unsupported: `server sent ${seenRects.join('+') || 'nothing'}` });
        } else res(m);
      } catch {
        res({ error: err.trim().split('\n').pop() || `vncmeasure exited without a result` } as Measurement);
      }
    });
  });
}

/** Writes one black frame so vgpu-vnc has a picture to start from (no producer answers yet). */
function seedFramebuffer(fbPath: string): void {
  const producer = new FbRegionProducer(fbPath);
  producer.present(Buffer.alloc(FRAME_BYTES), { fourcc: Fourcc.XRGB8888, width: WIDTH, height: HEIGHT, stride: WIDTH * 4, offset: 0 });
  producer.close();
}

export async function run(): Promise<void> {
  const started = Date.now();
  const opts = options();
  if (!existsSync('/usr/bin/Xvnc')) throw new Error('/usr/bin/Xvnc is missing: run "bash test/setup.sh" (tigervnc-standalone-server)');
  const tools = buildTools(repo);
  // Frames live in /dev/shm when it has room (one content at a time: ~1.2 GB), else in tmpdir.
  const shm = '/dev/shm';
  const base = existsSync(shm) && statfsSync(shm).bavail * statfsSync(shm).bsize > 3 * 150 * FRAME_BYTES ? shm : tmpdir();
  const dir = mkdtempSync(join(base, 'vgpu-bench-xvnc-'));
  const fbPath = join(dir, 'fb');
  const ours = await ourEncodings();
  const cells: Cell[] = [];
  const servers: RunningServer[] = [];
  const players: Player[] = [];
  let us: RunningServer | undefined;
  let xvnc: RunningServer | undefined;
  const vgpuArgs = opts.profileDir ? ['--cpu-prof', '--cpu-prof-dir', opts.profileDir] : [];
  const startUs = async () => {
    us = await startVgpu(join(repo, 'bin/vgpu-vnc'), fbPath, vgpuArgs, opts.niceness);
    servers.push(us);
    return us;
  };
  const cleanUp = async () => {
    for (const p of players.splice(0)) await p.stop();
    for (const s of servers.splice(0)) await s.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  // Interrupted: still stop the servers and players and free the frames in /dev/shm.
  const onSignal = (signal: NodeJS.Signals) => void cleanUp().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    seedFramebuffer(fbPath);
    if (opts.targets.includes('us')) await startUs();
    if (opts.targets.includes('xvnc')) servers.push((xvnc = await startXvnc(opts.niceness)));
    console.log(`servers: vgpu-vnc pid ${us?.pid ?? '-'}, Xvnc pid ${xvnc?.pid ?? '-'} (${xvnc?.display ?? '-'}); ` +
      `${opts.seconds} s per cell after ${opts.warmupMs} ms warm-up; ${opts.niceness === undefined ? '' : `niceness ${opts.niceness}; `}frames in ${dir}; ${load()}`);
    for (const content of opts.contents) {
      const t0 = Date.now();
      const framesPath = join(dir, `${content}.raw`);
      const count = generateFrames(content, framesPath);
      console.log(`${content}: ${count} frames generated in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      for (const rate of opts.rates) {
        // Us and Xvnc alternate per encoding, so a change in the machine's load between
        // cells hits both sides of a ratio alike. Only one player runs at a time.
        for (const enc of opts.encodings) {
          for (const target of opts.targets) {
            let m: Measurement;
            if (target === 'us' && ours && !ours.has(enc.rfb)) {
              m = { unsupported: 'not in our encoder registry' } as Measurement;
            } else {
              let server = target === 'us' ? us! : xvnc!;
              if (!server.alive()) {
                console.log(`  ${server.name} died (${server.log()}); restarting`);
                server = target === 'us' ? await startUs() : (xvnc = await startXvnc(opts.niceness));
                if (target === 'xvnc') servers.push(server);
              }
              const tsPath = join(dir, `ts-${target}`);
              const player = target === 'us'
                ? startPlayer(process.execPath, [join(here, 'player-vgpu.js'), framesPath, String(count), fbPath, tsPath, String(rate), '3600'], opts.niceness)
                : startPlayer(tools.player, [server.display!, framesPath, String(count), tsPath, String(rate), '3600'], opts.niceness);
              players.push(player);
              await sleep(500);
              const other = opts.alongside && measure(tools, server, opts.alongside, tsPath, opts);
              m = await measure(tools, server, enc, tsPath, opts);
              if (other) console.log(`  (alongside: ${opts.alongside!.title} ${describe(await other)})`);
              players.splice(players.indexOf(player), 1);
              const said = await player.stop();
              if (/error/i.test(said)) console.log(`  player: ${said.split('\n').pop()}`);
              const present = /present p50 ([\d.]+) ms/.exec(said);
              if (present) m.playerPresentMs = Number(present[1]);
            }
            cells.push({ content, rate, encoding: enc.key, target, m });
            console.log(`  ${content} ${rate} fps ${enc.title.padEnd(20)} ${target.padEnd(4)} ${describe(m)}`);
          }
        }
      }
      rmSync(framesPath, { force: true });
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cleanUp();
  }
  console.log('');
  console.log(formatTables(cells, opts.encodings, opts.contents, opts.rates));
  const out = join(tmpdir(), 'vgpu-vnc-bench-xvnc.json');
  writeFileSync(out, JSON.stringify({ when: new Date().toISOString(), seconds: opts.seconds, cells }, null, 1));
  console.log(`\nraw results: ${out}`);
  if (opts.profileDir) console.log(`our server's CPU profile: ${opts.profileDir}`);
  console.log(`total time: ${((Date.now() - started) / 1000).toFixed(0)} s; ${load()}`);
}

// Other work on this 2-core machine skews every number: say how busy it was.
const load = () => `load average ${loadavg().map((l) => l.toFixed(1)).join(' ')}`;

function describe(m: Measurement): string {
  if (m.error) return `error: ${m.error}`;
  if (m.unsupported) return `n/a (${m.unsupported})`;
  return `${m.fps.toFixed(1)} fps, p50 ${m.p50Ms.toFixed(0)} ms, p95 ${m.p95Ms.toFixed(0)} ms, ` +
    `${(m.bytes / Math.max(1, m.frames) / 1024).toFixed(1)} KiB/frame, CPU ${m.cpuPercent.toFixed(0)} %, ` +
    `${m.updates} updates, rects ${JSON.stringify(m.rects)}${m.badStamps ? `, ${m.badStamps} unreadable stamps` : ''}` +
    (m.playerPresentMs !== undefined ? `; the player took ${m.playerPresentMs} ms (p50) to present a frame` : '');
}
