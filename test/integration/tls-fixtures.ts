// Test fixtures for TLS and Plain logins, made at test time: never checked in.
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { BIN } from '../helpers/server.js';

/** A self-signed certificate for 127.0.0.1/localhost, made now (never checked in). */
export function makeCertificate(dir: string): { cert: string; key: string } {
  const cert = join(dir, 'cert.pem'), key = join(dir, 'key.pem');
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ], { stdio: 'ignore' });
  return { cert, key };
}

/** A --plain-users file made with `vgpu-vnc passwd` (the password through the environment). */
export function makeUsersFile(dir: string, users: Record<string, string>): string {
  const file = join(dir, 'users');
  for (const [user, password] of Object.entries(users)) {
    const r = spawnSync(process.execPath, [BIN, 'passwd', file, user], { env: { ...process.env, VGPU_VNC_NEW_PASSWORD: password }, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`vgpu-vnc passwd failed: ${r.stderr}`);
  }
  return file;
}
