/** Option parsers shared by the CLI commands; each failure names the flag. */
import { InvalidArgumentError } from 'commander';
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
  return (value: string): T[] => value.split(',').filter(Boolean).map((v) => {
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
