// `vgpu-vnc passwd FILE USER`: adds or replaces one user's line in a --plain-users file.
// The password never appears on the command line (it would show in `ps`): it comes from the
// environment or the first line of stdin. The file is written whole and kept private (0600).
import { readFile, rename, writeFile } from 'node:fs/promises';
import { hashUserLine, PlainUsers } from '../rfb/security/plain.js';

async function readStdinLine(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('password: ');
  let text = '';
  for await (const chunk of process.stdin) {
    text += String(chunk);
    if (text.includes('\n')) break;
  }
  return text.split(/\r?\n/)[0]!;
}

export async function setUserPassword(file: string, user: string, password?: string): Promise<void> {
  const pass = password ?? (await readStdinLine());
  if (pass.length === 0) throw new Error('empty password');
  let lines: string[] = [];
  try {
    lines = (await readFile(file, 'utf8')).split('\n').filter((l) => l.trim() !== '');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read '${file}': ${(err as NodeJS.ErrnoException).code}`);
  }
  const line = await hashUserLine(user, pass);
  const kept = lines.filter((l) => l.slice(0, l.indexOf(':')) !== user);
  const text = [...kept, line].join('\n') + '\n';
  PlainUsers.parse(text, file); // never write a file the server would refuse
  const tmp = `${file}.tmp-${process.pid}`;
  await writeFile(tmp, text, { mode: 0o600 });
  await rename(tmp, file);
}
