import { mkdtempSync, rmSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Channel } from '../../src/channel/channel.js';
import { ErrorCode } from '../../src/errors.js';
import { helper, killStarted } from '../helpers/proc.js';
import { within } from '../helpers/wait.js';

// The mode without hostIPC across processes: one process makes the channel's file on tmpfs,
// the others map it (in a pod: the file the CSI plugin mounts). A small ring makes both sides
// sleep on futex words inside the file mapping.
const dirs: string[] = [];
afterEach(() => {
  killStarted();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function ringPath(): string {
  const dir = mkdtempSync('/dev/shm/shimmy-files-');
  dirs.push(dir);
  return join(dir, 'ring');
}
const settings = { capacity: 4096, maxMessage: 64, slowConsumer: 'block' as const };

describe('a channel in a memory file, across processes', () => {
  it('two subscriber processes each get 200,000 sequenced messages from a blocking publisher, exactly', async () => {
    const ref = { namespace: 'files', name: `cross-${process.pid}` };
    const path = ringPath();
    const ch = Channel.createFile(ref, path, settings);
    try {
      const count = 200_000;
      const subs = [0, 1].map(() => helper('file-subscriber', [ref.namespace, ref.name, path, String(count)]));
      await Promise.all(subs.map((s) => s.waitFor(/subscribed/, 10_000)));
      const pub = ch.publisher();
      const msg = new Uint8Array(8);
      const words = new Uint32Array(msg.buffer);
      for (let i = 0; i < count; i++) {
        words[0] = i;
        words[1] = (i * 7) >>> 0;
        await pub.publish(msg);
      }
      const codes = await Promise.all(subs.map((s) => s.exited));
      for (const s of subs) expect(s.stdout() + s.stderr()).toContain(`ok ${count}`);
      expect(codes).toEqual([0, 0]);
      expect(ch.stats()).toMatchObject({ messages: count, subscribers: 0, lost: 0 });
    } finally {
      ch.close();
    }
  });

  it('a subscriber process whose file is truncated under it ends with CLOSED, not killed by SIGBUS', async () => {
    const ref = { namespace: 'files', name: `truncated-${process.pid}` };
    const path = ringPath();
    const ch = Channel.createFile(ref, path, settings);
    try {
      const sub = helper('file-subscriber', [ref.namespace, ref.name, path, '1000']);
      await sub.waitFor(/subscribed/, 10_000);
      await ch.publisher().publish(new Uint8Array(new Uint32Array([0, 0]).buffer));
      truncateSync(path, 0);
      const code = await within(sub.exited, 'the subscriber ends', 5000);
      expect(sub.child.signalCode).toBeNull();
      expect(code).toBe(2);
      expect(sub.stdout()).toContain(`error ${ErrorCode.CLOSED}`);
    } finally {
      ch.close();
    }
  });
});
