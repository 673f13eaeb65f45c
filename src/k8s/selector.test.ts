import { describe, expect, it } from 'vitest';
import type { V1LabelSelector } from '@kubernetes/client-node';
import { ErrorCode } from '../errors.js';
import { compileSelector, SelectorError } from './selector.js';
import { codeOf } from '../../test/helpers/errors.js';

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
    for (const key of ['constructor', 'toString', 'hasOwnProperty', 'valueOf']) {
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
    expect(compileSelector({ matchExpressions: [{ key: 'constructor', operator: 'In', values: ['c'] }] })(labelled)).toBe(true);
    // "__proto__" is no label key at all.
    expect(codeOf(() => compileSelector({ matchExpressions: [{ key: '__proto__', operator: 'Exists' }] }))).toBe(ErrorCode.INVALID_SELECTOR);
  });
});

function selectorError(selector: unknown): SelectorError {
  try {
    compileSelector(selector as V1LabelSelector);
  } catch (err) {
    return err as SelectorError;
  }
  throw new Error('expected a SelectorError');
}

describe('compileSelector, validation', () => {
  it('throws a coded SelectorError whose message is the problem alone', () => {
    const err = selectorError({});
    expect(err).toBeInstanceOf(SelectorError);
    expect(err.name).toBe('SelectorError');
    expect(err.code).toBe(ErrorCode.INVALID_SELECTOR);
    expect(err.hint).toBe('');
    expect(err.message).toBe('selector is empty, which would match every pod in the namespace');
  });

  it('refuses a selector that is not an object', () => {
    for (const selector of [undefined, null, 'app=cam', 3]) expect(selectorError(selector).message, String(selector)).toBe('selector is missing');
  });

  it('refuses a matchLabels value that is not a string, naming the label', () => {
    expect(selectorError({ matchLabels: { app: 'cam', tier: 3 } }).message).toBe('matchLabels.tier is not a string');
    expect(selectorError({ matchLabels: { tier: null } }).message).toBe('matchLabels.tier is not a string');
  });

  it('refuses an expression without a key, naming its index', () => {
    const cases: unknown[] = [null, {}, { operator: 'Exists' }, { key: '', operator: 'Exists' }, { key: 7, operator: 'Exists' }];
    for (const expr of cases) {
      const err = selectorError({ matchExpressions: [{ key: 'a', operator: 'Exists' }, expr] });
      expect(err.code, JSON.stringify(expr)).toBe(ErrorCode.INVALID_SELECTOR);
      expect(err.message, JSON.stringify(expr)).toBe('matchExpressions[1] has no key');
    }
  });

  it('gives the full message for each malformed expression', () => {
    expect(selectorError({ matchExpressions: [{ key: 'a', operator: 'NotIn', values: [] }] }).message).toBe('matchExpressions[0] (a NotIn) needs values');
    expect(selectorError({ matchExpressions: [{ key: 'a', operator: 'DoesNotExist', values: ['x'] }] }).message).toBe(
      'matchExpressions[0] (a DoesNotExist) takes no values',
    );
    expect(selectorError({ matchExpressions: [{ key: 'a' }] }).message).toBe(
      'matchExpressions[0] has unknown operator undefined (use In, NotIn, Exists or DoesNotExist)',
    );
  });
});

describe('compileSelector, matching', () => {
  it('requires every matchLabels entry to be equal', () => {
    const m = compileSelector({ matchLabels: { app: 'cam', tier: 'edge' } });
    expect(m({ app: 'cam', tier: 'edge', extra: 'x' })).toBe(true);
    expect(m({ app: 'cam', tier: 'core' })).toBe(false);
    expect(m({ app: 'cam' })).toBe(false);
    expect(m({})).toBe(false);
  });

  it('counts a label whose value is not a string as absent', () => {
    const labels = { app: 7, tier: 'edge' } as unknown as Record<string, string>;
    expect(compileSelector({ matchExpressions: [{ key: 'app', operator: 'Exists' }] })(labels)).toBe(false);
    expect(compileSelector({ matchExpressions: [{ key: 'app', operator: 'DoesNotExist' }] })(labels)).toBe(true);
    expect(compileSelector({ matchExpressions: [{ key: 'tier', operator: 'Exists' }] })(labels)).toBe(true);
  });

  it('In needs the label present with a listed value; NotIn accepts an absent label or an unlisted value', () => {
    const isIn = compileSelector({ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a', 'b'] }] });
    expect(isIn({ zone: 'a' })).toBe(true);
    expect(isIn({ zone: 'c' })).toBe(false);
    expect(isIn({})).toBe(false);
    const notIn = compileSelector({ matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a', 'b'] }] });
    expect(notIn({ zone: 'a' })).toBe(false);
    expect(notIn({ zone: 'c' })).toBe(true);
    expect(notIn({})).toBe(true);
    expect(notIn(undefined)).toBe(true);
  });
});

describe('compileSelector, malformed input', () => {
  it('refuses matchExpressions that is not a list, and values that are not a list of strings, with a SelectorError', () => {
    const bad = [
      [{ matchExpressions: {} }, /matchExpressions is not a list/],
      [{ matchExpressions: [{ key: 'zone', operator: 'In', values: 'ab' }] }, /matchExpressions\[0\] \(zone\) values is not a list of strings/],
      [{ matchExpressions: [{ key: 'zone', operator: 'In', values: [7] }] }, /values is not a list of strings/],
    ] as const;
    for (const [selector, message] of bad) {
      expect(() => compileSelector(selector as never)).toThrow(message);
      expect(codeOf(() => compileSelector(selector as never))).toBe(ErrorCode.INVALID_SELECTOR);
    }
  });
});

describe('compileSelector, label keys', () => {
  it('takes label keys with and without a prefix, and refuses what the API server would not take as a label key', () => {
    for (const key of ['app', 'app.kubernetes.io/name', 'shimmy.dev/channel', 'a', 'A_b-c.d', 'x'.repeat(63)])
      expect(() => compileSelector({ matchLabels: { [key]: 'v' } })).not.toThrow();
    for (const key of ['', '-app', 'app-', 'a b', '/app', 'Bad.Prefix/app', 'x'.repeat(64), `${'p'.repeat(254)}/app`, 'a/b/c'])
      expect(
        codeOf(() => compileSelector({ matchExpressions: [{ key, operator: 'Exists' }] })),
        JSON.stringify(key),
      ).toBe(ErrorCode.INVALID_SELECTOR);
    expect(() => compileSelector({ matchLabels: { 'a b': 'v' } })).toThrow('matchLabels key "a b" is not a label key');
  });
});
