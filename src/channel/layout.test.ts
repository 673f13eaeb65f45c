import { describe, expect, it } from 'vitest';
import { DEFAULTS, HeaderWord, initHeader, readHeader, segmentBytes, validateConfig } from './layout.js';
import { ErrorCode } from '../errors.js';
import { codeOf } from '../../test/helpers/errors.js';

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
