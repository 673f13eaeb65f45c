/**
 * `shimmy bench --remote`: the benchmark across two hosts (two network namespaces joined by a
 * veth pair, src/replication/host-pair.ts). Brokers, publishers and pingers run on host A;
 * subscribers and pongers on host B, so every message crosses the link once. Shimmy's channels
 * are a memory file on each host, replicated by a node replicator on each (what the agents
 * run, with the cluster key), over UCX's TCP transport on the veth.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Channel } from '../../src/channel/channel.js';
import { createHostPair, type HostPair, type Side } from '../../src/replication/host-pair.js';
import type { PeerHost } from '../peers.js';
import { runOn, until } from '../ucx/perftest.js';
import { workerPath, type Placement } from '../runner.js';
import { SHM_SHARED_ENDPOINT, shmFileEndpoint } from '../transports/shm.js';
import type { WorkerConfig } from '../worker.js';
import type { RemoteReplicatorConfig } from './replicator.js';

const REPLICATOR = fileURLToPath(new URL('./replicator.js', import.meta.url));
const NAMESPACE = 'shimmy-bench';
/** What runs across the hosts: Shimmy's busy-polling transport and the brokers. */
const ACROSS = ['shm', 'shm-sleep', 'mosquitto', 'nats', 'redis', 'kafka'];

interface Run {
  files: Record<Side, Record<string, string>>;
}

export class RemotePlacement implements Placement {
  readonly pair: HostPair;
  readonly peerHost: PeerHost;
  private readonly key = randomBytes(32).toString('hex');
  private readonly runs = new Map<string, Run>();
  private nextPort = 7470;

  constructor() {
    this.pair = createHostPair(process.pid);
    const pair = this.pair;
    this.peerHost = {
      address: pair.address.a,
      run: (program, args) => pair.on('a', program, args),
      // From host B, as the clients there will connect.
      listening: (port) =>
        new Promise<boolean>((resolve) => {
          const [cmd, argv] = pair.on('b', 'bash', ['-c', `exec 3<>/dev/tcp/${pair.address.a}/${port}`]);
          spawn(cmd, argv, { stdio: 'ignore' }).on('exit', (code) => resolve(code === 0));
        }),
    };
  }

  unsupported(transport: string): string | null {
    return ACROSS.includes(transport) ? null : `not measured across hosts (--remote runs ${ACROSS.join(', ')})`;
  }

  spawnWorker(cfg: WorkerConfig): ChildProcess {
    const side: Side = cfg.role === 'pub' || cfg.role === 'ping' ? 'a' : 'b';
    const files = this.runs.get(cfg.runId)?.files[side] ?? {};
    const endpoints = { ...cfg.endpoints };
    for (const [topic, file] of Object.entries(files)) endpoints[shmFileEndpoint(topic)] = file;
    const [cmd, argv] = this.pair.on(side, process.execPath, [workerPath(), JSON.stringify({ ...cfg, endpoints })]);
    return spawn(cmd, argv, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  }

  async prepare(
    transport: string,
    runId: string,
    topics: string[],
    size: number,
  ): Promise<{ endpoints: Record<string, string>; cleanup: () => Promise<void> }> {
    if (!transport.startsWith('shm')) return { endpoints: {}, cleanup: async () => {} };
    const dir = join('/dev/shm', `shimmy-remote-bench-${runId}`);
    const config = { capacity: 8 * 1024 * 1024, maxMessage: Math.max(1024, size), slowConsumer: 'block' as const };
    const run: Run = { files: { a: {}, b: {} } };
    for (const side of ['a', 'b'] as const) {
      mkdirSync(join(dir, side), { recursive: true });
      for (const topic of topics) {
        const file = join(dir, side, topic);
        Channel.createFile({ namespace: NAMESPACE, name: `${topic}-${runId}` }, file, config).close();
        run.files[side][topic] = file;
      }
    }
    this.runs.set(runId, run);
    const port = this.nextPort++;
    const other: Record<Side, Side> = { a: 'b', b: 'a' };
    const replicators = (['a', 'b'] as const).map((side) => {
      const cfg: RemoteReplicatorConfig = {
        node: `host-${side}`,
        ip: this.pair.address[side],
        port,
        peer: { node: `host-${other[side]}`, ip: this.pair.address[other[side]], port },
        key: this.key,
        // As the agents run it: frames through a spool (the chart's agent.replication.spoolDir).
        spoolDir: join(dir, side, 'spool'),
        channels: topics.map((topic) => ({ namespace: NAMESPACE, name: `${topic}-${runId}`, file: run.files[side][topic]!, ...config })),
      };
      return runOn(this.pair, side, process.execPath, [REPLICATOR, JSON.stringify(cfg)]);
    });
    // However they end (killed, or failed): the run's cleanup and errors say what matters.
    const ended = replicators.map((r) => r.out.catch(() => ''));
    const cleanup = async () => {
      for (const r of replicators) r.child.kill('SIGTERM');
      await Promise.all(ended);
      this.runs.delete(runId);
      rmSync(dir, { recursive: true, force: true });
    };
    try {
      for (const r of replicators) await until(r, /connected/, 20_000);
    } catch (err) {
      await cleanup();
      throw err;
    }
    return { endpoints: { [SHM_SHARED_ENDPOINT]: '1' }, cleanup };
  }

  close(): void {
    this.pair.remove();
  }
}
