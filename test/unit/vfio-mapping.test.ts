// Mapping additions used by the vfio layer: write() of a byte range (guarded, bounds-checked) and
// the writable flag (device and dma-buf mappings may be read-only; checked in the kernel test).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { native } from '../../src/native.js';

const dir = mkdtempSync(join(tmpdir(), 'vgpu-vfio-mapping-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('Mapping.write', () => {
  it('copies bytes into the file at the offset; refuses ranges past the end and closed mappings', () => {
    const path = join(dir, 'w.bin');
    writeFileSync(path, Buffer.alloc(64));
    const m = new native.Mapping(path);
    expect(m.writable).toBe(true);
    m.write(60, Buffer.from([1, 2, 3, 4]));
    m.write(0, new Uint8Array([9]));
    const bytes = readFileSync(path);
    expect([...bytes.subarray(60)]).toEqual([1, 2, 3, 4]);
    expect(bytes[0]).toBe(9);
    expect(() => m.write(61, Buffer.alloc(4))).toThrow(expect.objectContaining({ code: 'ERANGE', message: 'range 61 + 4 exceeds mapping size 64' }));
    expect(() => m.write(0, 'abc' as unknown as Uint8Array)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    m.close();
    expect(() => m.write(0, Buffer.alloc(1))).toThrow(expect.objectContaining({ code: 'EBADF' }));
  });
});
