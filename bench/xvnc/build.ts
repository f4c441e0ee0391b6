// Builds the benchmark's two C programs (the Xvnc player and the measuring client) with cc,
// into node_modules/.cache/vgpu-vnc-bench/ (not build/: node-gyp rebuild deletes that),
// only when a source is newer than the binary.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';

export interface Tools {
  player: string;
  measure: string;
}

function pkgConfig(pkg: string): string[] {
  try {
    return execFileSync('pkg-config', ['--cflags', '--libs', pkg], { encoding: 'utf8' }).trim().split(/\s+/).filter(Boolean);
  } catch {
    throw new Error(`pkg-config cannot find ${pkg}: run "bash test/setup.sh"`);
  }
}

function compile(sources: string[], out: string, flags: () => string[]): void {
  const built = existsSync(out) ? statSync(out).mtimeMs : 0;
  if (sources.every((s) => statSync(s).mtimeMs < built)) return;
  mkdirSync(join(out, '..'), { recursive: true });
  try {
    execFileSync('cc', ['-std=c11', '-O2', '-Wall', '-Wextra', '-Werror', '-o', `${out}.tmp`, sources[0]!, ...flags()], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString().trim() ?? String(err);
    throw new Error(`cc could not build ${out}: ${stderr.split('\n').slice(0, 3).join(' | ')}`);
  }
  renameSync(`${out}.tmp`, out);
}

export function buildTools(repo: string): Tools {
  const src = join(repo, 'bench/xvnc');
  const outDir = join(repo, 'node_modules/.cache/vgpu-vnc-bench');
  const header = join(src, 'frame-stamp.h');
  const player = join(outDir, 'xshm-player');
  const measure = join(outDir, 'vncmeasure');
  compile([join(src, 'xshm-player.c'), header], player, () => [...pkgConfig('x11'), ...pkgConfig('xext')]);
  const clients = join(repo, 'test/clients'); // rfb-tap.h, shared with the test clients
  compile([join(src, 'vncmeasure.c'), header, join(clients, 'rfb-tap.h')], measure, () => [
    `-I${clients}`,
    ...pkgConfig('libvncclient'),
    '-ldl',
  ]);
  return { player, measure };
}
