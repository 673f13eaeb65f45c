import { describe, expect, it } from 'vitest';
import { thrown } from '../../test/helpers/errors.js';
import { channelKey, fnv1a, fnv1aBytes, identityOf, refOfIdentity, validateName, validateRef } from './names.js';
import { ErrorCode } from '../errors.js';

describe('channelKey', () => {
  it('is deterministic and depends on namespace, name and uid', () => {
    const a = channelKey({ namespace: 'demo', name: 'frames' });
    expect(channelKey({ namespace: 'demo', name: 'frames' })).toBe(a);
    expect(channelKey({ namespace: 'other', name: 'frames' })).not.toBe(a);
    expect(channelKey({ namespace: 'demo', name: 'frames', uid: 'u-1' })).not.toBe(a);
    expect(a).not.toBe(0);
  });

  it('refuses names that are too long or not DNS labels, saying why', () => {
    expect(() => channelKey({ namespace: 'demo', name: 'x'.repeat(64) })).toThrowError(/64 characters long \(at most 63\)/);
    expect(() => validateName('channel name', 'Bad_Name')).toThrowError(/not a DNS-1123 label/);
    expect(() => validateName('namespace', '')).toThrowError(/SHIMMY_ERR|DNS-1123/);
  });
});

describe('identityOf', () => {
  it('joins namespace, name and uid', () => {
    expect(identityOf({ namespace: 'a', name: 'b' })).toBe('a/b');
    expect(identityOf({ namespace: 'a', name: 'b', uid: 'u' })).toBe('a/b@u');
  });
});

describe('refOfIdentity', () => {
  it('reads identityOf back, with and without a uid, and nothing of another shape', () => {
    for (const ref of [
      { namespace: 'ns', name: 'frames' },
      { namespace: 'ns', name: 'frames', uid: '5f1c-aa' },
    ])
      expect(refOfIdentity(identityOf(ref))).toEqual(ref);
    for (const other of ['', 'frames', '/frames', 'ns/', 'ns/@u']) expect(refOfIdentity(other)).toBeUndefined();
  });
});

describe('fnv1a', () => {
  it('is 32-bit FNV-1a (published test vectors), over strings and byte ranges alike', () => {
    expect(fnv1a('')).toBe(0x811c9dc5);
    expect(fnv1a('a')).toBe(0xe40c292c);
    expect(fnv1a('foobar')).toBe(0xbf9cf968);
    const bytes = new TextEncoder().encode('xxfoobarxx');
    expect(fnv1aBytes(bytes, 2, 8)).toBe(fnv1a('foobar'));
    expect(fnv1aBytes(bytes)).toBe(fnv1a('xxfoobarxx'));
  });
});

describe('validateName and validateRef', () => {
  const problem = thrown;

  it('accepts DNS-1123 labels up to 63 characters', () => {
    for (const ok of ['a', '0', 'a-b', 'x'.repeat(63), `a${'-'.repeat(61)}z`]) expect(() => validateName('channel name', ok)).not.toThrow();
  });

  it('refuses anything after a valid prefix, a trailing "-" and upper case, as not a DNS-1123 label (INVALID_NAME)', () => {
    for (const bad of ['bad_name', 'ab-', '-ab', 'frames.v2', 'a b', 'Frames', '']) {
      const err = problem(() => validateName('channel name', bad));
      expect(err.code).toBe(ErrorCode.INVALID_NAME);
      expect(err.message).toContain(`The channel name ${JSON.stringify(bad)} is not a DNS-1123 label`);
      expect(err.hint).toBe('Use lower-case letters, digits and "-", starting and ending with a letter or digit, at most 63 characters');
    }
  });

  it('blames the length only when the name is longer than 63 characters', () => {
    expect(problem(() => validateName('namespace', `A${'a'.repeat(62)}`)).message).toMatch(/is not a DNS-1123 label/);
    expect(problem(() => validateName('namespace', 'a'.repeat(64))).message).toContain(`The namespace "${'a'.repeat(64)}" is 64 characters long (at most 63)`);
  });

  it('names which part of a channel reference is wrong', () => {
    expect(problem(() => validateRef({ namespace: 'Demo', name: 'frames' })).message).toContain('The namespace "Demo" is not a DNS-1123 label');
    expect(problem(() => validateRef({ namespace: 'demo', name: 'Frames' })).message).toContain('The channel name "Frames" is not a DNS-1123 label');
  });

  it('accepts a uid of up to 64 characters and refuses a longer one (INVALID_NAME)', () => {
    expect(() => validateRef({ namespace: 'demo', name: 'frames', uid: 'u'.repeat(64) })).not.toThrow();
    const uid = 'u'.repeat(65);
    const err = problem(() => channelKey({ namespace: 'demo', name: 'frames', uid }));
    expect(err.code).toBe(ErrorCode.INVALID_NAME);
    expect(err.message).toContain(`The channel uid "${uid}" is longer than 64 characters`);
    expect(err.hint).toBe('Pass the SharedMemoryChannel metadata.uid unchanged');
  });
});
