/**
 * Shimmy installed by its Helm chart on real nodes (`shimmy dev-cluster up` runs
 * `helm install` as a user would): the node agents own the segments and report traffic,
 * an agent killed with SIGKILL mid-stream loses nothing, the controller's leader and a
 * `helm upgrade` refuse no admission, `helm test` passes, and `helm uninstall` leaves the
 * CRDs and nothing else, no segment on any node.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  AdmissionregistrationV1Api,
  ApiextensionsV1Api,
  AppsV1Api,
  CoordinationV1Api,
  KubernetesObjectApi,
  PatchStrategy,
  type KubernetesObject,
  type V1Pod,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { agentLeaseName } from '../../src/k8s/agent-leases.js';
import { channelKey } from '../../src/channel/names.js';
import { ErrorCode } from '../../src/errors.js';
import type { RequestSummary } from '../../src/cli/stream-commands.js';
import { agentsReady, CHART_DIR, helmEnv, RELEASE } from '../../src/devcluster/install.js';
import { CSI_DRIVER, ENDPOINT, GROUP, INJECTED_LABEL, INJECTION_LABEL, VERSION, type ChannelEndpoint } from '../../src/k8s/types.js';
import { CLI } from '../helpers/proc.js';
import { eventually } from '../helpers/wait.js';
import {
  channelOf,
  downRealCluster,
  injectedNamespace,
  logs,
  nodeOf,
  podPhase,
  readyChannel,
  shimmyPod,
  upRealCluster,
  verifySummary,
  waitRunning,
  waitSucceeded,
  type NodesCluster,
} from './nodes-fixture.js';

const exec = promisify(execFile);
const SYSTEM = 'shimmy-system';
let c: NodesCluster;

beforeAll(async () => {
  c = await upRealCluster(2);
}, 900_000);

afterAll(async () => {
  if (c) await downRealCluster(c);
});

/** DIR/bin/helm with the cluster's kubeconfig; rejects with its output when it fails. */
async function helm(...args: string[]): Promise<string> {
  const env = helmEnv(c.dir, c.state.kubeconfig);
  try {
    const { stdout, stderr } = await exec(join(c.dir, 'bin', 'helm'), args, { env, maxBuffer: 32 << 20, timeout: 300_000 });
    return stdout + stderr;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`helm ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}${e.stderr ?? ''}`);
  }
}

const values = () => join(c.dir, 'values-dev.yaml');

async function endpointOf(namespace: string, channel: string, node: string): Promise<ChannelEndpoint | undefined> {
  try {
    return (await c.custom.getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace,
      plural: ENDPOINT.plural,
      name: `${channel}.${node}`,
    })) as ChannelEndpoint;
  } catch {
    return undefined;
  }
}

async function agentPod(node: string) {
  const pods = await c.core.listNamespacedPod({
    namespace: SYSTEM,
    labelSelector: 'app.kubernetes.io/component=agent',
    fieldSelector: `spec.nodeName=${node}`,
  });
  expect(pods.items).toHaveLength(1);
  return pods.items[0]!;
}

/**
 * On a failure, the agents' logs (the previous container's too) and the named pods' logs go to
 * .cache/nodes-logs/<namespace>/, where CI keeps them.
 */
async function keepLogs(ns: string, pods: string[]) {
  const dir = join('.cache', 'nodes-logs', ns);
  mkdirSync(dir, { recursive: true });
  const keep = async (file: string, read: () => Promise<string>) => {
    try {
      writeFileSync(join(dir, file), await read());
    } catch (err) {
      writeFileSync(join(dir, file), `could not read: ${String(err)}`);
    }
  };
  for (const node of ['node-1', 'node-2']) {
    const pod = await agentPod(node);
    const name = pod.metadata!.name!;
    // How an agent's earlier container ended (exit code, signal, OOMKilled), if it did.
    await keep(`agent-${node}.status.json`, async () => JSON.stringify(pod.status?.containerStatuses, null, 2));
    await keep(`agent-${node}.log`, () => c.core.readNamespacedPodLog({ name, namespace: SYSTEM }));
    await keep(`agent-${node}.previous.log`, () => c.core.readNamespacedPodLog({ name, namespace: SYSTEM, previous: true }));
    await keep(`endpoint-${node}.json`, async () => JSON.stringify(await endpointOf(ns, 'frames', node), null, 2));
  }
  for (const pod of pods) await keep(`${pod}.log`, () => logs(c, ns, pod));
  console.error(`[nodes] logs of the failed test kept in ${dir}`);
}

/** Kills `node`'s agent process with SIGKILL; `restarted` waits for its container to be restarted by the kubelet and ready. */
async function killAgent(node: string): Promise<{ restarted: () => Promise<void> }> {
  const before = (await agentPod(node)).status?.containerStatuses?.[0]?.restartCount ?? 0;
  const victim = pidsOf('shimmy', 'agent', `--node=${node}`);
  expect(victim).toHaveLength(1);
  process.kill(victim[0]!, 'SIGKILL');
  return {
    restarted: async () => {
      await eventually(
        `${node}'s agent container restarted and ready`,
        async () => {
          const s = (await agentPod(node)).status?.containerStatuses?.[0];
          return (s?.restartCount ?? 0) > before && s?.ready === true;
        },
        90_000,
      );
    },
  };
}

async function agentLog(node: string): Promise<string> {
  const pod = await agentPod(node);
  return c.core.readNamespacedPodLog({ name: pod.metadata!.name!, namespace: SYSTEM });
}

/** The host pids of processes whose command line contains every one of `parts`. */
function pidsOf(...parts: string[]): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').join(' ');
        return parts.every((part) => cmd.includes(part));
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** The channels of the System V segments on `node`, listed as root on the host inside the node's IPC namespace (with CAP_IPC_OWNER: every segment). */
async function segmentsOn(node: string): Promise<string[]> {
  const holder = c.state.pids[`${node}/namespaces`];
  expect(holder, `${node}'s namespace holder`).toBeGreaterThan(0);
  const { stdout } = await exec('nsenter', ['-t', String(holder), '--ipc', '--', process.execPath, CLI, 'channel', 'ls', '--json']);
  return (JSON.parse(stdout) as Array<{ namespace: string; name: string }>).map((s) => `${s.namespace}/${s.name}`);
}

/**
 * The channels `shimmy channel ls` lists as root in a hostIPC pod on `node` (a privileged
 * namespace that is not opted in, the runtime's default capabilities: no IPC_OWNER).
 */
