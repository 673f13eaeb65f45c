import { describe, expect, it } from 'vitest';
import {
  DEFAULTS,
  HeaderWord,
  IDENTITY_MAX,
  MAGIC,
  MAX_PARTICIPANTS,
  headerBytes,
  initHeader,
  readHeader,
  recordBytes,
  ringCount,
  segmentBytes,
  validateConfig,
  type ChannelConfig,
  type ModeName,
  type SlowConsumerName,
} from './layout.js';
import { ErrorCode } from '../errors.js';
import { codeOf, thrown } from '../../test/helpers/errors.js';

function header(cfg = DEFAULTS): ArrayBuffer {
  const buf = new ArrayBuffer(segmentBytes({ ...cfg, capacity: 4096 }) + 8192);
  initHeader(buf, { ...cfg, capacity: 4096, maxMessage: 1024 }, 'ns/chan', 1);
  return buf;
}

describe('validateConfig', () => {
  it('accepts the defaults', () => {
    expect(validateConfig({ ...DEFAULTS })).toEqual(DEFAULTS);
  });

  it('rejects capacities that are not powers of two and messages that do not fit', () => {
    expect(() => validateConfig({ ...DEFAULTS, capacity: 5000 })).toThrowError(/power of two/);
    expect(() => validateConfig({ ...DEFAULTS, capacity: 4096, maxMessage: 4096 })).toThrowError(/--max-message up to 2040/);
  });

  it('refuses overwrite for streams', () => {
    expect(() => validateConfig({ ...DEFAULTS, mode: 'stream', slowConsumer: 'overwrite' })).toThrowError(/exactly one consumer/);
  });
});

describe('readHeader', () => {
  it('reads back what initHeader wrote', () => {
    const h = readHeader(header(), 'ns/chan');
    expect(h).toMatchObject({ mode: 'pubsub', capacity: 4096, maxMessage: 1024, identity: 'ns/chan', slowConsumer: 'block' });
  });

  it('refuses a wrong magic, a wrong version and an uninitialized segment', () => {
    const bad = header();
    new Uint32Array(bad)[HeaderWord.magic] = 0xdeadbeef;
    expect(codeOf(() => readHeader(bad, 'x'))).toBe(ErrorCode.CORRUPT_HEADER);
    const old = header();
    new Uint32Array(old)[HeaderWord.version] = 99;
    expect(codeOf(() => readHeader(old, 'x'))).toBe(ErrorCode.VERSION_MISMATCH);
    expect(codeOf(() => readHeader(new ArrayBuffer(16384), 'x'))).toBe(ErrorCode.NOT_INITIALIZED);
  });

  it('refuses a header whose capacity does not match the segment', () => {
    const buf = header();
    new Uint32Array(buf)[HeaderWord.capacity] = 1 << 20;
    expect(() => readHeader(buf, 'x')).toThrowError(/SHIMMY_ERR|needs/);
  });
});

describe('sizes', () => {
  it('gives pub/sub one ring and streams two', () => {
    expect(ringCount('pubsub')).toBe(1);
    expect(ringCount('stream')).toBe(2);
    expect(segmentBytes({ ...DEFAULTS, capacity: 4096, maxParticipants: 2 })).toBe(4096 + 4096);
    expect(segmentBytes({ ...DEFAULTS, mode: 'stream', capacity: 4096, maxParticipants: 2 })).toBe(4096 + 2 * 4096);
  });

  it('rounds the header (config page, ring control, participant slots) up to whole pages', () => {
    // 1024 bytes before the slots, 64 bytes a slot.
    expect(headerBytes(2)).toBe(4096);
    expect(headerBytes(48)).toBe(4096);
    expect(headerBytes(49)).toBe(8192);
    expect(headerBytes(64)).toBe(8192);
    expect(headerBytes(MAX_PARTICIPANTS)).toBe(20480);
  });

  it('counts a record as an 8-byte head and its payload padded to 8 bytes', () => {
    expect([0, 1, 7, 8, 9].map(recordBytes)).toEqual([8, 16, 16, 16, 24]);
  });
});

