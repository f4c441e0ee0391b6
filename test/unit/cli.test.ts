import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseListen, isLoopback } from '../../src/cli.js';

const bin = join(import.meta.dirname, '../../bin/vgpu-vnc');

function run(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 20_000, env: { ...process.env, ...env } });
  return { code: r.status, stderr: r.stderr, stdout: r.stdout };
}

describe('parseListen', () => {
  it('accepts host:port, [v6]:port and :port', () => {
    expect(parseListen('127.0.0.1:5901')).toEqual({ host: '127.0.0.1', port: 5901 });
    expect(parseListen('[::1]:5900')).toEqual({ host: '::1', port: 5900 });
    expect(parseListen(':5900')).toEqual({ host: '0.0.0.0', port: 5900 });
  });
  it.each(['5900', 'localhost', 'host:0', 'host:65536', 'host:-1', '[nothex]:5900', 'a:b:5900'])('rejects %s', (v) => {
    expect(() => parseListen(v)).toThrow(/--listen/);
  });
  it('knows loopback addresses', () => {
    expect(isLoopback('127.0.0.1')).toBe(true);
    expect(isLoopback('::1')).toBe(true);
    expect(isLoopback('0.0.0.0')).toBe(false);
    expect(isLoopback('192.168.1.2')).toBe(false);
  });
});

describe('command-line errors are one line, exit 2, no stack trace', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vgpu-cli-'));
  const empty = join(dir, 'empty');
  writeFileSync(empty, '');
  const junk = join(dir, 'junk.pem');
  writeFileSync(junk, 'not a certificate\n');
  const plaintextUsers = join(dir, 'users');
  writeFileSync(plaintextUsers, 'alice:wonderland\n');
  const cases: [string, string[], RegExp][] = [
    ['nothing to show', [], /give --device PATH or --demo/],
    ['both sources', ['--demo', '--device', '/tmp/x'], /exclude each other/],
    ['the VFIO container is not a device', ['--device', '/dev/vfio/vfio'], /is the VFIO container/],
    ['a VFIO path that is neither group nor cdev', ['--device', '/dev/vfio/abc'], /expected \/dev\/vfio\/N/],
    ['device fd below 3', ['--device-fd', '1'], /--device-fd: expected a whole number/],
    ['device fd not a number', ['--device-fd', 'x'], /--device-fd/],
    ['negative vmm pid', ['--vmm-pid', '-5'], /--vmm-pid: expected a whole number/],
    ['two device options', ['--device', '/dev/vfio/3', '--vmm-pid', '42'], /--device and --vmm-pid exclude each other/],
    ['resolution not WxH', ['--device', '/dev/vfio/3', '--resolution', 'big'], /--resolution: expected WIDTHxHEIGHT/],
    ['resolution too large for an EDID', ['--device', '/dev/vfio/3', '--resolution', '9000x9000'], /--resolution 9000x9000/],
    ['resolution without a VFIO device', ['--demo', '--resolution', '1280x720'], /needs a VFIO device/],
    ['device name with a file', ['--device', '/etc/hostname', '--device-name', 'x'], /--device-name goes with/],
    ['probe of a file', ['probe', '--device', '/etc/hostname'], /probe: give a VFIO device/],
    ['snapshot of the demo', ['snapshot', '--demo', '-o', '/tmp/x.png'], /Unknown argument|nothing to show/],
    ['bad listen', ['--demo', '--listen', 'nonsense'], /--listen/],
    ['bad fps', ['--demo', '--max-fps', '0'], /--max-fps/],
    ['fps not a number', ['--demo', '--max-fps', 'fast'], /--max-fps/],
    ['unknown option', ['--demo', '--frobnicate'], /Unknown argument/i],
    ['missing password file', ['--demo', '--password-file', join(dir, 'nope')], /cannot read/],
    ['empty password file', ['--demo', '--password-file', empty], /is empty/],
    ['no password off loopback', ['--demo', '--listen', '0.0.0.0:5999'], /refusing to serve without a password/],
    ['snapshot without output', ['snapshot', '--device', '/tmp/x'], /Missing required argument/i],
    ['device that does not exist', ['--device', join(dir, 'missing')], /no such file/],
    ['device is a folder', ['--device', dir], /not a framebuffer file/],
    ['bad --web address', ['--demo', '--web', 'nowhere'], /^vgpu-vnc: --web: expected HOST:PORT/],
    ['--web port out of range', ['--demo', '--web', '127.0.0.1:70000'], /--web: port 70000/],
    ['--tls-cert without --tls-key', ['--demo', '--tls-cert', junk], /--tls-cert and --tls-key go together/],
    ['--tls-cert that cannot be read', ['--demo', '--tls-cert', join(dir, 'nope'), '--tls-key', junk], /--tls-cert: cannot read/],
    ['--tls-cert that is not PEM', ['--demo', '--tls-cert', junk, '--tls-key', junk], /--tls-cert\/--tls-key: certificate or key not usable/],
    ['--max-connections 0', ['--demo', '--max-connections', '0'], /--max-connections: expected a whole number 1-1000/],
    ['--max-connections not a number', ['--demo', '--max-connections', 'many'], /--max-connections/],
    ['--max-connections fraction', ['--demo', '--max-connections', '2.5'], /--max-connections/],
    ['--plain-users missing', ['--demo', '--plain-users', join(dir, 'nope')], /--plain-users: cannot read/],
    ['--plain-users with a plaintext password', ['--demo', '--plain-users', plaintextUsers], /--plain-users: .*line 1: not a scrypt hash/],
    ['no password on a public --web address', ['--demo', '--web', '0.0.0.0:6999'], /refusing to serve without a password on 0.0.0.0/],
    ['passwd with an empty password', ['passwd', join(dir, 'new-users'), 'alice'], /passwd: empty password/],
    ['passwd with a bad user name', ['passwd', join(dir, 'new-users'), 'a:b'], /passwd: user name 'a:b'/],
  ];
  it.each(cases)('%s', (_name, args, message) => {
    const r = run(args, { VGPU_VNC_PASSWORD: '', VGPU_VNC_NEW_PASSWORD: args[0] === 'passwd' && args[2] === 'a:b' ? 'x' : '' });
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('device errors at run time are one line, exit 1, no stack trace', () => {
  it.each([
    ['a VFIO group that does not exist', ['probe', '--device', '/dev/vfio/987654']],
    ['a socket nobody listens on', ['probe', '--device-socket', '/nonexistent/vgpu.sock']],
    ['a VMM pid that does not exist', ['probe', '--vmm-pid', '4194303']],
  ])('%s', (_name, args) => {
    const r = run(args);
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^vgpu-vnc: /);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
