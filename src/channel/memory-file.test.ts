import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Channel } from './channel.js';
import { channelKey } from './names.js';
import { ErrorCode } from '../errors.js';
import { envFor } from '../client/env.js';
import { openChannel, openChannelWhenReady } from '../client/open.js';
import { codeOf } from '../../test/helpers/errors.js';
import { until, within } from '../../test/helpers/wait.js';

const ref = { namespace: 'files', name: 'frames' };
const config = { mode: 'pubsub' as const, capacity: 4096, maxMessage: 256, slowConsumer: 'block' as const };
const open: Channel[] = [];
const dirs: string[] = [];
const keep = (ch: Channel) => (open.push(ch), ch);
/** A directory on tmpfs, as the node agent uses. */
function tempDir(): string {
  const d = mkdtempSync('/dev/shm/shimmy-file-');
  dirs.push(d);
  return d;
}
const made = () => {
  const path = join(tempDir(), 'ring');
  return { path, maker: keep(Channel.createFile(ref, path, config)) };
};
afterEach(() => {
  for (const ch of open.splice(0)) ch.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('channels in a memory file (the mode without hostIPC)', () => {
  it('a second mapping of the file gets what the first publishes; stats name the file and have no System V id', () => {
    const { path, maker } = made();
    const reader = keep(Channel.openFile(ref, path));
    const sub = reader.subscriber();
    const pub = maker.publisher();
    for (let i = 0; i < 100; i++) expect(pub.tryPublish(new TextEncoder().encode(`m${i}`))).toBe(true);
    const got: string[] = [];
    for (let m = sub.receive(); m; m = sub.receive()) got.push(new TextDecoder().decode(m));
    expect(got).toEqual(Array.from({ length: 100 }, (_, i) => `m${i}`));
    expect(reader.stats()).toMatchObject({ shmId: null, attached: null, memory: `memory file ${path}`, messages: 100, subscribers: 1, publishers: 1 });
  });

  it('a file truncated under its readers is CLOSED for them, not a SIGBUS that kills the process', async () => {
    const { path, maker } = made();
    const reader = keep(Channel.openFile(ref, path));
    const sub = reader.subscriber();
    expect(maker.publisher().tryPublish(new TextEncoder().encode('before'))).toBe(true);
    truncateSync(path, 0);
    // The next touch of the lost pages faults; the guard maps zeros and the channel notices.
    let outcome: string | null = null;
    try {
      outcome = sub.receive() === null ? 'nothing' : 'message';
    } catch (err) {
      outcome = (err as { code?: string }).code ?? 'error';
    }
    expect(['nothing', 'message', ErrorCode.CORRUPT_RING, ErrorCode.CLOSED]).toContain(outcome);
    await until(() => reader.isClosed && maker.isClosed, 'both ends notice the truncation', 2000);
    expect(codeOf(() => sub.receive())).toBe(ErrorCode.CLOSED);
    expect(reader.removedError()!.message).toMatch(/memory file .*ring/);
  });

  it('creating refuses an existing file or a symbolic link at the path', () => {
    const { path } = made();
    expect(codeOf(() => Channel.createFile(ref, path, config))).toBe(ErrorCode.SEGMENT_EXISTS);
    const link = join(tempDir(), 'link');
    symlinkSync('/dev/shm/elsewhere', link);
    expect(codeOf(() => Channel.createFile(ref, link, config))).toBe(ErrorCode.SEGMENT_EXISTS);
  });

  it('refuses a symbolic link, a directory or a FIFO at once (no blocking open)', () => {
    const { path } = made();
    const dir = tempDir();
    symlinkSync(path, join(dir, 'link'));
    mkdirSync(join(dir, 'sub'));
    execFileSync('mkfifo', [join(dir, 'fifo')]);
    const started = Date.now();
    expect(() => Channel.openFile(ref, join(dir, 'link'))).toThrow(/is a symbolic link/);
    expect(() => Channel.openFile(ref, join(dir, 'sub'))).toThrow(/is not a regular file/);
    expect(() => Channel.openFile(ref, join(dir, 'fifo'))).toThrow(/is not a regular file/);
    for (const name of ['link', 'sub', 'fifo']) expect(codeOf(() => Channel.openFile(ref, join(dir, name)))).toBe(ErrorCode.UNTRUSTED_SEGMENT);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('refuses the file of another channel, and says which channel it holds', () => {
    const { path } = made();
    expect(() => Channel.openFile({ namespace: 'other', name: 'frames' }, path)).toThrow(/holds channel "files\/frames"/);
    expect(codeOf(() => Channel.openFile({ namespace: 'other', name: 'frames' }, path))).toBe(ErrorCode.KEY_COLLISION);
  });

  it('a file too small for any header, or empty, is a clear error, not a fault', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'tiny'), Buffer.alloc(64));
    writeFileSync(join(dir, 'empty'), '');
    expect(codeOf(() => Channel.openFile(ref, join(dir, 'tiny')))).toMatch(/SHIMMY_ERR_(CORRUPT_HEADER|NOT_INITIALIZED)/);
    expect(codeOf(() => Channel.openFile(ref, join(dir, 'empty')))).toBe(ErrorCode.CORRUPT_HEADER);
  });

  it('a missing file is SEGMENT_NOT_FOUND', () => {
    expect(codeOf(() => Channel.openFile(ref, join(tempDir(), 'absent')))).toBe(ErrorCode.SEGMENT_NOT_FOUND);
  });

  it('endpoints stop with CLOSED once the file is removed or replaced at its path', async () => {
    const { path } = made();
    const reader = keep(Channel.openFile(ref, path));
    const waiting = reader
      .subscriber()
      .next()
      .then(
        () => 'message',
        (err: { code?: string }) => err.code,
      );
    Channel.removeFile(path);
    writeFileSync(path, 'someone else');
    await until(() => reader.isClosed, 'the reader notices the file is gone', 2000);
    expect(await within(waiting, 'the waiting next() ends', 2000)).toBe(ErrorCode.CLOSED);
    unlinkSync(path);
  });

  it('the client library maps the file the environment names, once it appears (SHIMMY_CHANNEL_<NAME>_FILE)', async () => {
    const path = join(tempDir(), 'ring');
    const env = { SHIMMY_NAMESPACE: ref.namespace, SHIMMY_CHANNELS: ref.name, ...envFor({ ...ref, key: channelKey(ref), file: path, config }) };
    const opening = openChannelWhenReady(ref.name, { env, timeoutMs: 5000 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const maker = keep(Channel.createFile(ref, path, config));
    const client = await within(opening, 'openChannelWhenReady once the file exists', 5000);
    const sub = client.subscriber();
    expect(maker.publisher().tryPublish(new TextEncoder().encode('through the file'))).toBe(true);
    expect(new TextDecoder().decode(sub.receive()!)).toBe('through the file');
    client.close();
    const again = openChannel(ref.name, { env });
    expect(again.stats().memory).toBe(`memory file ${path}`);
    again.close();
    expect(() => openChannel({ ...ref, file: path, create: true })).toThrow(/exclude each other/);
  });
});
