#!/usr/bin/env node
// Host side of the kernel test guest: boots Debian's 6.1 kernel in QEMU (TCG)
// with the VFIO display samples, runs one guest script, returns its exit code.
//
// CLI:  node test/kernel/run.mjs --script test/kernel/guest/smoke.sh
//         [--modules mdpy,mbochs,mbochs_rw] [--mdev mdpy-xga,...]
//         [--forward 127.0.0.1:15900:5900]... [--env NAME=VALUE]...
//         [--timeout 240] [--repo DIR] [--work DIR] [--quiet]
// API:  startGuest(options) -> Guest (waitFor a console line, stop, exited);
//       runGuest(options) -> result; prepareGuest(); freePort().
// See test/kernel/README.md.
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const defaultRepo = resolve(here, '../..');
export const DEFAULT_MODULES = ['mdpy', 'mbochs', 'mbochs_rw'];
const SAMPLE_MODULES = new Set(DEFAULT_MODULES);

/** Times (seconds since QEMU started) of the guest's milestones. */
const MILESTONES = [
  ['init', /^vgpu-init: \/init reached/],
  ['ready', /^vgpu-init: ready at/],
  ['scriptDone', /^vgpu-init: script took/],
];

/**
 * A kernel complaint on the console (raw, or listed from dmesg by init.sh's halt as
 * "vgpu-init: kernel: …"): memory-state BUGs, WARNINGs, oopses. Not soft lockups or RCU stalls,
 * which a busy host causes under TCG.
 */
const KERNEL_COMPLAINT = /^(?:vgpu-init: kernel: )?(\[\s*\d+\.\d+\] (?:BUG:|WARNING:|Oops|kernel BUG|Bad page|general protection|page dumped because).*)$/;
const TCG_STARVED = /soft lockup|rcu.*stall/;

let prepared = null;

// Guests still running when this process exits are killed with it.
const running = new Set();
process.on('exit', () => {
  for (const q of running) q.kill('SIGKILL');
});

/**
 * Runs test/kernel/prepare.sh once per process (idempotent, a few seconds
 * when everything is cached) and returns { kver, kernel, initrd }.
 */
export function prepareGuest({ repo = defaultRepo, quiet = false } = {}) {
  if (prepared) return prepared;
  const t0 = Date.now();
  const r = spawnSync('bash', [join(repo, 'test/kernel/prepare.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', quiet ? 'pipe' : 'inherit'],
  });
  if (r.status !== 0) {
    const why = quiet && r.stderr ? `\n${r.stderr.trim()}` : '';
    throw new Error(`test/kernel/prepare.sh failed (exit ${r.status ?? r.signal})${why}`);
  }
  const line = r.stdout.trim().split('\n').pop();
  prepared = { ...JSON.parse(line), prepareSeconds: (Date.now() - t0) / 1000 };
  return prepared;
}

