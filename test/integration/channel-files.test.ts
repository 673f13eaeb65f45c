import { existsSync, mkdirSync, statSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ChannelFiles } from '../../src/agent/channel-files.js';
import { Channel } from '../../src/channel/channel.js';
import { ErrorCode } from '../../src/errors.js';
import { codeOf } from '../helpers/errors.js';

// The agent's memory files: <root>/<namespace>/<name>/ring on tmpfs, outliving the agent.
const roots: string[] = [];
afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
});
function newRoot(): string {
  const root = mkdtempSync('/dev/shm/shimmy-agent-files-');
  roots.push(root);
  return root;
}

const settings = { mode: 'pubsub' as const, capacity: 4096, maxMessage: 256, slowConsumer: 'block' as const };
const ref = { namespace: 'tenant-a', name: 'frames', uid: 'u1' };

describe('the agent keeps channels as memory files', () => {
  it('creates, adopts after a restart, serves traffic through the path, and removes', async () => {
    const root = newRoot();
    const files = new ChannelFiles(root, () => 2);
    files.prepare();
    await files.create(ref, settings);
    const ring = join(root, 'tenant-a', 'frames', 'ring');
    expect(files.ringPath(ref)).toBe(ring);
    // Access is by mount: the root is root's alone, a pod of any uid may use the file.
    expect(statSync(root).mode & 0o777).toBe(0o700);
    expect(statSync(join(root, 'tenant-a', 'frames')).mode & 0o777).toBe(0o755);
    expect(statSync(ring).mode & 0o777).toBe(0o666);

    const publisher = Channel.openFile(ref, ring);
    const subscriber = Channel.openFile(ref, ring);
    const sub = subscriber.subscriber();
    expect(publisher.publisher().tryPublish(new TextEncoder().encode('kept'))).toBe(true);
    expect(new TextDecoder().decode(sub.receive()!)).toBe('kept');
    publisher.close();
    subscriber.close();

    // A restarted agent (a new store on the same root) finds it, with its settings and users.
    const restarted = new ChannelFiles(root, () => 3);
    const [present, ...rest] = restarted.present();
    expect(rest).toEqual([]);
    expect(present).toMatchObject({ ref, settings, attached: 3, path: ring });
    expect(present!.shmId).toBeUndefined();
    const reading = restarted.open(ref);
    expect(reading.stats().messages).toBe(1);
    reading.close();

    await restarted.remove(present!);
    expect(existsSync(join(root, 'tenant-a'))).toBe(false);
    expect(codeOf(() => Channel.openFile(ref, ring))).toBe(ErrorCode.SEGMENT_NOT_FOUND);
    expect(restarted.present()).toEqual([]);
  });

  it('adopts nothing that is not a channel file of its own directory: a plain file, a symbolic link, another channel named under a wrong directory', async () => {
    const root = newRoot();
    const files = new ChannelFiles(root, () => 0);
    await files.create(ref, settings);
    mkdirSync(join(root, 'tenant-b', 'plain'), { recursive: true });
    writeFileSync(join(root, 'tenant-b', 'plain', 'ring'), Buffer.alloc(65536));
    mkdirSync(join(root, 'tenant-b', 'frames'), { recursive: true });
    symlinkSync(files.ringPath(ref), join(root, 'tenant-b', 'frames', 'ring'));
    mkdirSync(join(root, 'tenant-c', 'frames'), { recursive: true });
    Channel.createFile(ref, join(root, 'tenant-c', 'frames', 'ring'), settings).close();
    expect(files.present().map((p) => p.path)).toEqual([files.ringPath(ref)]);
  });

  it('refuses names that would leave the root', async () => {
    const files = new ChannelFiles(newRoot(), () => 0);
    expect(codeOf(() => files.channelDir({ namespace: '..', name: 'x' }))).toBe(ErrorCode.INVALID_NAME);
    await expect(files.create({ namespace: 'a', name: '../../etc' }, settings)).rejects.toMatchObject({ code: ErrorCode.INVALID_NAME });
  });
});
