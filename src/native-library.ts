/** Where the package's native libraries are: native/build/ under the package root. */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCode, ShimmyError } from './errors.js';

/** The path of native/build/NAME; `hint` says how to get it when it is missing. */
export function nativeLibrary(name: string, hint: string): string {
  const here = dirname(fileURLToPath(import.meta.url));
  // src (tsx, vitest) or dist/src (compiled): walk up to the package root.
  for (const up of ['..', '../..']) {
    const candidate = join(here, up, 'native/build', name);
    if (existsSync(candidate)) return candidate;
  }
  throw new ShimmyError(ErrorCode.NATIVE_UNAVAILABLE, `native/build/${name} was not found`, hint);
}
