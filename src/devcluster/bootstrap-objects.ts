/** The objects a fresh dev cluster needs: namespace, CRDs, Nodes, and (optionally) agent Leases. */
import { ApiextensionsV1Api, CoordinationV1Api, CoreV1Api, KubeConfig, V1MicroTime, VersionApi, type V1Lease, type V1Node } from '@kubernetes/client-node';
import { AGENT_LEASE_LABEL, AGENT_LEASE_LABEL_VALUE, agentLeaseName } from '../k8s/agent-leases.js';
import { sendJson } from '../k8s/raw-request.js';
import { CRDS } from '../k8s/crd.js';
import { waitFor } from './processes.js';

export interface BootstrapOptions {
  namespace: string;
  nodes: string[];
  /** Create the Node objects (fake nodes); real ones are registered by their kubelets. */
  registerNodes: boolean;
  /** The controller's namespace and the CRDs (real nodes get them from the chart instead). */
  shimmy: boolean;
  agents: boolean;
}

export function fakeNode(name: string): V1Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux', 'shimmy.dev/dev-cluster': 'true' } },
    spec: {},
  };
}

const NODE_STATUS = {
  capacity: { cpu: '8', memory: '32Gi', pods: '110' },
  allocatable: { cpu: '8', memory: '32Gi', pods: '110' },
  conditions: [
    {
      type: 'Ready',
      status: 'True',
      reason: 'DevCluster',
      message: 'dev-cluster node without a kubelet',
      lastHeartbeatTime: new Date(),
      lastTransitionTime: new Date(),
    },
  ],
};

/** A Lease as the node agent will publish it; `durationSeconds` long without renewal. */
export function agentLease(namespace: string, node: string, durationSeconds: number): V1Lease {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name: agentLeaseName(node), namespace, labels: { [AGENT_LEASE_LABEL]: AGENT_LEASE_LABEL_VALUE } },
    spec: { holderIdentity: node, leaseDurationSeconds: durationSeconds, renewTime: new V1MicroTime() },
  };
}

export async function bootstrapObjects(kubeconfig: string, opts: BootstrapOptions): Promise<string> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  const ext = kc.makeApiClient(ApiextensionsV1Api);
  if (opts.shimmy) await core.createNamespace({ body: { metadata: { name: opts.namespace } } });
  for (const crd of opts.shimmy ? CRDS : []) await sendJson(kc, 'POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd());
  for (const crd of opts.shimmy ? CRDS : []) {
    const name = crd().metadata.name;
    await waitFor(
      `CRD ${name}`,
      async () => {
        const got = await ext.readCustomResourceDefinition({ name });
        return !!got.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
      },
      30_000,
    );
  }
  for (const name of opts.registerNodes ? opts.nodes : []) {
    await core.createNode({ body: fakeNode(name) });
    const node = await core.readNode({ name });
    node.status = NODE_STATUS as V1Node['status'];
    const ready = await core.replaceNodeStatus({ name, body: node });
    // The TaintNodesByCondition admission plugin marks new nodes not-ready; with no kubelet
    // and no node controller, nothing else would ever lift that taint.
    ready.spec = { ...ready.spec, taints: [] };
    await core.replaceNode({ name, body: ready });
  }
  if (opts.agents) {
    const coordination = kc.makeApiClient(CoordinationV1Api);
    // No agent renews these: they last a year so the dev cluster's nodes count as ready.
    for (const node of opts.nodes)
      await coordination.createNamespacedLease({ namespace: opts.namespace, body: agentLease(opts.namespace, node, 365 * 24 * 3600) });
  }
  const version = await kc.makeApiClient(VersionApi).getCode();
  return version.gitVersion;
}
