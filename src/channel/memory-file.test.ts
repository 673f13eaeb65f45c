import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Channel } from './channel.js';
import { ErrorCode } from '../errors.js';
import { MemoryFile } from '../shm/memory-file.js';
import { envFor } from '../client/env.js';
import { openChannel, openChannelWhenReady } from '../client/open.js';
import { channelKey } from './names.js';
import { codeOf } from '../../test/helpers/errors.js';
import { until, within } from '../../test/helpers/wait.js';

const ref = { namespace: 'files', name: 'frames' };
const open: Channel[] = [];
const dirs: string[] = [];
const keep = <T extends Channel>(ch: T) => (open.push(ch), ch);
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'shimmy-file-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const ch of open.splice(0)) ch.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('channels in a memory file (the mode without hostIPC)', () => {
  it('a second mapping of the file gets what the first publishes; stats name the file and have no System V id', () => {
    const maker = keep(Channel.createFile(ref, { capacity: 4096, maxMessage: 256 }));
    const path = maker.memoryPath!;
    expect(path).toBe(`/proc/${process.pid}/fd/${/\d+$/.exec(path)![0]}`);
    const reader = keep(Channel.openFile(ref, path));
    const sub = reader.subscriber();
    const pub = maker.publisher();
    for (let i = 0; i < 100; i++) expect(pub.tryPublish(new TextEncoder().encode(`m${i}`))).toBe(true);
    const got: string[] = [];
    for (let m = sub.receive(); m; m = sub.receive()) got.push(new TextDecoder().decode(m));
    expect(got).toEqual(Array.from({ length: 100 }, (_, i) => `m${i}`));
    expect(reader.stats()).toMatchObject({ shmId: null, attached: null, memory: `memory file ${path}`, messages: 100, subscribers: 1, publishers: 1 });
  });

  it('the file is sealed: nobody who may write it can shrink or grow it', () => {
    const maker = keep(Channel.createFile(ref, { capacity: 4096, maxMessage: 256 }));
    expect(() => truncateSync(maker.memoryPath!, 0)).toThrow(/EPERM/);
    expect(() => truncateSync(maker.memoryPath!, 1 << 20)).toThrow(/EPERM/);
    expect(maker.stats().sizeBytes).toBeGreaterThan(4096);
  });

  it('refuses a plain file, which a writer could truncate under the readers (SIGBUS)', () => {
    const maker = keep(Channel.createFile(ref, { capacity: 4096, maxMessage: 256 }));
    const copy = join(tempDir(), 'ring');
    execFileSync('cp', [maker.memoryPath!, copy]);
    expect(codeOf(() => Channel.openFile(ref, copy))).toBe(ErrorCode.UNTRUSTED_SEGMENT);
  });

  it('refuses a FIFO at once instead of blocking in open or read', () => {
    const fifo = join(tempDir(), 'fifo');
    execFileSync('mkfifo', [fifo]);
    const started = Date.now();
    expect(() => Channel.openFile(ref, fifo)).toThrow(/is not a regular file/);
    expect(codeOf(() => Channel.openFile(ref, fifo))).toBe(ErrorCode.UNTRUSTED_SEGMENT);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('refuses the file of another channel, and says which channel it holds', () => {
    const maker = keep(Channel.createFile(ref, { capacity: 4096, maxMessage: 256 }));
    expect(() => Channel.openFile({ namespace: 'other', name: 'frames' }, maker.memoryPath!)).toThrow(/holds channel "files\/frames"/);
    expect(codeOf(() => Channel.openFile({ namespace: 'other', name: 'frames' }, maker.memoryPath!))).toBe(ErrorCode.KEY_COLLISION);
  });

  it('a sealed file too small for any header is a clear error, not a fault', () => {
    const tiny = MemoryFile.create('tiny', 64);
    try {
      expect(codeOf(() => Channel.openFile(ref, tiny.path))).toMatch(/SHIMMY_ERR_(CORRUPT_HEADER|NOT_INITIALIZED)/);
    } finally {
      tiny.detach();
    }
  });

  it('a missing file is SEGMENT_NOT_FOUND', () => {
    expect(codeOf(() => Channel.openFile(ref, join(tempDir(), 'absent')))).toBe(ErrorCode.SEGMENT_NOT_FOUND);
  });

  it('endpoints stop with CLOSED once the path no longer leads to the file (unmounted or replaced)', async () => {
    const maker = keep(Channel.createFile(ref, { capacity: 4096, maxMessage: 256 }));
    const link = join(tempDir(), 'ring');
    symlinkSync(maker.memoryPath!, link);
    const reader = keep(Channel.openFile(ref, link));
    const sub = reader.subscriber();
    const waiting = sub.next().then(
      () => 'message',
      (err: { code?: string }) => err.code,
    );
    unlinkSync(link);
    writeFileSync(link, 'someone else');
    await until(() => reader.isClosed, 'the reader notices its file is gone', 2000);
    expect(await within(waiting, 'the waiting next() ends', 2000)).toBe(ErrorCode.CLOSED);
    expect(maker.isClosed).toBe(false);
  });

  it('the client library maps the file the environment names, once it appears (SHIMMY_CHANNEL_<NAME>_FILE)', async () => {
    const config = { mode: 'pubsub' as const, capacity: 4096, maxMessage: 256, slowConsumer: 'block' as const };
    const maker = keep(Channel.createFile(ref, config));
    const link = join(tempDir(), 'ring');
    const env = { SHIMMY_NAMESPACE: ref.namespace, SHIMMY_CHANNELS: ref.name, ...envFor({ ...ref, key: channelKey(ref), file: link, config }) };
    const opening = openChannelWhenReady(ref.name, { env, timeoutMs: 5000 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    symlinkSync(maker.memoryPath!, link);
    const client = await within(opening, 'openChannelWhenReady once the file exists', 5000);
    const sub = client.subscriber();
    expect(maker.publisher().tryPublish(new TextEncoder().encode('through the file'))).toBe(true);
    expect(new TextDecoder().decode(sub.receive()!)).toBe('through the file');
    client.close();
    const again = openChannel(ref.name, { env });
    expect(again.stats().memory).toBe(`memory file ${link}`);
    again.close();
    expect(() => openChannel({ ...ref, file: link, create: true })).toThrow(/exclude each other/);
  });
});
