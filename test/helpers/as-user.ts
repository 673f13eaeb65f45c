/**
 * The CLI as another user: its modules (and the native library) are loaded first, as the
 * caller (root), then the process drops to uid and gid, so the checkout need not be
 * readable by that user (a clone under `mktemp -d` is not). argv: uid gid ARGS...
 */
import { main } from '../../src/cli/main.js';

const [uid, gid, ...args] = process.argv.slice(2);
process.setgroups?.([]);
process.setgid!(Number(gid));
process.setuid!(Number(uid));
process.exitCode = await main(args);