describe('validateConfig limits', () => {
  const cfg = (over: Partial<ChannelConfig>): ChannelConfig => ({ ...DEFAULTS, capacity: 4096, maxMessage: 1024, ...over });

  it('names an unknown mode or slow-consumer policy and the valid ones', () => {
    expect(thrown(() => validateConfig(cfg({ mode: 'fanout' as ModeName })))).toMatchObject({
      code: ErrorCode.INVALID_ARGUMENT,
      message: 'Unknown mode "fanout". Use pubsub or stream',
    });
    expect(thrown(() => validateConfig(cfg({ slowConsumer: 'drop' as SlowConsumerName })))).toMatchObject({
      code: ErrorCode.INVALID_ARGUMENT,
      message: 'Unknown slow-consumer policy "drop". Use block or overwrite',
    });
  });

  it('tells a stream with the overwrite policy to use block', () => {
    expect(thrown(() => validateConfig(cfg({ mode: 'stream', slowConsumer: 'overwrite' }))).hint).toBe('Use --slow-consumer block (the default) for streams');
    expect(validateConfig(cfg({ mode: 'stream', slowConsumer: 'block' })).mode).toBe('stream');
  });

  it('accepts capacities from 4 KiB to 1 GiB that are powers of two, and nothing else', () => {
    for (const capacity of [4096, 8192, 1 << 20, 1 << 30]) expect(validateConfig(cfg({ capacity })).capacity).toBe(capacity);
    for (const capacity of [2048, 2 ** 31, 4096.5, 5000, 0]) {
      const err = thrown(() => validateConfig(cfg({ capacity, maxMessage: 8 })));
      expect(err.code).toBe(ErrorCode.INVALID_ARGUMENT);
      expect(err.message).toBe(`Capacity ${capacity} is not a power of two between 4KiB and 1GiB. Pick e.g. 1MiB, 8MiB or 64MiB`);
    }
  });

  it('accepts a max message from 1 byte up to a record of half the ring', () => {
    expect(validateConfig(cfg({ maxMessage: 1 })).maxMessage).toBe(1);
    expect(validateConfig(cfg({ maxMessage: 2040 })).maxMessage).toBe(2040);
    for (const maxMessage of [0, -8, 1.5, 2041, 4096]) {
      const err = thrown(() => validateConfig(cfg({ maxMessage })));
      expect(err.code).toBe(ErrorCode.INVALID_ARGUMENT);
      expect(err.message).toBe(
        `Max message ${maxMessage} does not fit a 4096-byte ring (a record of header and payload may take at most half the ring). ` +
          'Use --max-message up to 2040 or a larger --capacity',
      );
    }
  });

  it(`accepts 2 to ${MAX_PARTICIPANTS} participants`, () => {
    expect(validateConfig(cfg({ maxParticipants: 2 })).maxParticipants).toBe(2);
    expect(validateConfig(cfg({ maxParticipants: MAX_PARTICIPANTS })).maxParticipants).toBe(MAX_PARTICIPANTS);
    for (const maxParticipants of [1, 0, MAX_PARTICIPANTS + 1, 2.5]) {
      expect(thrown(() => validateConfig(cfg({ maxParticipants })))).toMatchObject({
        code: ErrorCode.INVALID_ARGUMENT,
        message: `maxParticipants ${maxParticipants} is outside 2..255. Use the default of 64 unless you need more`,
      });
    }
  });
});

