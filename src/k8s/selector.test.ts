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
});
