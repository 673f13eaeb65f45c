/** Byte quantities as the CRD accepts them (crd.ts QUANTITY_PATTERN). */
import { ErrorCode, ShimmyError } from '../errors.js';
import { QUANTITY_PATTERN } from './crd.js';

const MULTIPLIER: Record<string, number> = { '': 1, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, k: 1e3, M: 1e6, G: 1e9, T: 1e12 };
const pattern = new RegExp(QUANTITY_PATTERN);

export function parseQuantity(value: string | number | undefined, field: string): number {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value > 0) return value;
  const m = typeof value === 'string' ? pattern.exec(value) : null;
  if (m && typeof value === 'string') {
    const suffix = m[2] ?? '';
    const bytes = Math.floor(Number(value.slice(0, value.length - suffix.length)) * MULTIPLIER[suffix]!);
    if (Number.isSafeInteger(bytes) && bytes > 0) return bytes;
  }
  throw new ShimmyError(ErrorCode.INVALID_ARGUMENT, `${field} ${JSON.stringify(value)} is not a byte quantity`, 'Use bytes or a suffix such as 64Ki, 4Mi, 1Gi');
}
