/**
 * `shimmy dev-cluster up` as a user runs it: the controller as its own process, health,
 * readiness and metrics endpoints, a second replica standing by for the master, graceful
 * shutdown on SIGTERM with the standby taking over, and `down` cleaning up.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoordinationV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { startController, type RunningController } from '../../src/controller/controller.js';
import { isAlive } from '../../src/devcluster/processes.js';
import { freePort } from '../../src/free-port.js';
import { readState, type DevClusterState } from '../../src/devcluster/cluster.js';
import { run } from '../helpers/proc.js';
import { eventually, quietPeriod } from '../helpers/wait.js';

const dir = join(mkdtempSync(join(tmpdir(), 'shimmy-dev-cli-')), 'cluster');
let state: DevClusterState;
let standby: RunningController | undefined;

beforeAll(async () => {
  const up = await run(['dev-cluster', 'up', '--fake-nodes', '--nodes', '2', '--dir', dir]);
  expect(up.code, up.stderr).toBe(0);
  expect(up.stderr).toMatch(/dev-cluster: kube-apiserver ready \(\d+\.\d s\)/);
  expect(up.stdout).toContain(`export KUBECONFIG=${dir}/kubeconfig`);
  state = readState(dir)!;
}, 600_000);

afterAll(async () => {
  await standby?.stop();
  await run(['dev-cluster', 'down', '--dir', dir]);
});

describe('shimmy dev-cluster and shimmy controller', () => {
  it('refuses a --dir that holds something else, and leaves it alone', async () => {
    const other = mkdtempSync(join(tmpdir(), 'shimmy-not-a-cluster-'));
    writeFileSync(join(other, 'notes.txt'), 'mine');
    const up = await run(['dev-cluster', 'up', '--fake-nodes', '--dir', other]);
    expect(up.code).toBe(1);
    expect(up.stderr).toMatch(/is not empty and holds no dev cluster.*\[SHIMMY_ERR_DEV_CLUSTER\]/);
    expect(readFileSync(join(other, 'notes.txt'), 'utf8')).toBe('mine');
  });

  it('serves /healthz, /readyz and Prometheus /metrics that count admissions', async () => {
    expect(await (await fetch(`${state.metricsUrl}/healthz`)).text()).toBe('ok');
    expect((await fetch(`${state.metricsUrl}/readyz`)).status).toBe(200);
    const kc = new KubeConfig();
    kc.loadFromFile(state.kubeconfig);
    const core = kc.makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: 'cli', labels: { 'shimmy.dev/injection': 'enabled' } } } });
    await core.createNamespacedPod({ namespace: 'cli', body: { metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'i' }] } } });
    const metrics = await (await fetch(`${state.metricsUrl}/metrics`)).text();
    expect(metrics).toMatch(/shimmy_admission_requests_total\{result="unchanged"\} 1/);
    expect(metrics).toMatch(/shimmy_admission_duration_seconds_bucket/);
    expect(metrics).toMatch(/shimmy_master_leader 1/);
    expect(metrics).toMatch(/shimmy_webhook_cert_expiry_timestamp_seconds \d/);
  });

  it('hands the master to a standby replica when the leader shuts down on SIGTERM', async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(state.kubeconfig);
    const coordination = kc.makeApiClient(CoordinationV1Api);
    const holder = async () => (await coordination.readNamespacedLease({ name: 'shimmy-controller', namespace: state.namespace })).spec?.holderIdentity;
    const first = await holder();
    standby = await startController({
      kubeconfig: state.kubeconfig,
      namespace: state.namespace,
      listen: '127.0.0.1',
      webhookPort: await freePort(),
      extenderPort: await freePort(),
      metricsPort: await freePort(),
      webhookUrl: state.webhookUrl,
      webhookService: 'shimmy-controller',
      webhookHosts: ['127.0.0.1'],
      schedulerName: 'shimmy-scheduler',
      caValidityMs: 365 * 86_400_000,
      certValidityMs: 30 * 86_400_000,
      certCheckMs: 60_000,
      leaderElection: true,
      identity: 'standby',
      shutdownGraceMs: 500,
      log: pino({ level: 'silent' }),
    });
    await quietPeriod(3000);
    expect(standby.isLeader()).toBe(false);
    expect(await holder()).toBe(first);

    const pid = state.pids.controller!;
    process.kill(pid, 'SIGTERM');
    await eventually('controller process exit', async () => !isAlive(pid), 15_000);
    await eventually('standby leads', async () => standby!.isLeader(), 10_000);
    expect(await holder()).toBe('standby');
  });

  it('down stops every process and removes the directory', async () => {
    const pids = Object.values(state.pids);
    await standby?.stop();
    standby = undefined;
    const down = await run(['dev-cluster', 'down', '--dir', dir]);
    expect(down.stdout).toContain('stopped and removed');
    for (const pid of pids) expect(isAlive(pid)).toBe(false);
    expect(existsSync(dir)).toBe(false);
  });
});
