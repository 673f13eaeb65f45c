import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { Channel } from './channel.js';
import { ErrorCode } from '../errors.js';
import { codeOf } from '../../test/helpers/errors.js';
import { testChannels } from '../../test/helpers/proc.js';

// Issue 10: close() detached at once, so touching a live claim or a poll view afterwards was
// a SIGSEGV that took the whole process down (here: the vitest worker, failing the file).

const channels = testChannels();
afterEach(() => channels.cleanup());

describe('views that outlive close()', () => {
  it('a claim filled after close() writes nowhere and commit says CLOSED; the segment counts the process detached', () => {
    const ref = channels.ref('detach');
    const ch = Channel.create(ref, { capacity: 4096, maxMessage: 256 });
    const watcher = Channel.open(ref);
    expect(watcher.stats().attached).toBe(2);
    const claim = ch.publisher().tryClaim(64)!;
    ch.close();
    claim.bytes.fill(0x5a);
    expect(claim.bytes[0]).toBe(0x5a);
    expect(codeOf(() => claim.commit(64))).toBe(ErrorCode.CLOSED);
    expect(watcher.stats().attached).toBe(1);
    // Nothing reached the segment.
    const sub = watcher.subscriber();
    expect(sub.receive()).toBeNull();
    watcher.close();
  });

  it('a zero-copy view kept from poll() reads zeros after close(), not the old bytes and not a fault', () => {
    const ref = channels.ref('detach-view');
    const ch = Channel.create(ref, { capacity: 4096, maxMessage: 256 });
    const sub = ch.subscriber();
    expect(ch.publisher().tryPublish(new TextEncoder().encode('kept'))).toBe(true);
    let view: Uint8Array | null = null;
    sub.poll((b, o, l) => (view = b.subarray(o, o + l)));
    expect(new TextDecoder().decode(view!)).toBe('kept');
    ch.close();
    expect([...view!]).toEqual([0, 0, 0, 0]);
  });

  it('an open without endpoints (stats only, as the agent does every 2 s) detaches with shmdt and leaves no mapping behind', () => {
    const ref = channels.ref('detach-stats');
    Channel.create(ref, { capacity: 1 << 20, maxMessage: 256 }).close();
    const vmKiB = () => Number(/^VmSize:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]);
    const before = vmKiB();
    for (let i = 0; i < 50; i++) Channel.open(ref).close();
    // 50 reserved 1 MiB ranges would be 50 MiB more address space.
    expect(vmKiB() - before).toBeLessThan(10 * 1024);
  });
});
