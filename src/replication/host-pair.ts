/**
 * Two hosts on this machine: two network namespaces joined by a veth pair, each with an
 * address of a /30 of its own. The UCX link's tests and benchmark run one side in each.
 */
import { execFileSync } from 'node:child_process';
import { ErrorCode, ShimmyError } from '../errors.js';

export type Side = 'a' | 'b';

export interface HostPair {
  /** Network namespace names (`ip netns exec NAME ...`). */
  hosts: Record<Side, string>;
  /** Each host's end of the veth pair (its only device besides lo). */
  veth: Record<Side, string>;
  address: Record<Side, string>;
  /** The command line that runs `program args` on a host. */
  on(side: Side, program: string, args: readonly string[]): [string, string[]];
  remove(): void;
}

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' }).toString();

/** `id`: up to 5 digits, distinct per pair that may exist at once (a pid, say). */
export function createHostPair(id: number, timeoutMs = 10_000): HostPair {
  const n = id % 100_000;
  const hosts = { a: `shimmy-link-a-${n}`, b: `shimmy-link-b-${n}` };
  const veth = { a: `shla${n}`, b: `shlb${n}` };
  const subnet = `10.215.${n % 250}`;
  const address = { a: `${subnet}.1`, b: `${subnet}.2` };
  const pair: HostPair = {
    hosts,
    veth,
    address,
    on: (side, program, args) => ['ip', ['netns', 'exec', hosts[side], program, ...args]],
    remove() {
      for (const ns of Object.values(hosts)) {
        // A process left in the namespace (a run cut short) would keep it alive after `del`.
        try {
          for (const pid of ip('netns', 'pids', ns).split('\n').filter(Boolean)) process.kill(Number(pid), 'SIGKILL');
        } catch {
          // no namespace, or the process is gone
        }
        try {
          ip('netns', 'del', ns);
        } catch {
          // already gone
        }
      }
    },
  };
  try {
    ip('netns', 'add', hosts.a);
    ip('netns', 'add', hosts.b);
    ip('link', 'add', veth.a, 'netns', hosts.a, 'type', 'veth', 'peer', 'name', veth.b, 'netns', hosts.b);
    for (const side of ['a', 'b'] as const) {
      ip('-n', hosts[side], 'link', 'set', 'lo', 'up');
      ip('-n', hosts[side], 'addr', 'add', `${address[side]}/30`, 'dev', veth[side]);
      ip('-n', hosts[side], 'link', 'set', veth[side], 'up');
    }
    // A veth carries traffic once both ends are up (LOWER_UP); a connection made earlier loses its handshake.
    const until = Date.now() + timeoutMs;
    while (!(['a', 'b'] as const).every((side) => ip('-n', hosts[side], 'link', 'show', 'dev', veth[side]).includes('LOWER_UP'))) {
      if (Date.now() > until)
        throw new ShimmyError(ErrorCode.SYSCALL_FAILED, `veth pair ${veth.a}/${veth.b} did not come up in ${timeoutMs} ms`, 'Check `ip link`');
      execFileSync('sleep', ['0.05']);
    }
  } catch (err) {
    pair.remove();
    if (err instanceof ShimmyError) throw err;
    throw new ShimmyError(
      ErrorCode.SYSCALL_FAILED,
      `Could not make two hosts: ${(err as Error).message}`,
      'Run as root on Linux with iproute2 (`ip netns`, veth)',
    );
  }
  return pair;
}
