import { ErrorCode, ShimmyError } from './errors.js';

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kib: 1024, kb: 1000, m: 1024 ** 2, mib: 1024 ** 2, mb: 1000 ** 2, g: 1024 ** 3, gib: 1024 ** 3, gb: 1000 ** 3, ki: 1024, mi: 1024 ** 2, gi: 1024 ** 3 };

/**
 * Parses a byte size: plain bytes, KiB/MiB/GiB (and Kubernetes' Ki/Mi/Gi), or kB/MB/GB.
 * `what` names the setting in the error message.
 */
export function parseSize(text: string | number, what = 'size'): number {
  if (typeof text === 'number') {
    if (Number.isSafeInteger(text) && text >= 0) return text;
  } else {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
    const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
    if (m && unit !== undefined) {
      const value = Math.round(Number(m[1]) * unit);
      if (Number.isSafeInteger(value)) return value;
    }
  }
  throw new ShimmyError(ErrorCode.INVALID_SIZE, `Invalid ${what} ${JSON.stringify(text)}`, 'Give plain bytes or a suffix: 512, 64KiB, 4MiB, 1GiB');
}

export function formatSize(bytes: number): string {
  if (bytes >= 1024 ** 3 && bytes % 1024 ** 3 === 0) return `${bytes / 1024 ** 3}GiB`;
  if (bytes >= 1024 ** 2 && bytes % 1024 ** 2 === 0) return `${bytes / 1024 ** 2}MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024}KiB`;
  return `${bytes}B`;
}
