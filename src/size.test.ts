import { describe, expect, it } from 'vitest';
import { QUANTITY_PATTERN, formatSize, parseSize } from './size.js';
import { ErrorCode, type ShimmyError } from './errors.js';
import { resolveChannel } from './k8s/channel-spec.js';

describe('parseSize', () => {
  it('reads sizes by Kubernetes quantity rules: binary Ki/Mi/Gi, decimal k/M/G', () => {
    expect(parseSize('512')).toBe(512);
    expect(parseSize(4096)).toBe(4096);
    expect(parseSize('4Mi')).toBe(4 * 1024 * 1024);
    expect(parseSize('4M')).toBe(4_000_000);
    expect(parseSize('64k')).toBe(64_000);
    expect(parseSize('1Gi')).toBe(1024 ** 3);
    expect(parseSize('1G')).toBe(1e9);
    expect(parseSize('1.5Ki')).toBe(1536);
  });

  it('accepts KiB, MiB, GiB as the binary suffixes they spell, and B for bytes', () => {
    expect(parseSize('64KiB')).toBe(65536);
    expect(parseSize('4MiB')).toBe(parseSize('4Mi'));
    expect(parseSize('512B')).toBe(512);
  });

  it('rounds a fraction up to whole bytes, as Quantity.Value() does', () => {
    expect(parseSize('1.5')).toBe(2);
    expect(parseSize('0.001k')).toBe(1);
  });

  it('refuses spellings that used to mean something else, and garbage, with a coded error naming the setting', () => {
    // Before: 4m and 4MB meant 4 MiB and 4,000,000 in different places; K and KB were 1024 or 1000.
    for (const bad of ['100KB', '4MB', '4m', '1K', '100m', '-1', '4 Mi', 'lots', '12 parsecs', '1e3']) {
      expect(() => parseSize(bad, '--size'), bad).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_SIZE }));
    }
    expect(() => parseSize('12 parsecs', '--size')).toThrowError(/Invalid --size "12 parsecs"/);
    expect(() => parseSize(-1)).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_SIZE }));
    expect(() => parseSize(1.5)).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_SIZE }));
  });

  it('reads every quantity the CRD accepts as the channel resolver does: one reading of sizes', () => {
    const crd = new RegExp(QUANTITY_PATTERN);
    for (const q of ['4096', '4Ki', '4Mi', '4M', '64k', '1Gi', '1G', '2Ti', '1.5Mi', '8M']) {
      expect(crd.test(q), q).toBe(true);
      const resolved = resolveChannel({
        apiVersion: 'shimmy.dev/v1alpha1',
        kind: 'SharedMemoryChannel',
        metadata: { namespace: 'ns', name: 'c', uid: 'u' },
        spec: { selector: { matchLabels: { a: 'b' } }, capacity: q, maxMessageSize: q },
      });
      expect(resolved.config.capacity, q).toBe(parseSize(q));
      expect(resolved.config.maxMessage, q).toBe(parseSize(q));
    }
    for (const q of ['4MiB', '512B']) expect(crd.test(q), `the CRD refuses ${q}; the CLI's extra spellings are unambiguous`).toBe(false);
  });
});

describe('formatSize', () => {
  it('uses the largest exact binary unit', () => {
    expect(formatSize(8 * 1024 * 1024)).toBe('8MiB');
    expect(formatSize(1536)).toBe('1536B');
  });
});

describe('parseSize, edges', () => {
  it('accepts 0 bytes as a number and as text', () => {
    expect(parseSize(0)).toBe(0);
    expect(parseSize('0')).toBe(0);
  });

  it('calls the setting "size" when not told its name, and says what to give', () => {
    let err: ShimmyError | undefined;
    try {
      parseSize('lots');
    } catch (e) {
      err = e as ShimmyError;
    }
    expect(err?.code).toBe(ErrorCode.INVALID_SIZE);
    expect(err?.message).toBe(
      'Invalid size "lots". Give bytes or a quantity: 64Ki, 4Mi, 1Gi (binary; also KiB, MiB, GiB) or 64k, 4M, 1G (decimal: 4M = 4,000,000), as in kubectl',
    );
  });

  it('refuses a quantity too large to count exactly in bytes', () => {
    expect(parseSize('8000T')).toBe(8e15);
    expect(() => parseSize('10000T')).toThrowError(/^Invalid size "10000T"/);
    expect(() => parseSize(2 ** 53)).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_SIZE }));
  });
});

describe('formatSize, units', () => {
  it('uses GiB, MiB, KiB only for exact multiples, from the unit itself up', () => {
    const cases: [number, string][] = [
      [0, '0B'],
      [1, '1B'],
      [1023, '1023B'],
      [1024, '1KiB'],
      [2048, '2KiB'],
      [1024 ** 2 - 1024, '1023KiB'],
      [1024 ** 2, '1MiB'],
      [1.5 * 1024 ** 2, '1536KiB'],
      [3 * 1024 ** 2, '3MiB'],
      [1024 ** 3, '1GiB'],
      [1024 ** 3 + 1024 ** 2, '1025MiB'],
      [1024 ** 3 + 1024, '1048577KiB'],
      [1024 ** 3 + 1, '1073741825B'],
      [5 * 1024 ** 3, '5GiB'],
    ];
    for (const [bytes, text] of cases) expect(formatSize(bytes), String(bytes)).toBe(text);
  });
});
