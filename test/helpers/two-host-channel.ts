/**
 * One channel (pub/sub unless told) on each of two hosts (network namespaces joined by a veth pair), each
 * host's in a memory file of its own, and a way to run a program on a host with the channel in
 * its environment and UCX limited to TCP on that host's veth.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Channel } from '../../src/channel/channel.js';
import { channelKey } from '../../src/channel/names.js';
import { envFor } from '../../src/client/env.js';
import type { HostPair, Side } from '../../src/replication/host-pair.js';
import { startProgram } from './proc.js';

export function channelOnBothHosts(pair: HostPair, prefix: string, sizes: { capacity: number; maxMessage: number }, mode: 'pubsub' | 'stream' = 'pubsub') {
  const dir = mkdtempSync(`/dev/shm/shimmy-${prefix}-`);
  const ref = { namespace: 'repl', name: `${prefix}-${process.pid}` };
  const config = { mode, ...sizes, slowConsumer: 'block' as const };
  const files = { a: join(dir, 'a', 'ring'), b: join(dir, 'b', 'ring') };
  const channels = (['a', 'b'] as const).map((side) => {
    mkdirSync(join(dir, side));
    return Channel.createFile(ref, files[side], config);
  });
  const on = (side: Side, program: string, args: string[], extraEnv: Record<string, string> = {}) => {
    const env = {
      ...process.env,
      SHIMMY_NAMESPACE: ref.namespace,
      SHIMMY_CHANNELS: ref.name,
      ...envFor({ ...ref, key: channelKey(ref), file: files[side], config }),
    };
    const [cmd, argv] = pair.on(side, process.execPath, [program, ...args]);
    return startProgram(cmd, argv, undefined, { env: { ...env, UCX_TLS: 'tcp', UCX_NET_DEVICES: pair.veth[side], ...extraEnv } });
  };
  const close = () => {
    for (const ch of channels) ch.close();
    rmSync(dir, { recursive: true, force: true });
  };
  return { ref, config, files, on, close };
}
