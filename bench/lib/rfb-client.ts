// A minimal RFB 3.8 client for benchmarks: security None, Raw only, and a steady stream of
// incremental update requests (what a viewer does while it watches a screen).
import net from 'node:net';

export interface WatchingClient {
  /** FramebufferUpdate messages received so far. */
  readonly updates: number;
  close(): void;
}

export function watch(port: number): Promise<WatchingClient> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    let stage: 'version' | 'types' | 'result' | 'init' | 'updates' = 'version';
    let width = 0, height = 0, updates = 0;
    const client = { get updates() { return updates; }, close: () => socket.destroy() };
    const request = (incremental: number) => {
      const b = Buffer.alloc(10);
      b[0] = 3;
      b[1] = incremental;
      b.writeUInt16BE(width, 6);
      b.writeUInt16BE(height, 8);
      socket.write(b);
    };
    socket.on('error', reject);
    socket.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        if (stage === 'version' && buf.length >= 12) {
          socket.write('RFB 003.008\n');
          buf = buf.subarray(12);
          stage = 'types';
        } else if (stage === 'types' && buf.length >= 1 + (buf[0] ?? 0)) {
          socket.write(Buffer.from([1]));
          buf = buf.subarray(1 + buf[0]!);
          stage = 'result';
        } else if (stage === 'result' && buf.length >= 4) {
          socket.write(Buffer.from([1])); // ClientInit: shared
          buf = buf.subarray(4);
          stage = 'init';
        } else if (stage === 'init' && buf.length >= 24 && buf.length >= 24 + buf.readUInt32BE(20)) {
          width = buf.readUInt16BE(0);
          height = buf.readUInt16BE(2);
          buf = buf.subarray(24 + buf.readUInt32BE(20));
          stage = 'updates';
          request(0);
          resolve(client);
        } else if (stage === 'updates' && buf.length >= 4) {
          // Raw rects only (we never announce anything else): header + w*h*4 bytes each.
          const n = buf.readUInt16BE(2);
          let off = 4;
          for (let i = 0; i < n; i++) {
            if (buf.length < off + 12) return;
            const w = buf.readUInt16BE(off + 4), h = buf.readUInt16BE(off + 6);
            off += 12 + w * h * 4;
          }
          if (buf.length < off) return;
          buf = buf.subarray(off);
          updates++;
          request(1);
        } else return;
      }
    });
  });
}