describe('initHeader and readHeader checks', () => {
  const small: ChannelConfig = { ...DEFAULTS, capacity: 4096, maxMessage: 1024, maxParticipants: 2 };
  function segment(cfg = small, identity = 'ns/chan'): { buf: ArrayBuffer; u32: Uint32Array } {
    const buf = new ArrayBuffer(segmentBytes(cfg));
    initHeader(buf, cfg, identity, 7, 1_700_000_000_000);
    return { buf, u32: new Uint32Array(buf) };
  }
  const REMEDY = 'The segment is damaged or not a Shimmy segment; remove it with `shimmy channel rm` (or `ipcrm -M KEY`) and create it again';
  const corruptWith = (buf: ArrayBuffer, problem: string) =>
    expect(thrown(() => readHeader(buf, 'ns/chan'))).toMatchObject({
      code: ErrorCode.CORRUPT_HEADER,
      message: `Segment of channel ns/chan: ${problem}. ${REMEDY}`,
    });

  it('reads back every field, a stream and an identity of exactly 256 bytes', () => {
    const cfg: ChannelConfig = { mode: 'stream', slowConsumer: 'block', capacity: 8192, maxMessage: 100, maxParticipants: 49 };
    const identity = `ns/${'x'.repeat(IDENTITY_MAX - 3)}`;
    const { buf, u32 } = segment(cfg, identity);
    expect(u32[HeaderWord.magic]).toBe(MAGIC);
    expect(u32[HeaderWord.identityHash]).toBe(7);
    expect(u32[HeaderWord.ringCount]).toBe(2);
    expect(readHeader(buf, 'x')).toEqual({ ...cfg, identity, createdAtMs: 1_700_000_000_000, headerBytes: 8192 });
  });

  it('refuses an identity longer than 256 bytes', () => {
    const identity = `ns/${'x'.repeat(IDENTITY_MAX - 2)}`;
    const buf = new ArrayBuffer(segmentBytes(small));
    expect(thrown(() => initHeader(buf, small, identity, 1))).toMatchObject({
      code: ErrorCode.INVALID_ARGUMENT,
      message: `Channel identity ${identity} is longer than 256 bytes. Use shorter names`,
    });
    // Nothing was written: the segment still reads as uninitialized.
    expect(new Uint32Array(buf)[HeaderWord.magic]).toBe(0);
  });

  it('says a segment without magic is not initialized yet, down to a segment of exactly one page', () => {
    for (const size of [4096, 16384]) {
      expect(thrown(() => readHeader(new ArrayBuffer(size), 'ns/chan'))).toMatchObject({
        code: ErrorCode.NOT_INITIALIZED,
        message:
          'The segment of channel ns/chan has no header yet. ' +
          'Its creator is still initializing it or died while doing so; retry, or remove it with `shimmy channel rm` and create it again',
      });
    }
  });

  it('refuses a segment smaller than a header page', () => {
    corruptWith(new ArrayBuffer(4095), 'the segment is 4095 bytes, smaller than a header');
  });

  it('names the wrong magic and the expected one', () => {
    const { buf, u32 } = segment();
    u32[HeaderWord.magic] = 0xdeadbeef;
    corruptWith(buf, 'wrong magic 0xdeadbeef (expected 0x594d4853)');
  });

  it('names both layout versions on a mismatch', () => {
    const { buf, u32 } = segment();
    u32[HeaderWord.version] = 1;
    expect(thrown(() => readHeader(buf, 'ns/chan'))).toMatchObject({
      code: ErrorCode.VERSION_MISMATCH,
      message:
        'The segment of channel ns/chan has layout version 1, this library speaks 2. ' +
        'Upgrade the older side so both use the same Shimmy release, or recreate the channel',
    });
  });

  it('names an unknown mode or policy number', () => {
    const a = segment();
    a.u32[HeaderWord.mode] = 7;
    corruptWith(a.buf, 'unknown mode 7');
    const b = segment();
    b.u32[HeaderWord.slowConsumer] = 9;
    corruptWith(b.buf, 'unknown slow-consumer policy 9');
  });

  it('checks the stored configuration as a new one would be checked', () => {
    const { buf, u32 } = segment();
    u32[HeaderWord.capacity] = 5000;
    corruptWith(buf, 'Capacity 5000 is not a power of two between 4KiB and 1GiB. Pick e.g. 1MiB, 8MiB or 64MiB');
    const b = segment();
    b.u32[HeaderWord.maxParticipants] = 1;
    corruptWith(b.buf, 'maxParticipants 1 is outside 2..255. Use the default of 64 unless you need more');
  });

  it('refuses a header size or ring count that does not follow from the configuration', () => {
    const a = segment();
    a.u32[HeaderWord.headerBytes] = 8192;
    corruptWith(a.buf, 'inconsistent header size or ring count');
    const b = segment();
    b.u32[HeaderWord.ringCount] = 2;
    corruptWith(b.buf, 'inconsistent header size or ring count');
  });

  it('refuses a segment too small for the rings its header describes', () => {
    const { buf } = segment();
    const short = buf.slice(0, segmentBytes(small) - 8);
    corruptWith(short, `segment is ${segmentBytes(small) - 8} bytes, its header needs ${segmentBytes(small)}`);
  });

  it('refuses an identity length over 256 bytes', () => {
    const { buf, u32 } = segment();
    u32[HeaderWord.identityLength] = IDENTITY_MAX + 1;
    corruptWith(buf, 'identity length 257');
    u32[HeaderWord.identityLength] = IDENTITY_MAX;
    expect(readHeader(buf, 'ns/chan').identity).toHaveLength(IDENTITY_MAX);
  });
});