async function rootPodSees(node: string, tag: string): Promise<string[]> {
  const ns = 'inspect';
  await c.core.createNamespace({ body: { metadata: { name: ns, labels: { 'pod-security.kubernetes.io/enforce': 'privileged' } } } }).catch(() => undefined);
  await eventually('ServiceAccount inspect/default', async () => !!(await c.core.readNamespacedServiceAccount({ name: 'default', namespace: ns })), 60_000);
  const name = `ls-${tag}-${node}`;
  const body = shimmyPod(name, {}, ['channel', 'ls', '--json'], { nodeName: node, hostIPC: true, securityContext: { runAsUser: 0 } });
  delete body.spec!.containers[0]!.securityContext;
  await c.core.createNamespacedPod({ namespace: ns, body });
  await waitSucceeded(c, ns, [name]);
  return (JSON.parse(await logs(c, ns, name)) as Array<{ namespace: string; name: string }>).map((s) => `${s.namespace}/${s.name}`);
}

/** Where the image keeps the package's library (src/devcluster/images.ts). */
const IMAGE_LIB = '/opt/shimmy/node_modules/shimmy/dist/src/index.js';

/** The creator, owner and mode of the segment with `key` on `node`, from /proc/sysvipc/shm in the node's IPC namespace. */
async function segmentPerms(node: string, key: number) {
  const holder = c.state.pids[`${node}/namespaces`];
  const { stdout } = await exec('nsenter', ['-t', String(holder), '--ipc', '--', 'cat', '/proc/sysvipc/shm']);
  const f = stdout
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/))
    .find((cols) => (Number(cols[0]) | 0) === key);
  if (!f) return undefined;
  return { mode: Number.parseInt(f[2]!, 8) & 0o777, uid: Number(f[7]), gid: Number(f[8]), creatorUid: Number(f[9]), creatorGid: Number(f[10]) };
}

/** The memory files on `node`, channels' and replication spools' (read inside the node's mount namespace, as the kubelet sees it). */
async function filesOn(node: string): Promise<string[]> {
  const holder = c.state.pids[`${node}/namespaces`];
  expect(holder, `${node}'s namespace holder`).toBeGreaterThan(0);
  const { stdout } = await exec('nsenter', [
    '-t',
    String(holder),
    '--mount',
    '--',
    'sh',
    '-c',
    'find /run/shimmy/channels /run/shimmy/spool -type f 2>/dev/null; true',
  ]);
  return stdout.split('\n').filter(Boolean).sort();
}

/**
 * Creates a pod every `everyMs` (at most `max`, at least 3) until `done` settles; returns each
 * creation's outcome. The pods only sleep: what is tested is their admission.
 */
