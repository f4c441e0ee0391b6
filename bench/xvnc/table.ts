// The benchmark's result table: one block per encoding, rows content × rate, and for each
// metric our value, Xvnc's and the ratio us/Xvnc.

/** One vncmeasure result (its JSON line), or why there is none. */
export interface Measurement {
  seconds: number;
  frames: number;
  updates: number;
  badStamps: number;
  fps: number;
  p50Ms: number;
  p95Ms: number;
  bytes: number;
  cpuPercent: number;
  rects: Record<string, number>;
  error?: string;
  unsupported?: string;
  /** vgpu-vnc only: the draft-protocol player's time to answer a request (p50), part of the latency. */
  playerPresentMs?: number;
}

export interface Cell {
  content: string;
  rate: number;
  encoding: string;
  target: 'us' | 'xvnc';
  m: Measurement;
}

interface Metric {
  title: string;
  value: (m: Measurement) => number | undefined;
  digits: number;
}

const METRICS: Metric[] = [
  { title: 'frames/s', value: (m) => m.fps, digits: 1 },
  { title: 'p50 ms', value: (m) => (m.p50Ms >= 0 ? m.p50Ms : undefined), digits: 0 },
  { title: 'p95 ms', value: (m) => (m.p95Ms >= 0 ? m.p95Ms : undefined), digits: 0 },
  { title: 'KiB/frame', value: (m) => (m.frames > 0 ? m.bytes / m.frames / 1024 : undefined), digits: 1 },
  { title: 'CPU %', value: (m) => (m.cpuPercent >= 0 ? m.cpuPercent : undefined), digits: 0 },
];

const W = 7;

function num(v: number | undefined, digits: number): string {
  return v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(digits);
}

function side(m: Measurement | undefined, metric: Metric): string {
  if (!m) return '';
  if (m.error) return 'err';
  if (m.unsupported) return 'n/a';
  return num(metric.value(m), metric.digits);
}

function ratio(us: Measurement | undefined, xv: Measurement | undefined, metric: Metric): string {
  if (!us || !xv || us.error || us.unsupported || xv.error || xv.unsupported) return '-';
  const a = metric.value(us), b = metric.value(xv);
  if (a === undefined || b === undefined || b === 0) return '-';
  return (a / b).toFixed(2);
}

export function formatTables(
  cells: Cell[],
  encodings: { key: string; title: string }[],
  contents: readonly string[],
  rates: readonly number[],
): string {
  const lines: string[] = [];
  const find = (content: string, rate: number, enc: string, target: string) =>
    cells.find((c) => c.content === content && c.rate === rate && c.encoding === enc && c.target === target)?.m;
  const group = 3 * W + 2;
  for (const enc of encodings) {
    lines.push(`-- ${enc.title} (us = vgpu-vnc, X = Xvnc, us/X = ratio; "n/a" = encoding not in our server yet)`);
    lines.push(''.padEnd(12) + METRICS.map((m) => `| ${m.title}`.padEnd(group)).join(''));
    lines.push('content fps '.padEnd(12) + METRICS.map(() => '| ' + ['us', 'X', 'us/X'].map((h) => h.padStart(W)).join('')).join(''));
    for (const content of contents) {
      for (const rate of rates) {
        const us = find(content, rate, enc.key, 'us');
        const xv = find(content, rate, enc.key, 'xvnc');
        if (!us && !xv) continue;
        const row = METRICS.map((metric) => '| ' + [side(us, metric), side(xv, metric), ratio(us, xv, metric)].map((s) => s.padStart(W)).join(''));
        lines.push(`${content} ${rate}`.padEnd(12) + row.join(''));
      }
    }
    const errors = cells.filter((c) => c.encoding === enc.key && c.m.error);
    for (const c of errors) lines.push(`   err ${c.content} ${c.rate} ${c.target}: ${c.m.error}`);
    lines.push('');
  }
  return lines.join('\n');
}
