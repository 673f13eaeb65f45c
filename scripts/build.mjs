#!/usr/bin/env node
// Builds what the project runs from: native/build/libshimmy.so (gcc) and dist/ (tsc).
// The native library is rebuilt when a C source is newer; tsc -b compiles what changed.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const quiet = process.argv.includes('--quiet');
const log = (msg) => {
  if (!quiet) console.error(`[build] ${msg}`);
};

function newest(dir, filter) {
  let t = 0;
  if (!existsSync(dir)) return t;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) t = Math.max(t, newest(p, filter));
    else if (filter(p)) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}
const mtime = (p) => (existsSync(p) ? statSync(p).mtimeMs : 0);

const lib = join(root, 'native/build/libshimmy.so');
if (mtime(lib) < newest(join(root, 'native'), (p) => p.endsWith('.c') || p.endsWith('.h'))) {
  log('compiling native/shimmy.c');
  mkdirSync(join(root, 'native/build'), { recursive: true });
  execFileSync('gcc', ['-O2', '-Wall', '-Wextra', '-Werror', '-shared', '-fPIC', '-o', lib, join(root, 'native/shimmy.c')], { stdio: 'inherit' });
}

// tsc -b keeps its own record of inputs and outputs (dist/.tsbuildinfo): a no-op when nothing changed.
log('TypeScript: tsc -b (compiles only what changed)');
execFileSync(join(root, 'node_modules/.bin/tsc'), ['-b', join(root, 'tsconfig.json')], { stdio: 'inherit' });
