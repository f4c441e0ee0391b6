// Guest-side helpers shared by the kernel test scripts: create an mdev, and run the painter
// (test/kernel/guest/painter.c), the process that holds a device like a VMM.
import { spawn } from 'node:child_process';
import { readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

/** Creates an mdev of `type` (e.g. 'mbochs_rw-medium'); returns its UUID and group path. */
export function createMdev(type, uuid = readFileSync('/proc/sys/kernel/random/uuid', 'utf8').trim()) {
  const parent = type.slice(0, type.lastIndexOf('-'));
  writeFileSync(`/sys/class/mdev_bus/${parent}/mdev_supported_types/${type}/create`, uuid);
  const group = readlinkSync(`/sys/bus/mdev/devices/${uuid}/iommu_group`).split('/').pop();
  return { uuid, group: `/dev/vfio/${group}` };
}

/**
 * A painter holding `dev` (optionally handing its fd over on `socket`). `send(cmd)` resolves
 * with the one-line reply and throws unless it is "ok…"; `stop()` ends it.
 */
export async function startPainter(painterBin, dev, socket) {
  const args = ['--group', dev.group, '--device', dev.uuid, ...(socket ? ['--socket', socket] : [])];
  const child = spawn(painterBin, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  // Lines that arrive before anyone waits are kept, not dropped.
  const replies = [];
  const waiting = [];
  createInterface({ input: child.stdout }).on('line', (l) => (waiting.length ? waiting.shift()(l) : replies.push(l)));
  const reply = () => (replies.length ? Promise.resolve(replies.shift()) : new Promise((r) => waiting.push(r)));
  const ready = await reply();
  if (!ready.startsWith('ready')) throw new Error(`painter: ${ready}`);
  return {
    child,
    pid: child.pid,
    ready,
    async send(cmd) {
      child.stdin.write(`${cmd}\n`);
      const r = await reply();
      if (!r.startsWith('ok')) throw new Error(`painter ${cmd}: ${r}`);
      return r;
    },
    stop() {
      child.stdin.end();
      return new Promise((r) => child.once('exit', r));
    },
  };
}
