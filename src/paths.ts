/** Where the package's own files are, whether run from src/ (vitest) or dist/src/ (node). */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCode, ShimmyError } from './errors.js';

function findRoot(from: string): string {
  let dir = from;
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new ShimmyError(ErrorCode.NATIVE_UNAVAILABLE, `No package.json above ${from}`, 'Reinstall the shimmy package');
    dir = up;
  }
  return dir;
}

export const packageRoot = findRoot(dirname(fileURLToPath(import.meta.url)));
