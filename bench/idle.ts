// What a static screen costs: server CPU (user + system, from /proc) over a quiet period
// with one watching client, and with none. Target: ≤ 1 % of a core with one client.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FbRegionProducer } from '../src/source/fbregion-producer.js';
import { Fourcc } from '../src/surface/fourcc.js';
import { watch } from './lib/rfb-client.js';

const SECONDS = 10;
const CLOCK_TICKS = 100; // sysconf(_SC_CLK_TCK) on Linux

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS; // utime, stime
}

/** CPU seconds of the main (JS) thread and of all other threads (libuv pool, V8 platform workers). */
function cpuByThread(pid: number): { main: number; others: number } {
  let main = 0, others = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const fields = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      const seconds = (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
      if (Number(tid) === pid) main += seconds;
      else others += seconds;
    } catch {
      // the thread ended between readdir and read
    }
  }
  return { main, others };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function run(): Promise<void> {
  const [width, height] = [1920, 1080];
  const dir = mkdtempSync(join(tmpdir(), 'vgpu-bench-idle-'));
  const path = join(dir, 'fb');
  const producer = new FbRegionProducer(path);
  const geometry = { fourcc: Fourcc.XRGB8888, width, height, stride: width * 4, offset: 0 };
  const pixels = Buffer.alloc(width * height * 4);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 2654435761) >>> 24;
  producer.ensureFits(geometry);
  producer.present(pixels, geometry);
  producer.serve(() => null); // static: acknowledge every request, change nothing
  const port = 5900 + 400 + Math.floor(Math.random() * 400);
  const bin = join(import.meta.dirname, '../../bin/vgpu-vnc');
  const server = spawn(process.execPath, [bin, '--device', path, '--listen', `127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  server.stderr.on('data', (d) => (log += d));
  try {
    while (!/serving/.test(log)) {
      if (server.exitCode !== null) throw new Error(`server exited: ${log}`);
      await sleep(50);
    }
    await sleep(1000);
    const pid = server.pid!;
    const c0 = cpuSeconds(pid);
    await sleep(SECONDS * 1000);
    const noClient = (cpuSeconds(pid) - c0) / SECONDS;

    const client = await watch(port);
    await sleep(2000); // first full frame and warm-up
    const c1 = cpuSeconds(pid);
    const t1 = cpuByThread(pid);
    const u1 = client.updates;
    await sleep(SECONDS * 1000);
    const oneClient = (cpuSeconds(pid) - c1) / SECONDS;
    const t2 = cpuByThread(pid);
    const updates = client.updates - u1;
    client.close();

    console.log(`static 1920x1080 XRGB8888 screen, ${SECONDS} s each (CPU time / wall time of the server process):`);
    console.log(`  no client:  ${(noClient * 100).toFixed(2)} % of a core`);
    console.log(`  one client: ${(oneClient * 100).toFixed(2)} % of a core (target <= 1 %), ${updates} updates sent`);
    const pct = (a: number, b: number) => `${(((b - a) / SECONDS) * 100).toFixed(2)} %`;
    console.log(`    main thread ${pct(t1.main, t2.main)}, other threads ${pct(t1.others, t2.others)} (pool workers, V8 platform)`);
  } finally {
    server.kill('SIGTERM');
    producer.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
