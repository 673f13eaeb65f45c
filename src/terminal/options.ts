/** Option parsers shared by the CLI commands; each failure names the flag. */
import { InvalidArgumentError, Option } from 'commander';
import { parseSize } from '../size.js';

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
