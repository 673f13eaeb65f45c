import { describe, expect, it } from 'vitest';
import { formatSize, parseSize } from './size.js';
import { ErrorCode } from './errors.js';

describe('parseSize', () => {
  it('reads plain bytes and binary and decimal suffixes', () => {
    expect(parseSize('512')).toBe(512);
    expect(parseSize('64KiB')).toBe(65536);
    expect(parseSize('4MiB')).toBe(4 * 1024 * 1024);
    expect(parseSize('1Gi')).toBe(1024 ** 3);
    expect(parseSize('100KB')).toBe(100_000);
  });

  it('rejects garbage with a coded error that names the setting', () => {
    expect(() => parseSize('12 parsecs', '--size')).toThrowError(/Invalid --size "12 parsecs"/);
    expect(() => parseSize('-1')).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_SIZE }));
    expect(() => parseSize('12 parsecs', '--size')).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_SIZE }));
  });
});

describe('formatSize', () => {
  it('uses the largest exact binary unit', () => {
    expect(formatSize(8 * 1024 * 1024)).toBe('8MiB');
    expect(formatSize(1536)).toBe('1536B');
  });
});
