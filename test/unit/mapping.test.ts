// Mapping: a shared mmap of a real file; guarded, bounds-checked access.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { native } from '../../src/native.js';

const dir = mkdtempSync(join(tmpdir(), 'vgpu-mapping-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, bytes: Uint8Array): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

describe('Mapping', () => {
  it('maps the whole file: reads see file bytes, writes reach the file', () => {
    const bytes = Buffer.alloc(4096 + 10);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7) & 0xff;
    const path = file('rw.bin', bytes);
    const m = new native.Mapping(path);
    expect(m.size).toBe(bytes.length);
    expect(m.readU32(0)).toBe(bytes.readUInt32LE(0));
    expect(m.readU32(4101)).toBe(bytes.readUInt32LE(4101)); // unaligned, crosses nothing, ends at the last byte
    expect(m.read(4090, 16).equals(bytes.subarray(4090, 4106))).toBe(true);
    m.writeU32(4097, 0xfeedf00d);
    expect(readFileSync(path).readUInt32LE(4097)).toBe(0xfeedf00d);
    expect(m.readU32(4097)).toBe(0xfeedf00d);
    // A write through the file is visible through the mapping (MAP_SHARED).
    writeFileSync(path, Buffer.from([1, 2, 3, 4]), { flag: 'r+' });
    expect(m.readU32(0)).toBe(0x04030201);
    m.close();
  });

  it('read() returns a copy that outlives the mapping', () => {
    const m = new native.Mapping(file('copy.bin', Buffer.from('abcdefgh')));
    const copy = m.read(2, 4);
    m.close();
    expect(copy.toString()).toBe('cdef');
  });

  it('rejects out-of-range and malformed offsets with a RangeError (code ERANGE)', () => {
    const m = new native.Mapping(file('bounds.bin', new Uint8Array(16)));
    const bad: [() => unknown, RegExp][] = [
      [() => m.readU32(13), /exceeds mapping size 16/],
      [() => m.readU32(-1), /offset must be a non-negative integer/],
      [() => m.readU32(1.5), /offset/],
      [() => m.readU32(2 ** 52), /exceeds mapping size/],
      [() => m.readU32(2 ** 60), /offset must be/],
      [() => m.writeU32(16, 1), /exceeds mapping size/],
      [() => m.writeU32(0, 2 ** 32), /value must be an integer/],
      [() => m.writeU32(0, -1), /value must be an integer/],
      [() => m.read(10, 7), /exceeds mapping size/],
      [() => m.read(0, -1), /length must be/],
    ];
    for (const [call, message] of bad) {
      expect(call).toThrow(message);
      try {
        call();
      } catch (e) {
        expect(e).toBeInstanceOf(RangeError);
        expect((e as NodeJS.ErrnoException).code).toBe('ERANGE');
      }
    }
    expect(m.read(16, 0).length).toBe(0);
    m.close();
  });

  it('refuses empty files, directories and missing paths with clear errors', () => {
    expect(() => new native.Mapping(file('empty.bin', new Uint8Array(0)))).toThrow(
      expect.objectContaining({ code: 'EINVAL', message: expect.stringMatching(/empty/) }),
    );
    const sub = join(dir, 'a-directory');
    mkdirSync(sub);
    // open(O_RDWR) on a directory fails before fstat: EISDIR.
    expect(() => new native.Mapping(sub)).toThrow(expect.objectContaining({ code: 'EISDIR' }));
    expect(() => new native.Mapping(join(dir, 'missing'))).toThrow(
      expect.objectContaining({ code: 'ENOENT', message: expect.stringContaining('missing') }),
    );
    expect(() => new (native.Mapping as unknown as new (p: unknown) => unknown)(42)).toThrow(/path must be a string/);
  });

  it('close() is idempotent; use after close fails with EBADF', () => {
    const m = new native.Mapping(file('close.bin', new Uint8Array(8)));
    m.close();
    m.close();
    expect(() => m.readU32(0)).toThrow(expect.objectContaining({ code: 'EBADF' }));
    expect(() => m.writeU32(0, 1)).toThrow(expect.objectContaining({ code: 'EBADF' }));
    expect(() => m.read(0, 1)).toThrow(expect.objectContaining({ code: 'EBADF' }));
  });

  it('a truncated file turns reads and writes into SIGBUS errors, not a crash', () => {
    const path = file('shrink.bin', new Uint8Array(3 * 4096).fill(9));
    const m = new native.Mapping(path);
    expect(m.readU32(8192)).toBe(0x09090909);
    truncateSync(path, 4096);
    expect(m.readU32(0)).toBe(0x09090909); // the first page is still backed
    for (let i = 0; i < 3; i++) {
      // Repeated faults: the handler must leave SIGBUS unblocked each time.
      expect(() => m.readU32(8192)).toThrow(expect.objectContaining({ code: 'SIGBUS' }));
      expect(() => m.read(4000, 200)).toThrow(expect.objectContaining({ code: 'SIGBUS' }));
      expect(() => m.writeU32(8192, 1)).toThrow(expect.objectContaining({ code: 'SIGBUS' }));
    }
    truncateSync(path, 0);
    expect(() => m.readU32(0)).toThrow(expect.objectContaining({ code: 'SIGBUS' }));
    m.close();
  });

  it('memcpyBench copies the requested bytes and checks its ranges', () => {
    const bytes = Buffer.from('0123456789abcdef');
    const m = new native.Mapping(file('bench.bin', bytes));
    const dst = Buffer.alloc(8);
    native.memcpyBench(dst, m, 4, 8);
    expect(dst.toString()).toBe('456789ab');
    expect(() => native.memcpyBench(dst, m, 10, 8)).toThrow(RangeError);
    expect(() => native.memcpyBench(Buffer.alloc(2), m, 0, 8)).toThrow(RangeError);
    m.close();
  });
});
