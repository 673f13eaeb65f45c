import { afterEach, describe, expect, it } from 'vitest';
import { Channel } from '../../src/channel/channel.js';
import { helper, killStarted } from '../helpers/proc.js';

// The mode without hostIPC across processes: the maker holds a sealed memfd, the others map
// it through /proc/<pid>/fd/<fd> (in a pod: the file the CSI plugin mounts). A small ring
// makes both sides sleep on futex words inside the file mapping.
afterEach(() => killStarted());

describe('a channel in a memory file, across processes', () => {
  it('two subscriber processes each get 200,000 sequenced messages from a blocking publisher, exactly', async () => {
    const ref = { namespace: 'files', name: `cross-${process.pid}` };
    const ch = Channel.createFile(ref, { capacity: 4096, maxMessage: 64, slowConsumer: 'block' });
    try {
      const count = 200_000;
      const subs = [0, 1].map(() => helper('file-subscriber', [ref.namespace, ref.name, ch.memoryPath!, String(count)]));
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
});
