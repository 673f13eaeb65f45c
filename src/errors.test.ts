import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AdmissionError } from './webhook/admission.js';
import { ExtenderArgsError } from './extender/wire.js';
import { SelectorError } from './k8s/selector.js';
import { ErrorCode, isShimmyError, ShimmyError } from './errors.js';

describe('ErrorCode', () => {
  it('has unique codes, each documented in docs/errors.md', () => {
    const codes = Object.values(ErrorCode);
    expect(new Set(codes).size).toBe(codes.length);
    const table = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
    for (const code of codes) expect(table, `${code} missing from docs/errors.md`).toContain(`| \`${code}\` |`);
  });
});

describe('ShimmyError', () => {
  it('carries the code and puts the hint in the message', () => {
    const err = new ShimmyError(ErrorCode.TIMEOUT, 'Waited too long', 'Check the peer');
    expect(err.code).toBe('SHIMMY_ERR_TIMEOUT');
    expect(err.message).toBe('Waited too long. Check the peer');
  });
});

describe("the control plane's errors", () => {
  it('are ShimmyErrors with their codes, so they take the coded one-line path', () => {
    const cases = [
      [new AdmissionError('request is missing'), ErrorCode.BAD_ADMISSION_REVIEW],
      [new ExtenderArgsError('Pod is missing'), ErrorCode.BAD_EXTENDER_ARGS],
      [new SelectorError('selector is empty'), ErrorCode.INVALID_SELECTOR],
    ] as const;
    for (const [err, code] of cases) {
      expect(isShimmyError(err, code), err.name).toBe(true);
      expect(err.message).not.toMatch(/\.\s*$/);
    }
  });
});
