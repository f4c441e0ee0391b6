// The client side of the RFB 3.8 handshake with security None and a shared session, for unit
// tests that drive a ClientSession with their own small client. Nothing is checked on the way
// (test/unit/session.test.ts checks each step); it only brings a client to where it can ask
// for updates.

/** How the handshake reads from and writes to the client's socket. */
export interface RfbIo {
  /** Exactly n bytes. */
  read(n: number): Promise<Buffer>;
  send(bytes: number[]): void;
}

/** Runs the handshake; resolves with the framebuffer size from ServerInit (the name is read and dropped). */
export async function handshakeNone(io: RfbIo): Promise<{ width: number; height: number }> {
  await io.read(12);
  io.send([...Buffer.from('RFB 003.008\n')]);
  const n = (await io.read(1))[0]!;
  await io.read(n);
  io.send([1]); // None
  await io.read(4);
  io.send([1]); // ClientInit: shared
  const init = await io.read(24);
  await io.read(init.readUInt32BE(20));
  return { width: init.readUInt16BE(0), height: init.readUInt16BE(2) };
}
