// What the kernel test guest runs from the host's tree, brought up to date before a guest boots:
// the static painter (the guest has no compiler) and dist/ (it has no TypeScript).
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const repo = join(import.meta.dirname, '../..');
const painterSource = join(repo, 'test/kernel/guest/painter.c');
const painter = join(repo, 'node_modules/.cache/vgpu-vnc-test/painter');

const newer = (a: string, b: string): boolean => !existsSync(b) || statSync(a).mtimeMs > statSync(b).mtimeMs;

function* tsFiles(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) yield* tsFiles(join(dir, e.name));
    else if (e.name.endsWith('.ts')) yield join(dir, e.name);
  }
}

/** Rebuilds the painter when painter.c is newer, and dist/ when any src/ file is newer than its output. */
export function buildForGuest(): void {
  if (newer(painterSource, painter)) {
    execFileSync('gcc', ['-static', '-O2', '-Wall', '-o', painter, painterSource], { stdio: 'inherit' });
  }
  const stale = [...tsFiles(join(repo, 'src'))].some((f) => newer(f, join(repo, 'dist', f.slice(repo.length + 1).replace(/\.ts$/, '.js'))));
  if (stale) execFileSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: repo, stdio: 'inherit' });
}
