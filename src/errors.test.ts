import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ErrorCode, ShimmyError } from './errors.js';

describe('ErrorCode', () => {
  it('has unique codes, each documented in the README', () => {
    const codes = Object.values(ErrorCode);
    expect(new Set(codes).size).toBe(codes.length);
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    for (const code of codes) expect(readme, `${code} missing from README`).toContain(code);
  });
});

describe('ShimmyError', () => {
  it('carries the code and puts the hint in the message', () => {
    const err = new ShimmyError(ErrorCode.TIMEOUT, 'Waited too long', 'Check the peer');
    expect(err.code).toBe('SHIMMY_ERR_TIMEOUT');
    expect(err.message).toBe('Waited too long. Check the peer');
  });
});
