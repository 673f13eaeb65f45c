/** Starting and killing real processes for the integration tests. */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Channel } from '../../src/channel/channel.js';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/dist\/$/, '/');
export const CLI = `${ROOT}bin/shimmy.js`;
export const HELPERS = `${ROOT}dist/test/helpers`;

export interface Proc {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
  /** Resolves when `pattern` appears on stdout or stderr. */
  waitFor(pattern: RegExp, ms?: number): Promise<void>;
}

interface SpawnOptions {
  uid?: number;
  gid?: number;
  env?: NodeJS.ProcessEnv;
}

/** A node script as a process. */
export function start(script: string, args: string[], input?: string, options: SpawnOptions = {}): Proc {
  return startProgram(process.execPath, [script, ...args], input, options);
}

const running = new Set<ChildProcess>();

/** SIGKILLs every process started here that is still running (for afterEach: a failed test leaves none behind). */
export function killStarted(): void {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
}

/** Any program as a process. */
export function startProgram(file: string, args: string[], input?: string, options: SpawnOptions = {}): Proc {
  const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'], ...options });
  running.add(child);
  child.on('exit', () => running.delete(child));
  let out = '';
  let err = '';
  const listeners = new Set<() => void>();
  child.stdout!.on('data', (d) => {
    out += d;
    listeners.forEach((l) => l());
  });
  child.stderr!.on('data', (d) => {
    err += d;
    listeners.forEach((l) => l());
  });
  if (input !== undefined) child.stdin!.end(input);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor(pattern, ms = 20_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (pattern.test(out) || pattern.test(err)) {
            listeners.delete(check);
            clearTimeout(timer);
            resolve();
          }
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`timed out waiting for ${pattern}; stdout: ${out.slice(-500)} stderr: ${err.slice(-500)}`));
        }, ms);
        listeners.add(check);
        void exited.then(() =>
          setTimeout(() => {
            if (listeners.has(check)) {
              listeners.delete(check);
              clearTimeout(timer);
              reject(new Error(`process exited before ${pattern}; stdout: ${out.slice(-500)} stderr: ${err.slice(-500)}`));
            }
          }, 50),
        );
        check();
      });
    },
  };
}

export function cli(args: string[], input?: string): Proc {
  return start(CLI, args, input);
}

export function helper(name: string, args: string[]): Proc {
  return start(`${HELPERS}/${name}.js`, args);
}

export async function run(args: string[], input?: string, options: SpawnOptions = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = start(CLI, args, input, options);
  const code = await p.exited;
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}

export async function kill9(p: Proc): Promise<void> {
  p.child.kill('SIGKILL');
  await p.exited;
}

export function testChannels() {
  const made: Array<{ namespace: string; name: string }> = [];
  return {
    ref(prefix: string) {
      const r = { namespace: 'shimmy-it', name: `${prefix}-${randomBytes(4).toString('hex')}` };
      made.push(r);
      return r;
    },
    cleanup() {
      for (const r of made.splice(0)) Channel.remove(r);
    },
  };
}
