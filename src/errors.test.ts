import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { AdmissionError } from './webhook/admission.js';
import { ExtenderArgsError } from './extender/wire.js';
import { SelectorError } from './k8s/selector.js';
import { ErrorCode, isShimmyError, ShimmyError } from './errors.js';

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
