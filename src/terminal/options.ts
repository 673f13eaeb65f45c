/** Option parsers shared by the CLI commands; each failure names the flag. */
import { InvalidArgumentError, Option } from 'commander';
import { parseSize } from '../size.js';
import { MAX_ID } from '../shm/segment.js';

export function sizeOption(flag: string) {
  return (value: string): number => {
    try {
      return parseSize(value, flag);
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message);
    }
  };
}

export function intOption(flag: string, min = 0) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`${flag} must be an integer >= ${min}, got ${JSON.stringify(value)}`);
    return n;
  };
}

/** A uid or gid other than root's. */
export function idOption(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < 1 || n > MAX_ID) throw new InvalidArgumentError(`${flag} must be an id from 1 to ${MAX_ID}, got ${JSON.stringify(value)}`);
    return n;
  };
}

/** "FIRST-LAST", both ids, inclusive. */
export function idRangeOption(flag: string) {
  const id = idOption(flag);
  return (value: string): { first: number; count: number } => {
    const m = /^(\d+)-(\d+)$/.exec(value.trim());
    if (!m) throw new InvalidArgumentError(`${flag} must be a range like 64600-65499, got ${JSON.stringify(value)}`);
    const first = id(m[1]!);
    const last = id(m[2]!);
    if (last < first) throw new InvalidArgumentError(`${flag}: ${last} is below ${first}`);
    return { first, count: last - first + 1 };
  };
}

export function listOption<T>(flag: string, parse: (v: string) => T) {
  return (value: string): T[] =>
    value
      .split(',')
      .filter(Boolean)
      .map((v) => {
        try {
          return parse(v.trim());
        } catch (err) {
          throw new InvalidArgumentError(`${flag}: ${(err as Error).message}`);
        }
      });
}

export function choiceOption<T extends string>(flag: string, choices: readonly T[]) {
  return (value: string): T => {
    if (!(choices as readonly string[]).includes(value)) throw new InvalidArgumentError(`${flag} must be one of ${choices.join(', ')}`);
    return value as T;
  };
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "500ms", "30s", "10m", "12h", "365d" → milliseconds. */
export function durationOption(flag: string) {
  return (value: string): number => {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(value.trim());
    if (!m) throw new InvalidArgumentError(`${flag} must be a duration like 30s, 10m, 12h or 365d, got ${JSON.stringify(value)}`);
    return Math.round(Number(m[1]) * DURATION_UNITS[m[2]!]!);
  };
}

/** A duration flag whose default shows as written ("30d"), not in milliseconds. */
export function durationFlag(flag: string, description: string, defaultText: string): Option {
  const parse = durationOption(flag);
  return new Option(`${flag} <duration>`, description).argParser(parse).default(parse(defaultText), defaultText);
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;
