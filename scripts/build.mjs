#!/usr/bin/env node
// Builds what the project runs from: native/build/libshimmy.so and libshimmy_ucx.so (gcc)
// and dist/ (tsc). A native library is rebuilt when its C source is newer; tsc -b compiles
// what changed.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const quiet = process.argv.includes('--quiet');
const log = (msg) => {
  if (!quiet) console.error(`[build] ${msg}`);
};

const mtime = (p) => (existsSync(p) ? statSync(p).mtimeMs : 0);

/** Compiles native/SOURCE into native/build/LIBRARY when the source is newer. */
function compile(source, library, libs = []) {
  const out = join(root, 'native/build', library);
  if (mtime(out) >= mtime(join(root, 'native', source))) return;
  log(`compiling native/${source}`);
  mkdirSync(join(root, 'native/build'), { recursive: true });
  execFileSync('gcc', ['-O2', '-Wall', '-Wextra', '-Werror', '-shared', '-fPIC', '-o', out, join(root, 'native', source), ...libs], { stdio: 'inherit' });
}
compile('shimmy.c', 'libshimmy.so');
// The UCX link for replication between nodes (scripts/ucx-deps.sh installs UCX from Debian).
if (existsSync('/usr/include/ucp/api/ucp.h') && existsSync('/usr/include/openssl/evp.h'))
  compile('shimmy_ucx.c', 'libshimmy_ucx.so', ['-lucp', '-lucs', '-lcrypto']);
else
  log(
    'UCX or OpenSSL headers not found (/usr/include/ucp, /usr/include/openssl): native/build/libshimmy_ucx.so not built; `bash scripts/ucx-deps.sh` installs them',
  );

// tsc -b keeps its own record of inputs and outputs (dist/.tsbuildinfo): a no-op when nothing changed.
log('TypeScript: tsc -b (compiles only what changed)');
execFileSync(join(root, 'node_modules/.bin/tsc'), ['-b', join(root, 'tsconfig.json')], { stdio: 'inherit' });
