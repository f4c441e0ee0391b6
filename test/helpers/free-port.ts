// A free TCP port for a VNC server under test, shared by the test helpers and the benchmark
// (bench/xvnc). Only node:net here, so a benchmark built with tsc can import it.
import net from 'node:net';

/**
 * A TCP port that is free right now, in 6100..8899 so that it is also a VNC
 * display number (port - 5900) for clients that take one (gvnccapture).
 * Random, so parallel test files rarely collide; a server that then fails
 * to bind should be retried with another.
 */
export async function freeVncPort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = 6100 + Math.floor(Math.random() * 2800);
    const free = await new Promise<boolean>((res) => {
      const probe = net.createServer();
      probe.once('error', () => res(false));
      probe.listen({ port, host: '0.0.0.0', exclusive: true }, () => probe.close(() => res(true)));
    });
    if (free) return port;
  }
  throw new Error('no free TCP port found in 6100..8899');
}
