import { describe, expect, it } from 'vitest';
import { parseQuantity } from './quantity.js';

describe('parseQuantity', () => {
  it('reads bytes, binary and decimal suffixes', () => {
    expect(parseQuantity(4096, 'capacity')).toBe(4096);
    expect(parseQuantity('4Mi', 'capacity')).toBe(4 * 2 ** 20);
    expect(parseQuantity('1.5Ki', 'capacity')).toBe(1536);
    expect(parseQuantity('2M', 'capacity')).toBe(2_000_000);
  });
  it('refuses milli-units, negatives and garbage, naming the field', () => {
    for (const bad of ['100m', '-1', '4 Mi', 'lots', 0, 1.5]) expect(() => parseQuantity(bad, 'capacity')).toThrow(/capacity .* is not a byte quantity/);
  });
});
