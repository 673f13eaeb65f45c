import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode } from '../errors.js';
import { linkKey, readKeyFile } from './replication-key.js';

describe('linkKey', () => {
  it('derives the same 32 bytes from the same cluster key, others from another, and none from a short key', () => {
    const a = linkKey(new Uint8Array(32).fill(1));
    expect(a).toHaveLength(32);
    expect(linkKey(new Uint8Array(32).fill(1))).toEqual(a);
    expect(linkKey(new Uint8Array(32).fill(2))).not.toEqual(a);
    expect(Buffer.from(a).equals(Buffer.alloc(32, 1))).toBe(false);
    expect(() => linkKey(new Uint8Array(31))).toThrow(
      expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT, message: expect.stringMatching(/31 bytes/) }),
    );
  });
});

describe('readKeyFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'shimmy-key-'));
  const file = (name: string, text: string) => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };

  it('reads the bytes of the file without trailing whitespace', () => {
    expect(Buffer.from(readKeyFile(file('k', `${'a'.repeat(40)}\r\n `))).toString()).toBe('a'.repeat(40));
  });

  it('says which file is missing or too short', () => {
    expect(() => readKeyFile(join(dir, 'none'))).toThrow(/cannot read the replication key file .*none/);
    expect(() => readKeyFile(file('short', 'abc\n'))).toThrow(/in .*short has 3 bytes; it needs at least 32/);
    rmSync(dir, { recursive: true, force: true });
  });
});
