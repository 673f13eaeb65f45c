/**
 * The chart's ValidatingAdmissionPolicy on a real kube-apiserver: in a namespace opted into
 * Shimmy that allows hostIPC (enforce=privileged, for memory: HostIPC channels), a pod may
 * have hostIPC but nothing else of what Pod Security "baseline" forbids.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INJECTION_LABEL } from '../../src/k8s/types.js';
import { eventually } from '../helpers/wait.js';
import { applyChartTemplate, pod, startCluster, type ClusterFixture, refusal as refuse } from './cluster-fixture.js';

const NS = 'hostipc-tenant';
const PLAIN = 'not-opted-in';
let f: ClusterFixture;

beforeAll(async () => {
  f = await startCluster({ nodes: 1, agents: false });
  await applyChartTemplate(f, 'pod-policy.yaml');
  for (const [name, labels] of [
    [NS, { [INJECTION_LABEL]: 'enabled', 'pod-security.kubernetes.io/enforce': 'privileged' }],
    [PLAIN, { 'pod-security.kubernetes.io/enforce': 'privileged' }],
  ] as const)
    await f.core.createNamespace({ body: { metadata: { name, labels } } });
});

afterAll(async () => {
  await f?.stop();
});

const create = (namespace: string, body: V1Pod) => f.core.createNamespacedPod({ namespace, body });
const refusal = (namespace: string, body: V1Pod) => refuse(f, namespace, body);
const withContainer = (name: string, securityContext: NonNullable<V1Pod['spec']>['containers'][number]['securityContext']): V1Pod => {
  const p = pod(name, {});
  p.spec!.containers[0]!.securityContext = securityContext;
  return p;
};

describe('the pod policy of opted-in namespaces (baseline except hostIPC)', () => {
  it('refuses a privileged container once the policy is in force, and names the rule', async () => {
    // The API server loads policies asynchronously: wait until it refuses.
    const message = await eventually(
      'the policy refuses a privileged pod',
      async () => {
        try {
          await create(NS, withContainer(`privileged-${Date.now()}`, { privileged: true }));
          return undefined;
        } catch (err) {
          return String((err as { body?: string }).body ?? err);
        }
      },
      30_000,
    );
    expect(message).toMatch(/privileged containers are not allowed in a namespace opted into Shimmy/);
  });

  it('admits hostIPC, and what baseline admits', async () => {
    // With hostIPC.hardened (the default), a hostIPC pod also runs as a uid and group of its own without escalation.
    const hostIPC = pod('host-ipc', {}, { hostIPC: true, securityContext: { runAsUser: 10001, runAsGroup: 10001, supplementalGroupsPolicy: 'Strict' } });
    hostIPC.spec!.containers[0]!.securityContext = { allowPrivilegeEscalation: false };
    await expect(create(NS, hostIPC)).resolves.toBeTruthy();
    await expect(create(NS, withContainer('chown', { capabilities: { add: ['CHOWN'], drop: ['NET_RAW'] } }))).resolves.toBeTruthy();
  });

  it('refuses IPC_OWNER or SYS_ADMIN, init containers included; hostPID, hostNetwork, hostPath and host ports', async () => {
    expect(await refusal(NS, withContainer('ipc-owner', { capabilities: { add: ['IPC_OWNER'] } }))).toMatch(
      /may add only the capabilities Pod Security baseline allows/,
    );
    const init = pod(
      'init-admin',
      {},
      { initContainers: [{ name: 'init', image: 'registry.invalid/x:1', securityContext: { capabilities: { add: ['SYS_ADMIN'] } } }] },
    );
    expect(await refusal(NS, init)).toMatch(/may add only the capabilities/);
    expect(await refusal(NS, pod('host-pid', {}, { hostPID: true }))).toMatch(/hostPID and hostNetwork are not allowed/);
    expect(await refusal(NS, pod('host-net', {}, { hostNetwork: true }))).toMatch(/hostPID and hostNetwork are not allowed/);
    const hostPath = pod('host-path', {}, { volumes: [{ name: 'root', hostPath: { path: '/dev/shm' } }] });
    expect(await refusal(NS, hostPath)).toMatch(/hostPath volumes are not allowed/);
    const hostPort = pod('host-port', {});
    hostPort.spec!.containers[0]!.ports = [{ containerPort: 80, hostPort: 8080 }];
    expect(await refusal(NS, hostPort)).toMatch(/host ports are not allowed/);
  });

  it('leaves namespaces that are not opted in alone', async () => {
    await expect(create(PLAIN, withContainer('privileged-elsewhere', { privileged: true }))).resolves.toBeTruthy();
  });
});