async function createPodsUntil(namespace: string, prefix: string, labels: Record<string, string>, done: Promise<unknown>, everyMs: number, max = 20) {
  let finished = false;
  void done.finally(() => (finished = true));
  const results: { name: string; error?: string; patched?: boolean }[] = [];
  for (let i = 0; (!finished && i < max) || i < 3; i++) {
    const name = `${prefix}-${i}`;
    const body = shimmyPod(name, labels, []);
    body.spec!.containers[0]!.command = ['sleep', '3600'];
    try {
      const pod = await c.core.createNamespacedPod({ namespace, body });
      results.push({ name, patched: pod.metadata?.labels?.[INJECTED_LABEL] === 'true' && !!pod.spec?.volumes?.some((v) => v.csi?.driver === CSI_DRIVER) });
    } catch (err) {
      results.push({ name, error: String((err as { body?: string }).body ?? err) });
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  await done;
  return results;
}

/** Deletes a test's namespace (its pods hold CPU and memory the next tests need). */
async function dropNamespace(name: string): Promise<void> {
  await c.core.deleteNamespace({ name, gracePeriodSeconds: 0 }).catch(() => undefined);
}

describe('Shimmy installed with its Helm chart on real nodes', () => {
  it('lints, renders manifests the API server accepts (server-side dry run), and is installed and ready', async () => {
    expect(await helm('lint', CHART_DIR, '-f', values())).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
    // Another release name and namespace, so nothing collides with the installed release.
    await c.core.createNamespace({ body: { metadata: { name: 'dry-run' } } });
    const rendered = await helm(
      'template',
      'dry',
      CHART_DIR,
      '-n',
      'dry-run',
      '-f',
      values(),
      '--set',
      'tests.enabled=false',
      '--set',
      'controller.extenderService.clusterIP=',
    );
    const objects = parseAllDocuments(rendered)
      .map((d) => d.toJSON() as KubernetesObject | null)
      .filter((o): o is KubernetesObject => !!o?.kind);
    expect(objects.map((o) => o.kind)).toEqual(
      expect.arrayContaining(['Deployment', 'DaemonSet', 'ClusterRole', 'Role', 'Service', 'PodDisruptionBudget', 'ConfigMap', 'Job']),
    );
    const api = KubernetesObjectApi.makeApiClient(c.kc);
    for (const o of objects) {
      if (!o.metadata!.namespace && o.kind !== 'ClusterRole' && o.kind !== 'ClusterRoleBinding') o.metadata!.namespace = 'dry-run';
      // The CSIDriver is one per cluster and the installed release has it: validate it as an update.
      const attempt = o.kind === 'CSIDriver' ? api.patch(o, undefined, 'All', 'dry-run', true, PatchStrategy.ServerSideApply) : api.create(o, undefined, 'All');
      await expect(attempt, `${o.kind} ${o.metadata!.name}`).resolves.toBeTruthy();
    }

    const status = await helm('status', RELEASE, '-n', SYSTEM);
    expect(status).toMatch(/STATUS: deployed/);
    const apps = c.kc.makeApiClient(AppsV1Api);
    const controller = await apps.readNamespacedDeployment({ name: 'shimmy-controller', namespace: SYSTEM });
    expect(controller.status?.availableReplicas).toBe(2);
    // shimmy-scheduler runs with the client certificate the controller keeps for it (it mounts the Secret).
    expect((await apps.readNamespacedDeployment({ name: 'shimmy-scheduler', namespace: SYSTEM })).status?.availableReplicas).toBe(1);
    expect((await c.core.readNamespacedSecret({ name: 'shimmy-extender-client', namespace: SYSTEM })).data?.['tls.crt']).toBeTruthy();
    const agents = await apps.readNamespacedDaemonSet({ name: 'shimmy-agent', namespace: SYSTEM });
    expect(agents.status?.numberReady).toBe(2);
    const coordination = c.kc.makeApiClient(CoordinationV1Api);
    for (const node of ['node-1', 'node-2']) {
      const lease = await coordination.readNamespacedLease({ name: agentLeaseName(node), namespace: SYSTEM });
      expect(lease.spec?.holderIdentity).toBe(node);
      const renewed = new Date(lease.spec!.renewTime as unknown as string).getTime();
      expect(Date.now() - renewed).toBeLessThan(lease.spec!.leaseDurationSeconds! * 1000);
    }
    // The controller runs in pods now, not on the host.
    expect(c.state.pids.controller).toBeUndefined();
  });

  it("has the agent make the channel's segment (no client does) and report the traffic into the endpoint, the channel and /metrics", async () => {
    const ns = 'agent-pipeline';
    const count = 100_000;
    await injectedNamespace(c, ns);
    await readyChannel(c, ns, 'frames', { selector: { matchLabels: { app: 'ap' } }, capacity: '1Mi', maxMessageSize: '4Ki', memory: 'HostIPC' });
    const subArgs = ['sub', 'frames', '--count', String(count), '--verify', '--json', '--quiet'];
    await c.core.createNamespacedPod({ namespace: ns, body: shimmyPod('sub-1', { app: 'ap' }, subArgs) });
    await c.core.createNamespacedPod({ namespace: ns, body: shimmyPod('sub-2', { app: 'ap' }, subArgs) });
    // 100,000 messages at 10,000/s: ten seconds to watch the reports.
    const pubArgs = ['pub', 'frames', '--count', String(count), '--size', '256', '--seq', '--rate', '10000', '--wait-subscribers', '2', '--timeout', '120s'];
    await c.core.createNamespacedPod({ namespace: ns, body: shimmyPod('pub', { app: 'ap' }, pubArgs) });
    await waitRunning(c, ns, ['sub-1', 'sub-2', 'pub']);
    const node = (await nodeOf(c, ns, 'pub'))!;
    expect(await nodeOf(c, ns, 'sub-1')).toBe(node);

    const reported = await eventually(
      'the endpoint reports one publisher, two subscribers and traffic',
      async () => {
        const e = await endpointOf(ns, 'frames', node);
        const s = e?.status;
        return s?.segment === 'Ready' && s.publishers === 1 && s.subscribers === 2 && (s.messages ?? 0) > 0 && (s.bytes ?? 0) > 0 ? e : undefined;
      },
      60_000,
    );
    expect(reported.status!.shmId).toBeGreaterThanOrEqual(0);
    const rolledUp = await eventually(
      'the channel status rolls the traffic up',
      async () => {
        const t = (await channelOf(c, ns, 'frames')).status?.traffic;
        return t && t.subscribers === 2 && t.messages > 0 ? t : undefined;
      },
      30_000,
    );
    expect(rolledUp.publishers).toBe(1);
    const agent = await agentPod(node);
    const metrics = await (await fetch(`http://${agent.status!.podIP}:9090/metrics`)).text();
    const series = (name: string) => Number(new RegExp(`^${name}\\{namespace="${ns}",channel="frames"\\} (\\d+)`, 'm').exec(metrics)?.[1] ?? NaN);
    expect(series('shimmy_channel_subscribers')).toBe(2);
    expect(series('shimmy_channel_publishers')).toBe(1);
    await eventually('messages counted in /metrics', async () => {
      const text = await (await fetch(`http://${agent.status!.podIP}:9090/metrics`)).text();
      return Number(new RegExp(`^shimmy_channel_messages_total\\{namespace="${ns}",channel="frames"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0) > 0;
    });
    expect(metrics).toMatch(/^shimmy_agent_segments [1-9]/m);

    await waitSucceeded(c, ns, ['pub', 'sub-1', 'sub-2']);
    for (const s of ['sub-1', 'sub-2']) expect(verifySummary(await logs(c, ns, s)), s).toMatchObject({ received: count, gaps: 0, outOfOrder: 0, corrupt: 0 });
    // The agent made it; the clients only waited for it.
    expect(await agentLog(node)).toMatch(new RegExp(`"channel":"${ns}/frames".*"segment created"`));
  });

  it("keeps a HostIPC channel to its own pods: another namespace's pod on the node cannot list, open, remove or squat it, and A's traffic stays exact", async () => {
    const [a, b, node, count] = ['ipc-tenant-a', 'ipc-tenant-b', 'node-1', 50_000] as const;
    await injectedNamespace(c, a);
    await injectedNamespace(c, b);
    const channelA = await readyChannel(c, a, 'frames', {
      selector: { matchLabels: { app: 'ia' } },
      capacity: '1Mi',
      maxMessageSize: '4Ki',
      memory: 'HostIPC',
    });
    const channelB = await readyChannel(c, b, 'own', { selector: { matchLabels: { app: 'ib' } }, memory: 'HostIPC' });
    const [groupA, groupB] = [channelA.status!.group!, channelB.status!.group!];
    expect(groupA).toBeGreaterThan(0);
    expect(groupB).not.toBe(groupA);
    const target = { namespace: a, name: 'frames', uid: channelA.metadata.uid! };
    const key = channelKey(target);
    // B's pods: hostIPC and B's group from B's own channel, uid 10001 like A's pods.
    const inB = (name: string, script: string) => {
      const body = shimmyPod(name, { app: 'ib' }, [], { nodeName: node });
      body.spec!.containers[0]!.command = ['node', '--input-type=module', '-e', `const lib = await import('${IMAGE_LIB}'); ${script}`];
      return body;
    };

    // Before A has a pod (so no segment): B makes a Shimmy-shaped segment under A's key that anyone may write.
    await c.core.createNamespacedPod({
      namespace: b,
      body: inB('squatter', `lib.Channel.create(${JSON.stringify(target)}, { capacity: 65536, maxMessage: 1024, permissions: 0o666 }).close();`),
    });
    await waitSucceeded(c, b, ['squatter']);
    expect(await segmentPerms(node, key)).toMatchObject({ creatorUid: 10001, mode: 0o666 });

    const subArgs = ['sub', 'frames', '--count', String(count), '--verify', '--json', '--quiet'];
    for (const s of ['sub-1', 'sub-2']) await c.core.createNamespacedPod({ namespace: a, body: shimmyPod(s, { app: 'ia' }, subArgs, { nodeName: node }) });
    const pubArgs = ['pub', 'frames', '--count', String(count), '--size', '256', '--seq', '--rate', '5000', '--wait-subscribers', '2', '--timeout', '120s'];
    await c.core.createNamespacedPod({ namespace: a, body: shimmyPod('pub', { app: 'ia' }, pubArgs, { nodeName: node }) });
    await waitRunning(c, a, ['sub-1', 'sub-2', 'pub']);
    // The agent replaced the squat with its own segment: owner 64500, A's group, nobody else.
    expect(await segmentPerms(node, key)).toEqual({ uid: 64500, creatorUid: 64500, gid: groupA, creatorGid: groupA, mode: 0o660 });
    expect(await agentLog(node)).toMatch(new RegExp(`"channel":"${a}/frames".*"reason":"untrusted".*"segment removed"`));

    // While A's traffic flows, B's pod tries A's segment by its key.
    const probe = `const n = await import('${IMAGE_LIB.replace('index.js', 'shm/native.js')}');
      const out = { listed: lib.Channel.list().map((r) => r.namespace + '/' + r.name) };
      try { lib.Channel.open(${JSON.stringify(target)}); out.open = 'opened'; } catch (e) { out.open = e.code; }
      const id = n.shmget(${key}, 0, 0);
      out.remove = id < 0 ? id : n.shmRemove(id);
      out.squat = n.shmget(${key}, 4096, 0o1000 | 0o2000 | 0o666);
      console.log(JSON.stringify(out));`;
    await c.core.createNamespacedPod({ namespace: b, body: inB('prober', probe) });
    await waitSucceeded(c, b, ['prober']);
    const seen = JSON.parse((await logs(c, b, 'prober')).trim().split('\n').pop()!) as { listed: string[]; open: string; remove: number; squat: number };
    expect(seen.listed).toContain(`${b}/own`);
    expect(seen.listed).not.toContain(`${a}/frames`);
    expect(seen).toMatchObject({ open: ErrorCode.PERMISSION_DENIED, remove: -1, squat: -17 });

    // What would get past the segment's owner and group is refused at admission in B.
    const refusal = async (body: V1Pod) => {
      try {
        await c.core.createNamespacedPod({ namespace: b, body });
      } catch (err) {
        return String((err as { body?: string }).body ?? err);
      }
      throw new Error(`pod ${body.metadata!.name} was admitted`);
    };
    const run = ['sub', 'frames', '--namespace', a, '--count', '1'];
    expect(await refusal(shimmyPod('as-root', { app: 'ib' }, run, { nodeName: node, securityContext: { runAsUser: 0, runAsGroup: 0 } }))).toMatch(
      /must set runAsUser/,
    );
    expect(await refusal(shimmyPod('as-owner', { app: 'ib' }, run, { nodeName: node, securityContext: { runAsUser: 64500, runAsGroup: 10001 } }))).toMatch(
      /segment owner 64500/,
    );
    const withGroup = shimmyPod('with-a-group', { app: 'ib' }, run, { nodeName: node });
    withGroup.spec!.securityContext!.supplementalGroups = [groupA];
    withGroup.metadata!.annotations = { 'shimmy.dev/groups': String(groupA) };
    expect(await refusal(withGroup)).toMatch(/are the channels' groups/);
    const ipcOwner = shimmyPod('ipc-owner', { app: 'ib' }, run, { nodeName: node });
    ipcOwner.spec!.containers[0]!.securityContext = { allowPrivilegeEscalation: false, capabilities: { add: ['IPC_OWNER'] } };
    expect(await refusal(ipcOwner)).toMatch(/may add only the capabilities/);

    await waitSucceeded(c, a, ['pub', 'sub-1', 'sub-2']);
    for (const s of ['sub-1', 'sub-2']) expect(verifySummary(await logs(c, a, s)), s).toMatchObject({ received: count, gaps: 0, outOfOrder: 0, corrupt: 0 });
    await dropNamespace(b);
    await dropNamespace(a);
  });

  it('runs pods without hostIPC in a "restricted" namespace on a Volume channel, exactly; a pod of another namespace cannot mount it', async () => {
    const ns = 'restricted-pipeline';
    const count = 100_000;
    await c.core.createNamespace({
      body: { metadata: { name: ns, labels: { [INJECTION_LABEL]: 'enabled', 'pod-security.kubernetes.io/enforce': 'restricted' } } },
    });
    await eventually(`ServiceAccount ${ns}/default`, async () => !!(await c.core.readNamespacedServiceAccount({ name: 'default', namespace: ns })), 60_000);
    await readyChannel(c, ns, 'frames', {
      selector: { matchLabels: { app: 'rv' } },
      capacity: '1Mi',
      maxMessageSize: '4Ki',
      memory: 'Volume',
      placement: 'Require',
    });
    const restricted = (name: string, args: string[], labels: Record<string, string> = { app: 'rv' }) => {
      const body = shimmyPod(name, labels, args, { securityContext: { runAsNonRoot: true, runAsUser: 10001, seccompProfile: { type: 'RuntimeDefault' } } });
      body.spec!.containers[0]!.securityContext = { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } };
      return body;
    };
    const subArgs = ['sub', 'frames', '--count', String(count), '--verify', '--json', '--quiet'];
    for (const name of ['sub-1', 'sub-2']) await c.core.createNamespacedPod({ namespace: ns, body: restricted(name, subArgs) });
    const pubArgs = ['pub', 'frames', '--count', String(count), '--size', '256', '--seq', '--wait-subscribers', '2', '--timeout', '120s'];
    const pub = await c.core.createNamespacedPod({ namespace: ns, body: restricted('pub', pubArgs) });
    expect(pub.spec!.hostIPC).toBeFalsy();
    expect(pub.spec!.volumes).toContainEqual({ name: 'shimmy-frames', csi: { driver: 'shimmy.dev', volumeAttributes: { channel: 'frames' } } });
    await waitSucceeded(c, ns, ['pub', 'sub-1', 'sub-2']);
    for (const s of ['sub-1', 'sub-2']) expect(verifySummary(await logs(c, ns, s)), s).toMatchObject({ received: count, gaps: 0, outOfOrder: 0, corrupt: 0 });
    const node = (await nodeOf(c, ns, 'pub'))!;
    expect(await agentLog(node)).toMatch(new RegExp(`"channel":"${ns}/frames".*"memory":"Volume".*"segment created"`));
    // The channel is a file on the node's tmpfs, which root in a hostIPC pod does not see.
    expect(await filesOn(node)).toContain(`/run/shimmy/channels/${ns}/frames/ring`);
    expect(await rootPodSees(node, 'rv')).not.toContain(`${ns}/frames`);

    // Another tenant names the channel in its own inline volume, and claims A's namespace: refused, never mounted.
    const other = 'other-tenant';
    await c.core.createNamespace({ body: { metadata: { name: other, labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } } } });
    await eventually(
      `ServiceAccount ${other}/default`,
      async () => !!(await c.core.readNamespacedServiceAccount({ name: 'default', namespace: other })),
      60_000,
    );
    const thief = restricted('thief', ['sub', 'frames', '--count', '1', '--quiet'], {});
    thief.spec!.nodeName = node;
    thief.spec!.volumes = [{ name: 'stolen', csi: { driver: 'shimmy.dev', volumeAttributes: { channel: 'frames', namespace: ns } } }];
    thief.spec!.containers[0]!.volumeMounts = [{ name: 'stolen', mountPath: '/var/run/shimmy/channels/frames' }];
    await c.core.createNamespacedPod({ namespace: other, body: thief });
    const refused = await eventually(
      'a FailedMount event for the thief',
      async () => {
        const events = await c.core.listNamespacedEvent({ namespace: other, fieldSelector: 'involvedObject.name=thief' });
        return events.items.find((e) => e.reason === 'FailedMount' && /PermissionDenied|PERMISSION_DENIED/i.test(e.message ?? ''));
      },
      60_000,
    );
    expect(refused.message).toMatch(/namespace/);
    expect(await podPhase(c, other, 'thief')).toBe('Pending');
    await dropNamespace(other);
    await dropNamespace(ns);
  });

  it('loses and duplicates nothing when the agent is killed with SIGKILL mid-stream, and keeps the segment', async () => {
    const ns = 'agent-kill';
    const count = 80_000;
    await injectedNamespace(c, ns);
    await readyChannel(c, ns, 'frames', { selector: { matchLabels: { app: 'ak' } }, capacity: '1Mi', maxMessageSize: '4Ki', memory: 'HostIPC' });
    await c.core.createNamespacedPod({
      namespace: ns,
      body: shimmyPod('sub', { app: 'ak' }, ['sub', 'frames', '--count', String(count), '--verify', '--json', '--quiet']),
    });
    await c.core.createNamespacedPod({
      namespace: ns,
      body: shimmyPod('pub', { app: 'ak' }, [
        'pub',
        'frames',
        '--count',
        String(count),
        '--size',
        '128',
        '--seq',
        '--rate',
        '10000',
        '--wait-subscribers',
        '1',
        '--timeout',
        '120s',
      ]),
    });
    await waitRunning(c, ns, ['sub', 'pub']);
    const node = (await nodeOf(c, ns, 'pub'))!;
    const before = await eventually('the endpoint reports traffic', async () => {
      const s = (await endpointOf(ns, 'frames', node))?.status;
      return s?.segment === 'Ready' && (s.messages ?? 0) > 0 ? s : undefined;
    });
    const victim = pidsOf('shimmy', 'agent', `--node=${node}`);
    expect(victim).toHaveLength(1);
    process.kill(victim[0]!, 'SIGKILL');
    await eventually(
      'the agent container restarted and ready',
      async () => {
        const s = (await agentPod(node)).status?.containerStatuses?.[0];
        return (s?.restartCount ?? 0) >= 1 && s?.ready === true;
      },
      90_000,
    );
    await waitSucceeded(c, ns, ['pub', 'sub']);
    expect(verifySummary(await logs(c, ns, 'sub'))).toMatchObject({ received: count, gaps: 0, outOfOrder: 0, corrupt: 0 });
    // The new agent adopted the segment: same id, and it neither removed nor recreated it.
    const log = await agentLog(node);
    expect(log).not.toMatch(new RegExp(`"channel":"${ns}/frames".*"segment (created|removed)"`));
    const after = (await endpointOf(ns, 'frames', node))?.status;
    if (after?.shmId !== undefined) expect(after.shmId).toBe(before.shmId);
  });

  it('refuses no admission while the leader controller pod is deleted; the standby takes the master over', async () => {
    const ns = 'leader-change';
    await injectedNamespace(c, ns);
    await readyChannel(c, ns, 'busy', { selector: { matchLabels: { app: 'lc' } } });
    const coordination = c.kc.makeApiClient(CoordinationV1Api);
    const holder = async () => (await coordination.readNamespacedLease({ name: 'shimmy-controller', namespace: SYSTEM })).spec?.holderIdentity ?? '';
    const leader = await holder();
    const leaderPod = leader.split('_')[0]!;
    expect(leaderPod).toMatch(/^shimmy-controller-/);
    const deleted = c.core.deleteNamespacedPod({ name: leaderPod, namespace: SYSTEM });
    const created = await createPodsUntil(
      ns,
      'lc',
      { app: 'lc' },
      eventually('a new leader', async () => (await holder()) !== leader && !(await holder()).startsWith(leaderPod), 60_000),
      500,
    );
    await deleted;
    expect(created.filter((r) => r.error)).toEqual([]);
    expect(created.every((r) => r.patched)).toBe(true);
    // The new leader's master counts every pod of the channel.
    await eventually('the channel status counts every pod', async () => (await channelOf(c, ns, 'busy')).status?.pods === created.length, 60_000);
    await dropNamespace(ns);
  });

  it('refuses no admission during `helm upgrade` with changed values, rolls the controller to them, and keeps the replication key', async () => {
    const ns = 'upgrade';
    const replicationKey = async () => (await c.core.readNamespacedSecret({ name: 'shimmy-replication-key', namespace: SYSTEM })).data?.key;
    const keyBefore = await replicationKey();
    expect(Buffer.from(keyBefore ?? '', 'base64').toString()).toMatch(/^[A-Za-z0-9]{64}$/);
    await injectedNamespace(c, ns);
    await readyChannel(c, ns, 'busy', { selector: { matchLabels: { app: 'up' } } });
    // A short grace period too, for the next test.
    const upgrade = helm(
      'upgrade',
      RELEASE,
      CHART_DIR,
      '-n',
      SYSTEM,
      '-f',
      values(),
      '--set',
      'logLevel=debug',
      '--set',
      'agent.segmentGrace=5s',
      '--wait',
      '--timeout',
      '5m',
    );
    const created = await createPodsUntil(ns, 'up', { app: 'up' }, upgrade, 1000);
    expect(created.filter((r) => r.error)).toEqual([]);
    expect(created.every((r) => r.patched)).toBe(true);
    expect(created.length).toBeGreaterThan(3);
    const pods = await c.core.listNamespacedPod({ namespace: SYSTEM, labelSelector: 'app.kubernetes.io/component=controller' });
    const running = pods.items.filter((p) => !p.metadata?.deletionTimestamp);
    expect(running.length).toBeGreaterThanOrEqual(2);
    for (const p of running) expect(p.spec!.containers[0]!.args).toContain('--log-level=debug');
    // A new key would split the agents in two while they roll: old ones and new ones drop each other's frames.
    expect(await replicationKey()).toBe(keyBefore);
    // The agents rolled too; channel pods are placed only where an agent is ready.
    await agentsReady(c.state.kubeconfig);
    await dropNamespace(ns);
  });

  it('removes a segment once no endpoint wants it and no process is attached, after the grace period', async () => {
    const ns = 'agent-grace';
    await injectedNamespace(c, ns);
    await readyChannel(c, ns, 'brief', { selector: { matchLabels: { app: 'gr' } }, capacity: '64Ki', maxMessageSize: '1Ki', memory: 'HostIPC' });
    await c.core.createNamespacedPod({ namespace: ns, body: shimmyPod('sub', { app: 'gr' }, ['sub', 'brief', '--count', '100', '--quiet']) });
    await c.core.createNamespacedPod({ namespace: ns, body: shimmyPod('pub', { app: 'gr' }, ['pub', 'brief', '--count', '100', '--wait-subscribers', '1']) });
    await waitSucceeded(c, ns, ['sub', 'pub']);
    const node = (await nodeOf(c, ns, 'sub'))!;
    // Both pods ended: the master drops the endpoint, and 5 s later the agent the segment.
    await eventually('the endpoint is gone', async () => (await endpointOf(ns, 'brief', node)) === undefined, 30_000);
    const removed = await eventually(
      'the agent removed the segment',
      async () => /"channel":"agent-grace\/brief".*"reason":"orphaned".*"segment removed"/.exec(await agentLog(node))?.[0],
      60_000,
    );
    expect(removed).toBeTruthy();
    expect(await segmentsOn(node)).not.toContain(`${ns}/brief`);
    await dropNamespace(ns);
  });

  /** The channel's replication with `peer`, as the agent of `node` reports it, once its link is connected. */
  const connectedTo = (ns: string, node: string, peer: string, channel = 'frames') =>
    eventually(
      `${node}'s agent replicates ${ns}/${channel} with ${peer}`,
      async () => {
        const r = (await endpointOf(ns, channel, node))?.status?.replication?.find((p) => p.node === peer);
        return r?.link === 'Connected' ? r : undefined;
      },
      60_000,
    );

  /** Both nodes' agents replicate the channel, each over TCP to the other. */
  const linksConnected = async (ns: string, channel: string) => {
    for (const [node, peer] of [
      ['node-1', 'node-2'],
      ['node-2', 'node-1'],
    ] as const)
      expect(await connectedTo(ns, node, peer, channel)).toMatchObject({ transport: expect.stringMatching(/^tcp\//) });
  };

  /** Pods of the shimmy image running `args`, each on its node, started and running. */
  const runningOnNodes = async (ns: string, labels: Record<string, string>, args: string[], pods: [name: string, node: string][]) => {
    for (const [name, node] of pods) await c.core.createNamespacedPod({ namespace: ns, body: shimmyPod(name, labels, args, { nodeName: node }) });
    await waitRunning(
      c,
      ns,
      pods.map(([name]) => name),
    );
  };

  /**
   * The node's link (eth0 in its network namespace) down for `ms`, then up. Taking a link down
   * removes the routes through it; they are put back as a node's network setup would.
   */
  const linkDown = async (node: string, ms: number) => {
    const inNode = (...args: string[]) => exec('nsenter', ['-t', String(c.state.pids[`${node}/namespaces`]!), '--net', '--', ...args]);
    const routes = (await inNode('ip', 'route', 'show')).stdout.split('\n').filter(Boolean);
    await inNode('ip', 'link', 'set', 'eth0', 'down');
    await new Promise((r) => setTimeout(r, ms));
    await inNode('ip', 'link', 'set', 'eth0', 'up');
    for (const route of routes) await inNode('ip', 'route', 'replace', ...route.trim().split(/\s+/));
  };

  /** A counter of the agent of `node` from its /metrics (0 when absent). */
  const agentCounter = async (node: string, series: string) => {
    const agent = await agentPod(node);
    const text = await (await fetch(`http://${agent.status!.podIP}:9090/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${series} `));
    return line ? Number(line.slice(series.length + 1)) : 0;
  };

  /**
   * A pub/sub channel across node-1 and node-2: two subscribers on node-2 and one on node-1
   * first, then a publisher on node-1 of `count` sequenced messages of `size` bytes. Resolves
   * to the agents' counters of the channel afterwards (the endpoints go with the pods).
   */
  async function acrossNodes(
    ns: string,
    memory: 'Volume' | 'HostIPC',
    count: number,
    size: number,
    during: () => Promise<void> = async () => {},
    { pubExtra = [] as string[], landedByOneAgent = true } = {},
  ) {
    await injectedNamespace(c, ns);
    await readyChannel(c, ns, 'frames', { selector: { matchLabels: { app: 'xn' } }, capacity: '4Mi', maxMessageSize: '128Ki', memory, placement: 'None' });
    const subArgs = ['sub', 'frames', '--count', String(count), '--verify', '--json', '--quiet'];
    const subs: [string, string][] = [
      ['sub-2a', 'node-2'],
      ['sub-2b', 'node-2'],
      ['sub-1', 'node-1'],
    ];
    await runningOnNodes(ns, { app: 'xn' }, subArgs, subs);
    await linksConnected(ns, 'frames');
    await eventually(
      '/metrics has the link and its transport',
      async () => (await agentCounter('node-1', 'shimmy_replication_link_up{peer="node-2",transport="tcp/eth0"}')) === 1,
    );
    await eventually('the Split condition says the agents replicate, every link connected', async () => {
      const split = (await channelOf(c, ns, 'frames')).status?.conditions?.find((x) => x.type === 'Split');
      return split?.status === 'True' && /the agents replicate it between the nodes$/.test(split.message ?? '');
    });
    // Every subscriber in: node-2's two and its agent's, node-1's one and its agent's (the one that forwards).
    await eventually('every subscriber on node-2', async () => (await endpointOf(ns, 'frames', 'node-2'))?.status?.subscribers === 3, 60_000);
    await eventually('every subscriber on node-1', async () => (await endpointOf(ns, 'frames', 'node-1'))?.status?.subscribers === 2, 60_000);
    const restarts = async () => Promise.all(['node-1', 'node-2'].map(async (n) => (await agentPod(n)).status?.containerStatuses?.[0]?.restartCount ?? 0));
    const restartsBefore = await restarts();
    const pubArgs = ['pub', 'frames', '--count', String(count), '--size', String(size), '--seq', '--wait-subscribers', '2', '--timeout', '300s', ...pubExtra];
    await c.core.createNamespacedPod({ namespace: ns, body: shimmyPod('pub', { app: 'xn' }, pubArgs, { nodeName: 'node-1' }) });
    await waitRunning(c, ns, ['pub']);
    await during();
    try {
      await waitSucceeded(c, ns, ['pub', ...subs.map(([name]) => name)], 240_000);
    } catch (err) {
      await keepLogs(ns, ['pub', ...subs.map(([name]) => name)]);
      throw err;
    }
    for (const [name] of subs) expect(verifySummary(await logs(c, ns, name)), name).toMatchObject({ received: count, gaps: 0, outOfOrder: 0, corrupt: 0 });
    // Only the test's own kill restarts an agent (a crash would show here, with how it ended).
    if (landedByOneAgent) {
      const after = await restarts();
      if (after.join() !== restartsBefore.join()) await keepLogs(ns, []);
      expect(after, 'agent restarts on node-1 and node-2 (see .cache/nodes-logs)').toEqual(restartsBefore);
    }
    const labels = (peer: string) => `namespace="${ns}",channel="frames",peer="${peer}"`;
    // The agents write their counters into /metrics every few seconds.
    const reached = (node: string, series: string) =>
      eventually(`${series} on ${node} reaches ${count}`, async () => {
        const n = await agentCounter(node, series);
        return n >= count ? n : undefined;
      });
    const inSeries = `shimmy_replication_messages_total{${labels('node-1')},direction="in"}`;
    const outSeries = `shimmy_replication_messages_total{${labels('node-2')},direction="out"}`;
    return {
      // Counters start again with a restarted agent.
      out: landedByOneAgent ? await reached('node-1', outSeries) : await agentCounter('node-1', outSeries),
      in: landedByOneAgent ? await reached('node-2', inSeries) : await agentCounter('node-2', inSeries),
      resent: await agentCounter('node-1', `shimmy_replication_resent_total{${labels('node-2')}}`),
      repeats: await agentCounter('node-2', `shimmy_replication_repeats_total{${labels('node-1')}}`),
      resumes: await agentCounter('node-2', `shimmy_replication_resumes_total{${labels('node-1')}}`),
    };
  }

  it('replicates a pub/sub channel between nodes: a publisher on node-1, a subscriber there and two on node-2 get 1,000,000 sequenced messages exactly', async () => {
    const count = 1_000_000;
    const started = Date.now();
    const counters = await acrossNodes('across-small', 'Volume', count, 16);
    console.log(`[across-nodes] 1,000,000 16-byte messages to 3 subscribers on 2 nodes in ${((Date.now() - started) / 1000).toFixed(1)} s (pods included)`);
    expect(counters).toEqual({ out: count, in: count, resent: 0, repeats: 0, resumes: 0 });
    // The pod's seccomp profile (RuntimeDefault) lets the replication thread sleep on the rings (futex_waitv).
    for (const node of ['node-1', 'node-2']) expect(await agentLog(node)).not.toMatch(/cannot wake the replication thread/);
  });

  it("replicates 2,000 sequenced 100 KB messages exactly (a HostIPC channel), through 3 s with node-2's link down mid-stream", async () => {
    const counters = await acrossNodes('across-big', 'HostIPC', 2_000, 100 * 1024, async () => {
      await new Promise((r) => setTimeout(r, 1000));
      await linkDown('node-2', 3000);
    });
    expect(counters).toMatchObject({ out: 2_000, in: 2_000 });
  });

  it("goes on exactly when node-1's (sending) agent and then node-2's (landing) agent are killed with SIGKILL mid-stream: each restarted agent goes on from what the killed one left", async () => {
    // 20 s of publishing: node-2's restarted agent must be back while node-1 still publishes (see docs/replication.md, Limits).
    const count = 400_000;
    const counters = await acrossNodes(
      'across-kill',
      'Volume',
      count,
      64,
      async () => {
        await new Promise((r) => setTimeout(r, 1500));
        // Node-2's agent goes before node-1's is back (a restart can take the kubelet's back-off,
        // 10 s and more): node-1's publisher, held back meanwhile, then still has messages for it.
        const killed = [await killAgent('node-1'), await killAgent('node-2')];
        for (const k of killed) await k.restarted();
      },
      { pubExtra: ['--rate', '20000'], landedByOneAgent: false },
    );
    // Every subscriber exact (acrossNodes checks). Node-1's new agent went on from the spool the killed one left.
    expect(await agentLog('node-1')).toMatch(/"channel":"across-kill\/frames".*going on from the spool an earlier agent left/);
    const series = (name: string, peer: string) => `shimmy_replication_${name}{namespace="across-kill",channel="frames",peer="${peer}"}`;
    const recovered = await agentCounter('node-1', series('recovered_total', 'node-2'));
    console.log(
      `[across-kill] node-1's new agent sent ${counters.out} messages, ${recovered} of them from the killed one's spool; node-2's new agent landed ${counters.in}`,
    );
    expect(counters.out).toBeGreaterThan(0);
    expect(counters.out).toBeLessThan(count);
    // Node-2's new agent adopted the landing state the killed one left.
    await eventually('the restarted agent on node-2 counts its resume', async () => (await agentCounter('node-2', series('resumes_total', 'node-1'))) === 1);
    expect(counters.in).toBeGreaterThan(0);
    expect(counters.in).toBeLessThan(count);
  });

  it("keeps the sending node's endpoint while its frames are unacknowledged: node-2's agent, frozen while node-1's pods finish and then restarted, still lands them", async () => {
    // 48,000 64-byte messages at 6,000 a second: 8 s, so node-1's status (every 5 s) shows them unacknowledged before its pods end; they
    // fit its window; and node-2's agent is killed before its liveness probe (3 x 10 s) restarts it.
    const count = 48_000;
    const ns = 'across-left';
    await acrossNodes(
      ns,
      'Volume',
      count,
      64,
      async () => {
        await new Promise((r) => setTimeout(r, 1000));
        const [agent2] = pidsOf('shimmy', 'agent', '--node=node-2');
        process.kill(agent2!, 'SIGSTOP');
        try {
          await waitSucceeded(c, ns, ['pub', 'sub-1'], 60_000);
          // Node-1 has no pods left; its endpoint stays (with none) while node-2 owes acknowledgements.
          await eventually('node-1 kept without pods', async () => (await endpointOf(ns, 'frames', 'node-1'))?.spec.pods.length === 0, 30_000);
          expect((await endpointOf(ns, 'frames', 'node-1'))?.status?.replication?.[0]?.unacknowledged).toBeGreaterThan(0);
        } finally {
          process.kill(agent2!, 'SIGKILL');
        }
        await eventually(
          "node-2's agent container restarted and ready",
          async () => {
            const s = (await agentPod('node-2')).status?.containerStatuses?.[0];
            return (s?.restartCount ?? 0) >= 1 && s?.ready === true;
          },
          90_000,
        );
      },
      { pubExtra: ['--rate', '6000'], landedByOneAgent: false },
    );
    // Every subscriber exact (acrossNodes checks); once node-2 acknowledged everything, node-1's endpoint goes.
    await eventually('node-1 let go', async () => (await endpointOf(ns, 'frames', 'node-1')) === undefined, 60_000);
  });

  /**
   * A stream channel `jobs` across node-1 and node-2: a replier on node-1 (unless not
   * `replierOnNode1`) and two on node-2, then
   * a requester on node-1 of `count` requests; `during` runs once it is created. Resolves to
   * the requester's summary, checked: each request answered exactly once, some on node-2.
   */
  async function requestsAcrossNodes(
    ns: string,
    count: number,
    { during = async () => {}, replierOnNode1 = true }: { during?: () => Promise<void>; replierOnNode1?: boolean } = {},
  ): Promise<RequestSummary> {
    await injectedNamespace(c, ns);
    await readyChannel(c, ns, 'jobs', { selector: { matchLabels: { app: ns } }, mode: 'Stream', memory: 'Volume', placement: 'None' });
    const repliers: [string, string][] = [
      ['reply-2a', 'node-2'],
      ['reply-2b', 'node-2'],
      ...(replierOnNode1 ? [['reply-1', 'node-1'] as [string, string]] : []),
    ];
    await runningOnNodes(ns, { app: ns }, ['reply', 'jobs', '--json'], repliers);
    // Node-1 is in the channel once a pod of it is there: the requester, when no replier is.
    if (replierOnNode1) await linksConnected(ns, 'jobs');
    await eventually('the repliers on node-2 in', async () => (await endpointOf(ns, 'jobs', 'node-2'))?.status?.streamEnds === 2, 60_000);
    await c.core.createNamespacedPod({
      namespace: ns,
      body: shimmyPod('request', { app: ns }, ['request', 'jobs', '--count', String(count), '--timeout', '300s', '--json'], { nodeName: 'node-1' }),
    });
    try {
      await during();
      await waitSucceeded(c, ns, ['request'], 330_000);
    } catch (err) {
      await keepLogs(ns, ['request', ...repliers.map(([name]) => name)]);
      throw err;
    }
    const seen = JSON.parse((await logs(c, ns, 'request')).trim().split('\n').pop()!) as RequestSummary;
    console.log(`[${ns}] ${count} requests answered across 2 nodes in ${seen.seconds} s: ${JSON.stringify(seen.byReplier)}`);
    expect(seen).toMatchObject({ requests: count, answers: count, twice: 0, unknown: 0 });
    // The repliers answer with their pod's name: node-2's took part, and their answers came back.
    expect((seen.byReplier['reply-2a'] ?? 0) + (seen.byReplier['reply-2b'] ?? 0)).toBeGreaterThan(0);
    return seen;
  }

  const streamSeries = (ns: string, name: string, peer: string, direction?: string) =>
    `shimmy_replication_${name}{namespace="${ns}",channel="jobs",peer="${peer}"${direction ? `,direction="${direction}"` : ''}}`;

  it('answers each of 100,000 requests exactly once across nodes on a stream channel: a requester and a replier on node-1, two repliers on node-2', async () => {
    const ns = 'across-stream';
    const seen = await requestsAcrossNodes(ns, 100_000, {});
    const crossed = (seen.byReplier['reply-2a'] ?? 0) + (seen.byReplier['reply-2b'] ?? 0);
    // Requests out to node-2 and its answers back, each once.
    for (const [node, peer] of [
      ['node-1', 'node-2'],
      ['node-2', 'node-1'],
    ] as const) {
      const series = (direction: string) => streamSeries(ns, 'messages_total', peer, direction);
      await eventually(`${node} counts ${crossed} messages out to ${peer}`, async () => (await agentCounter(node, series('out'))) === crossed);
      await eventually(`${node} counts ${crossed} messages in from ${peer}`, async () => (await agentCounter(node, series('in'))) === crossed);
    }
  });

  it("answers each of 10,000,000 requests from node-1 exactly once by repliers on node-2 while both nodes' agents are killed with SIGKILL mid-stream", async () => {
    const ns = 'stream-kill';
    const during = async () => {
      await eventually(
        'requests crossing to node-2',
        async () => (await agentCounter('node-1', streamSeries(ns, 'messages_total', 'node-2', 'out'))) > 0,
        120_000,
      );
      // Both agents die holding frames of requests and of answers; their containers restart on the same nodes.
      const killed = [await killAgent('node-1'), await killAgent('node-2')];
      // The requests were still crossing when the agents went.
      expect((await c.core.readNamespacedPod({ name: 'request', namespace: ns })).status?.phase).toBe('Running');
      for (const k of killed) await k.restarted();
    };
    await requestsAcrossNodes(ns, 10_000_000, { during, replierOnNode1: false });
    const recovered = [
      await agentCounter('node-1', streamSeries(ns, 'recovered_total', 'node-2')),
      await agentCounter('node-2', streamSeries(ns, 'recovered_total', 'node-1')),
    ];
    console.log(`[${ns}] sent again from the killed agents' spools: node-1 ${recovered[0]}, node-2 ${recovered[1]}`);
  });

  it('passes `helm test` (a publisher and a subscriber through a channel)', async () => {
    const out = await helm('test', RELEASE, '-n', SYSTEM, '--timeout', '3m');
    expect(out).toMatch(/Phase:\s+Succeeded/);
  });

  it('`helm uninstall` removes everything but the CRDs and leaves no segment or memory file on any node, used ones included', async () => {
    const ns = 'uninstall';
    await injectedNamespace(c, ns);
    await readyChannel(c, ns, 'kept', { selector: { matchLabels: { app: 'un' } }, memory: 'HostIPC' });
    await readyChannel(c, ns, 'kept-file', { selector: { matchLabels: { app: 'un-file' } }, memory: 'Volume' });
    // Subscribers that never end keep their segment attached, their file mounted, until the uninstall.
    await c.core.createNamespacedPod({ namespace: ns, body: shimmyPod('waiting', { app: 'un' }, ['sub', 'kept', '--quiet']) });
    await c.core.createNamespacedPod({ namespace: ns, body: shimmyPod('waiting-file', { app: 'un-file' }, ['sub', 'kept-file', '--quiet']) });
    await waitRunning(c, ns, ['waiting', 'waiting-file']);
    const node = (await nodeOf(c, ns, 'waiting'))!;
    await eventually('the subscriber is attached', async () => (await endpointOf(ns, 'kept', node))?.status?.subscribers === 1, 60_000);
    expect(await segmentsOn(node)).toContain(`${ns}/kept`);
    const fileNode = (await nodeOf(c, ns, 'waiting-file'))!;
    expect(await filesOn(fileNode)).toContain(`/run/shimmy/channels/${ns}/kept-file/ring`);

    const out = await helm('uninstall', RELEASE, '-n', SYSTEM, '--wait', '--timeout', '5m');
    expect(out).toMatch(/release "shimmy" uninstalled/);
    for (const n of ['node-1', 'node-2']) expect(await segmentsOn(n)).toEqual([]);
    for (const n of ['node-1', 'node-2']) expect(await filesOn(n), n).toEqual([]);
    await eventually('no Shimmy pod left', async () => (await c.core.listNamespacedPod({ namespace: SYSTEM })).items.length === 0, 120_000);
    const admission = c.kc.makeApiClient(AdmissionregistrationV1Api);
    expect((await admission.listMutatingWebhookConfiguration()).items.map((m) => m.metadata?.name)).not.toContain('shimmy');
    expect((await c.kc.makeApiClient(CoordinationV1Api).listNamespacedLease({ namespace: SYSTEM })).items).toEqual([]);
    const secrets = (await c.core.listNamespacedSecret({ namespace: SYSTEM })).items.map((s) => s.metadata?.name);
    expect(secrets).not.toContain('shimmy-webhook-tls');
    expect(secrets).not.toContain('shimmy-extender-client');
    expect((await c.core.listNamespacedConfigMap({ namespace: SYSTEM })).items.map((m) => m.metadata?.name).filter((n) => n?.startsWith('shimmy'))).toEqual([]);
    const crds = (await c.kc.makeApiClient(ApiextensionsV1Api).listCustomResourceDefinition()).items.map((d) => d.metadata?.name);
    expect(crds).toEqual(expect.arrayContaining(['sharedmemorychannels.shimmy.dev', 'channelendpoints.shimmy.dev']));
    const endpoints = (await c.custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: ENDPOINT.plural })) as { items: unknown[] };
    expect(endpoints.items).toEqual([]);
  });
});
