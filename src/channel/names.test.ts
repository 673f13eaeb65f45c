import { describe, expect, it } from 'vitest';
import { channelKey, fnv1a, fnv1aBytes, identityOf, validateName } from './names.js';

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
