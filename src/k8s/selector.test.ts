import { describe, expect, it } from 'vitest';
import { compileSelector, SelectorError } from './selector.js';

describe('compileSelector', () => {
  it('applies matchLabels and every expression, as the API server does', () => {
    const m = compileSelector({
      matchLabels: { app: 'cam' },
      matchExpressions: [
        { key: 'tier', operator: 'In', values: ['edge', 'core'] },
        { key: 'legacy', operator: 'DoesNotExist' },
        { key: 'zone', operator: 'NotIn', values: ['b'] },
        { key: 'gpu', operator: 'Exists' },
      ],
    });
    expect(m({ app: 'cam', tier: 'edge', gpu: '1' })).toBe(true);
    expect(m({ app: 'cam', tier: 'edge', gpu: '1', zone: 'a' })).toBe(true);
    expect(m({ app: 'cam', tier: 'edge', gpu: '1', zone: 'b' })).toBe(false);
    expect(m({ app: 'cam', tier: 'edge', gpu: '1', legacy: 'y' })).toBe(false);
    expect(m({ app: 'cam', tier: 'cloud', gpu: '1' })).toBe(false);
    expect(m({ app: 'cam', tier: 'edge' })).toBe(false);
    expect(m(undefined)).toBe(false);
  });

  it('names the term at fault', () => {
    expect(() => compileSelector({})).toThrow(SelectorError);
    expect(() => compileSelector({})).toThrow(/empty/);
    expect(() => compileSelector({ matchExpressions: [{ key: 'a', operator: 'In' }] })).toThrow(/matchExpressions\[0\] \(a In\) needs values/);
    expect(() => compileSelector({ matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] })).toThrow(/takes no values/);
    expect(() => compileSelector({ matchExpressions: [{ key: 'a', operator: 'Near', values: ['x'] }] })).toThrow(/unknown operator "Near"/);
    expect(() => compileSelector(undefined)).toThrow(/missing/);
  });

  it('looks labels up as own properties: prototype names match only real labels', () => {
    for (const key of ['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf']) {
      const exists = compileSelector({ matchExpressions: [{ key, operator: 'Exists' }] });
      expect(exists({ app: 'cam' }), key).toBe(false);
      expect(exists({}), key).toBe(false);
      const absent = compileSelector({ matchExpressions: [{ key, operator: 'DoesNotExist' }] });
      expect(absent({ app: 'cam' }), key).toBe(true);
      const notIn = compileSelector({ matchExpressions: [{ key, operator: 'NotIn', values: ['x'] }] });
      expect(notIn({ app: 'cam' }), key).toBe(true);
    }
    const labelled = JSON.parse('{"__proto__": "yes", "constructor": "c"}') as Record<string, string>;
    expect(compileSelector({ matchLabels: { constructor: 'c' } })(labelled)).toBe(true);
    expect(compileSelector({ matchExpressions: [{ key: '__proto__', operator: 'In', values: ['yes'] }] })(labelled)).toBe(true);
  });
});
