/**
 * Byte sizes, read one way everywhere (the CLI, the SHIMMY_* environment and the
 * SharedMemoryChannel CRD): Kubernetes quantity rules, as kubectl reads them. Binary
 * suffixes are powers of 1024 (`4Mi` = 4,194,304), decimal ones powers of 1000
 * (`4M` = 4,000,000, `64k` = 64,000). `KiB`, `MiB`, `GiB`, `TiB` are accepted as the binary
 * suffixes they spell. A fraction is rounded up to whole bytes, as Quantity.Value() does.
 */
import { ErrorCode, ShimmyError } from './errors.js';

const BINARY = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 } as const;
const DECIMAL = { k: 1e3, M: 1e6, G: 1e9, T: 1e12 } as const;
const MULTIPLIER: Readonly<Record<string, number>> = { '': 1, B: 1, ...BINARY, ...DECIMAL, KiB: BINARY.Ki, MiB: BINARY.Mi, GiB: BINARY.Gi, TiB: BINARY.Ti };

/** What the CRD accepts as a string (its CEL rule): a Kubernetes quantity in bytes. */
export const QUANTITY_PATTERN = '^[0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti|k|M|G|T)?$';

const SIZE = /^\s*(\d+(?:\.\d+)?)(KiB|MiB|GiB|TiB|Ki|Mi|Gi|Ti|k|M|G|T|B)?\s*$/;

export const SIZE_HELP = 'bytes or a quantity: 64Ki, 4Mi, 1Gi (binary; also KiB, MiB, GiB) or 64k, 4M, 1G (decimal: 4M = 4,000,000), as in kubectl';

/** Parses a byte size; `what` names the setting in the error message. */
export function parseSize(text: string | number, what = 'size'): number {
  if (typeof text === 'number') {
    if (Number.isSafeInteger(text) && text >= 0) return text;
  } else {
    const m = SIZE.exec(text);
    if (m) {
      const value = Math.ceil(Number(m[1]) * MULTIPLIER[m[2] ?? '']!);
      if (Number.isSafeInteger(value)) return value;
    }
  }
  throw new ShimmyError(ErrorCode.INVALID_SIZE, `Invalid ${what} ${JSON.stringify(text)}`, `Give ${SIZE_HELP}`);
}

export function formatSize(bytes: number): string {
  if (bytes >= 1024 ** 3 && bytes % 1024 ** 3 === 0) return `${bytes / 1024 ** 3}GiB`;
  if (bytes >= 1024 ** 2 && bytes % 1024 ** 2 === 0) return `${bytes / 1024 ** 2}MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024}KiB`;
  return `${bytes}B`;
}