/** A free TCP port on 127.0.0.1 for a hostfwd (closed again before QEMU binds it). */
export function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.on('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

/** "[addr:]hostPort:guestPort" or { host, port, guest } -> QEMU hostfwd rule. */
function hostfwd(f) {
  let host = '127.0.0.1';
  let port;
  let guest;
  if (typeof f === 'string') {
    const parts = f.split(':');
    if (parts.length === 3) [host, port, guest] = parts;
    else if (parts.length === 2) [port, guest] = parts;
    else throw new Error(`--forward wants [ADDR:]HOSTPORT:GUESTPORT, got "${f}"`);
  } else {
    ({ host = '127.0.0.1', port, guest } = f);
  }
  port = Number(port);
  guest = Number(guest);
  for (const p of [port, guest]) {
    if (!Number.isInteger(p) || p < 1 || p > 65535) throw new Error(`bad port in forward ${JSON.stringify(f)}`);
  }
  if (!/^127\./.test(host)) throw new Error(`forwards stay on loopback, not ${host}`);
  return `hostfwd=tcp:${host}:${port}-:${guest}`;
}

/** A host path of a guest script -> its path inside the guest (/project/...). */
function guestPath(script, repo) {
  if (script.startsWith('/project/')) return script;
  const abs = resolve(script);
  const rel = relative(repo, abs);
  if (rel.startsWith('..') || isAbsolute(rel)) throw new Error(`script ${script} is not inside the repo ${repo}`);
  if (!existsSync(abs)) throw new Error(`no such script: ${script}`);
  return `/project/${rel}`;
}

/** A value inside a QEMU -opt list: commas are doubled. */
function qemuValue(v) {
  return String(v).replace(/,/g, ',,');
}

function shellQuote(v) {
  return `'${String(v).replace(/'/g, `'\\''`)}'`;
}

/**
 * Boots a guest in the background.
 * options: script (required; repo path or /project/... path), modules
 * (default all three samples), mdev (types to create before the script),
 * forwards ([ "127.0.0.1:PORT:5900" | {port, guest} ]), env ({ NAME: value },
 * exported to the script), timeoutMs (default 240 s; the guest is killed
 * then), repo, workDir (default <repo>/build/kernel), memory ("2G"),
 * echo (true: print timestamped console lines to stderr; or a function(line)),
 * qemuArgs (extra QEMU arguments, e.g. ['-qmp', 'unix:PATH,server=on,wait=off']).
 * Returns a Guest: { lines, consoleLog, resultsDir, waitFor(re, ms), stop(), exited }.
 * exited resolves to { code, timedOut, seconds, phases, signal, kernelComplaints }: code is
 * the guest script's exit code, or null when the guest never wrote one; kernelComplaints the
 * guest kernel's BUG/WARNING/Oops lines, each once (see KERNEL_COMPLAINT).
 */
export function startGuest(options) {
  const {
    script,
    modules = DEFAULT_MODULES,
    mdev = [],
    forwards = [],
    env = {},
    timeoutMs = 240_000,
    repo = defaultRepo,
    memory = '2G',
    echo = false,
    qemuArgs = [],
  } = options;
  if (!script) throw new Error('startGuest: script is required');
  for (const m of modules) {
    if (!SAMPLE_MODULES.has(m)) throw new Error(`unknown module "${m}" (have: ${DEFAULT_MODULES.join(', ')})`);
  }
  for (const t of mdev) {
    if (!/^[a-z_]+-[a-z]+$/.test(t)) throw new Error(`bad mdev type "${t}" (like mdpy-xga, mbochs_rw-medium)`);
  }
  for (const k of Object.keys(env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw new Error(`bad env name "${k}"`);
  }
  const scriptInGuest = guestPath(script, repo);
  const rules = forwards.map(hostfwd);
  const guest = prepareGuest({ repo });
  // VGPU_KERNEL_WORK: keep run folders out of build/, which `node-gyp rebuild` deletes.
  const workDir = resolve(options.workDir ?? process.env.VGPU_KERNEL_WORK ?? join(repo, 'build/kernel'));
  const id = `${new Date().toISOString().replace(/[:.]/g, '-')}-${process.pid}-${Math.random().toString(36).slice(2, 6)}`;
  const runDir = join(workDir, 'runs', id);
  const resultsDir = join(runDir, 'results');
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(
    join(resultsDir, 'env.sh'),
    Object.entries(env).map(([k, v]) => `export ${k}=${shellQuote(v)}\n`).join(''),
  );
  const consoleLog = join(runDir, 'console.log');
  const logStream = createWriteStream(consoleLog);

  const append = [
    'console=ttyS0', 'quiet', 'panic=-1',
    `vgpu.script=${scriptInGuest}`,
    `vgpu.modules=${modules.join(',')}`,
    // The guest powers itself off a little after the host would kill it, in
    // case the host side dies without stopping it.
    `vgpu.timeout=${Math.ceil(timeoutMs / 1000) + 10}`,
  ];
  if (mdev.length) append.push(`vgpu.mdev=${mdev.join(',')}`);
  // restrict=on: the guest reaches nothing outside; host forwards still work.
  const netdev = ['user', 'id=n0', 'restrict=on', ...rules].join(',');
  const args = [
    '-accel', 'tcg', '-cpu', 'max', '-m', memory, '-smp', '2',
    '-display', 'none', '-monitor', 'none', '-serial', 'stdio', '-no-reboot',
    '-kernel', guest.kernel, '-initrd', qemuValue(guest.initrd), '-append', append.join(' '),
    '-fsdev', `local,id=project,path=${qemuValue(repo)},security_model=none,readonly=on`,
    '-device', 'virtio-9p-pci,fsdev=project,mount_tag=project',
    '-fsdev', `local,id=results,path=${qemuValue(resultsDir)},security_model=none`,
    '-device', 'virtio-9p-pci,fsdev=results,mount_tag=results',
    '-netdev', netdev,
    // romfile=: no iPXE option ROM (not installed, not needed with -kernel).
    '-device', 'e1000,netdev=n0,romfile=',
    // Extra devices and options, e.g. a QMP socket and virtio input devices.
    ...qemuArgs,
  ];
  const t0 = Date.now();
  const since = () => (Date.now() - t0) / 1000;
  // nice: others compile on this 2-core machine.
  const qemu = spawn('nice', ['-n', '5', 'qemu-system-x86_64', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(qemu);
  const lines = [];
  const kernelComplaints = [];
  const phases = { prepare: guest.prepareSeconds ?? 0 };
  const waiters = new Set();
  const print = typeof echo === 'function' ? echo : echo ? (l) => process.stderr.write(`${l}\n`) : null;

  const onLine = (raw, source) => {
    const text = raw.replace(/\r$/, '');
    const stamped = `[${since().toFixed(1).padStart(6)}s]${source === 'qemu' ? ' qemu:' : ''} ${text}`;
    logStream.write(`${stamped}\n`);
    if (print) print(stamped);
    if (source !== 'console') return;
    lines.push(text);
    const complaint = KERNEL_COMPLAINT.exec(text)?.[1];
    if (complaint && !TCG_STARVED.test(complaint) && !kernelComplaints.includes(complaint)) kernelComplaints.push(complaint);
    for (const [name, re] of MILESTONES) if (phases[name] === undefined && re.test(text)) phases[name] = since();
    for (const w of waiters) {
      if (w.re.test(text)) {
        waiters.delete(w);
        w.ok(text);
      }
    }
  };
  const splitter = (source) => {
    let buf = '';
    return {
      data(chunk) {
        buf += chunk.toString('utf8');
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          onLine(buf.slice(0, i), source);
          buf = buf.slice(i + 1);
        }
      },
      end() {
        if (buf) onLine(buf, source);
        buf = '';
      },
    };
  };
  const out = splitter('console');
  const err = splitter('qemu');
  qemu.stdout.on('data', out.data);
  qemu.stderr.on('data', err.data);

  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    onLine(`run.mjs: timeout after ${timeoutMs / 1000} s, killing the guest`, 'qemu');
    qemu.kill('SIGKILL');
  }, timeoutMs);

  const exited = new Promise((ok) => {
    let spawnError = null;
    qemu.on('error', (e) => {
      spawnError = e;
    });
    qemu.on('close', (status, signal) => {
      running.delete(qemu);
      clearTimeout(timer);
      out.end();
      err.end();
      let code = null;
      try {
        const s = readFileSync(join(resultsDir, 'exit-code'), 'utf8').trim();
        if (/^\d+$/.test(s)) code = Number(s);
      } catch {
        // no exit code: the guest died, was stopped, or timed out
      }
      phases.total = since();
      const result = { code, timedOut, signal, qemuStatus: status, seconds: since(), phases, consoleLog, resultsDir, kernelComplaints };
      if (spawnError) result.error = spawnError.message;
      for (const w of waiters) w.fail(new Error(`guest exited before a console line matched ${w.re} (see ${consoleLog})`));
      waiters.clear();
      logStream.end(() => ok(result));
    });
  });

  return {
    pid: qemu.pid,
    lines,
    consoleLog,
    resultsDir,
    exited,
    /** Resolves with the first console line (from now on, or already seen) matching re. */
    waitFor(re, ms = timeoutMs) {
      const pattern = typeof re === 'string' ? new RegExp(re.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')) : re;
      const seen = lines.find((l) => pattern.test(l));
      if (seen !== undefined) return Promise.resolve(seen);
      if (qemu.exitCode !== null || qemu.signalCode !== null) {
        return Promise.reject(new Error(`guest already exited; no console line matched ${pattern}`));
      }
      return new Promise((ok, fail) => {
        const w = { re: pattern, ok: (l) => { clearTimeout(t); ok(l); }, fail: (e) => { clearTimeout(t); fail(e); } };
        const t = setTimeout(() => {
          waiters.delete(w);
          fail(new Error(`no console line matched ${pattern} within ${ms / 1000} s (see ${consoleLog})`));
        }, ms);
        waiters.add(w);
      });
    },
    /** Stops the guest now (SIGTERM: QEMU exits at once) and resolves with the result. */
    stop() {
      if (qemu.exitCode === null && qemu.signalCode === null) qemu.kill('SIGTERM');
      return exited;
    },
  };
}

/** Boots, runs the script to the end, resolves with the result (see startGuest). */
export async function runGuest(options) {
  return startGuest(options).exited;
}

/** One line of phase times, for logs. */
export function formatPhases(p) {
  const f = (v) => (v === undefined ? '-' : `${v.toFixed(1)} s`);
  const script = p.ready !== undefined && p.scriptDone !== undefined ? p.scriptDone - p.ready : undefined;
  return `prepare ${f(p.prepare)}, boot to /init ${f(p.init)}, to script start ${f(p.ready)}, script ${f(script)}, guest total ${f(p.total)}`;
}

function parseArgs(argv) {
  const o = { forwards: [], env: {}, modules: DEFAULT_MODULES, mdev: [], echo: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--script') o.script = val();
    else if (a === '--modules') o.modules = val().split(',').filter(Boolean);
    else if (a === '--mdev') o.mdev = val().split(',').filter(Boolean);
    else if (a === '--forward') o.forwards.push(val());
    else if (a === '--env') {
      const [k, ...v] = val().split('=');
      o.env[k] = v.join('=');
    } else if (a === '--timeout') o.timeoutMs = Number(val()) * 1000;
    else if (a === '--repo') o.repo = resolve(val());
    else if (a === '--work') o.workDir = val();
    else if (a === '--quiet') o.echo = false;
    else if (a === '-h' || a === '--help') o.help = true;
    else throw new Error(`unknown argument ${a} (see --help)`);
  }
  return o;
}

async function main() {
  let o;
  try {
    o = parseArgs(process.argv.slice(2));
    if (o.help) {
      console.log(readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(4, 10).map((l) => l.slice(3)).join('\n'));
      return 0;
    }
    if (!o.script) throw new Error('--script is required (e.g. --script test/kernel/guest/smoke.sh)');
    if (o.timeoutMs !== undefined && !(o.timeoutMs > 0)) throw new Error('--timeout wants seconds > 0');
  } catch (e) {
    console.error(`run.mjs: ${e.message}`);
    return 2;
  }
  const t0 = Date.now();
  let r;
  try {
    r = await runGuest(o);
  } catch (e) {
    console.error(`run.mjs: ${e.message}`);
    return 2;
  }
  const why = r.timedOut ? ' (timed out)' : r.error ? ` (${r.error})` : r.code === null ? ' (no exit code: the guest died; see the console log)' : '';
  console.error(`run.mjs: ${formatPhases(r.phases)}; wall ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  console.error(`run.mjs: guest script exit ${r.code ?? '-'}${why}; console log ${r.consoleLog}`);
  if (r.kernelComplaints.length) console.error(`run.mjs: the guest kernel complained ${r.kernelComplaints.length} times, first: ${r.kernelComplaints[0]}`);
  return r.code ?? 1;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main();
}
