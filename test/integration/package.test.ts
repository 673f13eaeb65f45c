/**
 * The package as users install it: `npm pack` of the checkout, installed with its
 * production dependencies into an empty folder, then the CLI run from there on this
 * Node.js (the suite runs on Node 20 and on Node 24).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Channel } from '../../src/channel/channel.js';
import { ROOT } from '../helpers/proc.js';

const work = mkdtempSync(join(tmpdir(), 'shimmy-package-'));
let cli: string;
const channel = { namespace: 'pkg-test', name: `p${process.pid}` };

function shimmy(args: string[], timeout = 60_000) {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: work, encoding: 'utf8', timeout });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(() => {
  const tarball = execFileSync('npm', ['pack', '--silent', '--pack-destination', work], { cwd: ROOT, encoding: 'utf8' }).trim().split('\n').pop()!;
  // An empty folder of the user's own: the install must not walk up into the checkout.
  execFileSync('npm', ['init', '-y'], { cwd: work, stdio: 'ignore' });
  execFileSync('npm', ['install', '--omit=dev', '--no-audit', '--no-fund', '--loglevel=error', join(work, tarball)], {
    cwd: work,
    stdio: 'pipe',
    timeout: 300_000,
  });
  cli = join(work, 'node_modules', 'shimmy', 'bin', 'shimmy.js');
}, 320_000);

afterAll(() => {
  Channel.remove(channel);
  rmSync(work, { recursive: true, force: true });
});

describe('the installed package', () => {
  it('answers --help', () => {
    const r = shimmy(['--help']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Usage: shimmy/);
    for (const command of ['channel', 'pub', 'sub', 'bench', 'controller', 'dev-cluster', 'demo']) expect(r.stdout).toContain(command);
  });

  it('creates a channel and carries messages between pub and sub', async () => {
    const created = shimmy(['channel', 'create', channel.name, '--namespace', channel.namespace, '--capacity', '1Mi', '--max-message', '64Ki']);
    expect(created.code, created.stderr).toBe(0);
    const sub = spawn(process.execPath, [cli, 'sub', channel.name, '--namespace', channel.namespace, '--count', '1000', '--verify', '--json', '--quiet'], {
      cwd: work,
    });
    let out = '';
    sub.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const subExit = new Promise<number | null>((resolve) => sub.on('exit', resolve));
    const pub = shimmy([
      'pub',
      channel.name,
      '--namespace',
      channel.namespace,
      '--count',
      '1000',
      '--size',
      '64',
      '--seq',
      '--wait-subscribers',
      '1',
      '--timeout',
      '30s',
    ]);
    expect(pub.code, pub.stderr).toBe(0);
    expect(await subExit).toBe(0);
    expect(JSON.parse(out.trim())).toMatchObject({ received: 1000, gaps: 0, outOfOrder: 0, corrupt: 0 });
  });

  it('runs the benchmark for shared memory and TCP', () => {
    const r = shimmy(['bench', '--transports', 'shm,tcp', '--sizes', '16', '--counts', '10000', '--latency-samples', '1000'], 120_000);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^shm\s+16\s+10000\s/m);
    expect(r.stdout).toMatch(/^tcp\s+16\s+10000\s/m);
  });
});
