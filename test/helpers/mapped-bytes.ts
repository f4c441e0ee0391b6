// Native mappings of test bytes: each call writes the bytes to a new file in one temporary
// directory (removed when the test file ends) and maps it.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { native, type NativeMapping } from '../../src/native.js';

export function mappedBytesFactory(prefix: string): (bytes: Uint8Array) => NativeMapping {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let count = 0;
  return (bytes) => {
    const path = join(dir, `plane-${count++}.bin`);
    writeFileSync(path, bytes);
    return new native.Mapping(path);
  };
}
