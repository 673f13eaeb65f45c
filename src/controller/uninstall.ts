/**
 * `shimmy cleanup`, run by the chart's pre-delete hook, removes what Helm does not own:
 * 1. creates the ConfigMap UNINSTALL_CONFIGMAP: each agent removes its node's segments,
 *    stops creating them and marks its Lease; this waits for every live agent;
 * 2. scales the controller Deployment (and shimmy-scheduler's) to zero and waits for their
 *    pods, so nothing puts the webhook configuration, the ChannelEndpoints or a Lease back;
 * 3. deletes the MutatingWebhookConfiguration, the webhook TLS Secret, the agent and
 *    leader Leases, the ChannelEndpoints and the ConfigMap.
 * SharedMemoryChannels stay (their CRDs stay, as Helm keeps CRDs).
 */
import {
  AdmissionregistrationV1Api,
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { loadKubeConfig } from '../k8s/kubeconfig.js';
import { AgentLeases, AGENT_LEASE_LABEL, AGENT_LEASE_LABEL_VALUE, SEGMENTS_REMOVED_ANNOTATION, UNINSTALL_CONFIGMAP } from '../k8s/agent-leases.js';
import { isConflict, isNotFound } from '../k8s/api-errors.js';
import { ENDPOINT, EXTENDER_CLIENT_SECRET, GROUP, MANAGED_BY_LABEL, MANAGER, VERSION, type ChannelEndpoint } from '../k8s/types.js';
import { ErrorCode, ShimmyError } from '../errors.js';

export interface CleanupOptions {
  kubeconfig?: string;
  namespace: string;
  controllerDeployment: string;
  /** The second scheduler's Deployment and leader Lease, when the chart runs one. */
  schedulerDeployment?: string;
  schedulerLease?: string;
  /** The webhook TLS Secret to delete, with the extender's client Secret; '' leaves both (cert-manager owns them). */
  tlsSecret: string;
  timeoutMs: number;
  progress: (line: string) => void;
}

const ignoreNotFound = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
};

async function until(what: string, deadline: number, check: () => Promise<string | undefined>): Promise<void> {
  for (;;) {
    const waiting = await check();
    if (waiting === undefined) return;
    if (Date.now() > deadline)
      throw new ShimmyError(ErrorCode.TIMEOUT, `Timed out waiting for ${what}: ${waiting}`, 'Check those pods and their logs, then run the uninstall again');
    await new Promise((r) => setTimeout(r, 1000));
  }
}

export async function cleanupInstallation(opts: CleanupOptions): Promise<void> {
  const { namespace, progress } = opts;
  const deadline = Date.now() + opts.timeoutMs;
  const kc = loadKubeConfig(opts.kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const coordination = kc.makeApiClient(CoordinationV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const admission = kc.makeApiClient(AdmissionregistrationV1Api);
  const agentSelector = `${AGENT_LEASE_LABEL}=${AGENT_LEASE_LABEL_VALUE}`;

  try {
    await core.createNamespacedConfigMap({
      namespace,
      body: { metadata: { name: UNINSTALL_CONFIGMAP, namespace }, data: { requestedAt: new Date().toISOString() } },
    });
  } catch (err) {
    if (!isConflict(err)) throw err;
  }
  progress('agents asked to remove their segments');
  await until('the agents to remove their segments', deadline, async () => {
    const leases = (await coordination.listNamespacedLease({ namespace, labelSelector: agentSelector })).items;
    const live = new AgentLeases();
    for (const l of leases) live.upsert(l);
    const pending = leases.filter((l) => live.isReady(l.spec?.holderIdentity ?? '') && l.metadata?.annotations?.[SEGMENTS_REMOVED_ANNOTATION] !== 'true');
    return pending.length ? `nodes ${pending.map((l) => l.spec?.holderIdentity).join(', ')}` : undefined;
  });
  progress('every live agent has removed its segments');

  const deployments = [opts.controllerDeployment, ...(opts.schedulerDeployment ? [opts.schedulerDeployment] : [])];
  for (const name of deployments)
    await ignoreNotFound(
      apps.patchNamespacedDeploymentScale({ name, namespace, body: { spec: { replicas: 0 } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch)),
    );
  // Until their pods are gone, not until status.replicas is 0: that stops counting a pod once it
  // is terminating, and a controller pod in its shutdown grace could still write the webhook
  // configuration back after it is deleted below.
  await until('the controller and scheduler pods to stop', deadline, async () => {
    const running: string[] = [];
    for (const name of deployments) {
      const deployment = await apps.readNamespacedDeployment({ name, namespace }).catch((err) => {
        if (isNotFound(err)) return undefined;
        throw err;
      });
      const labels = deployment?.spec?.selector?.matchLabels;
      if (!labels) continue;
      const labelSelector = Object.entries(labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(',');
      const pods = (await core.listNamespacedPod({ namespace, labelSelector })).items;
      if (pods.length) running.push(`${pods.length} pod(s) of ${name} (${pods.map((p) => p.metadata?.name).join(', ')})`);
    }
    return running.length ? running.join(', ') : undefined;
  });
  progress(`stopped ${deployments.join(' and ')}`);

  const configs = await admission.listMutatingWebhookConfiguration({ labelSelector: 'app.kubernetes.io/name=shimmy' });
  for (const c of configs.items) await ignoreNotFound(admission.deleteMutatingWebhookConfiguration({ name: c.metadata!.name! }));
  if (opts.tlsSecret) {
    await ignoreNotFound(core.deleteNamespacedSecret({ name: opts.tlsSecret, namespace }));
    await ignoreNotFound(core.deleteNamespacedSecret({ name: EXTENDER_CLIENT_SECRET, namespace }));
  }
  const leases = await coordination.listNamespacedLease({ namespace, labelSelector: agentSelector });
  for (const l of leases.items) await ignoreNotFound(coordination.deleteNamespacedLease({ name: l.metadata!.name!, namespace }));
  for (const name of ['shimmy-controller', ...(opts.schedulerLease ? [opts.schedulerLease] : [])])
    await ignoreNotFound(coordination.deleteNamespacedLease({ name, namespace }));
  const endpoints = (await custom.listClusterCustomObject({
    group: GROUP,
    version: VERSION,
    plural: ENDPOINT.plural,
    labelSelector: `${MANAGED_BY_LABEL}=${MANAGER}`,
  })) as {
    items: ChannelEndpoint[];
  };
  for (const e of endpoints.items)
    await ignoreNotFound(
      custom.deleteNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: e.metadata.namespace!,
        plural: ENDPOINT.plural,
        name: e.metadata.name!,
      }),
    );
  await ignoreNotFound(core.deleteNamespacedConfigMap({ name: UNINSTALL_CONFIGMAP, namespace }));
  progress(`removed the webhook configuration, its TLS Secret, ${leases.items.length} agent lease(s) and ${endpoints.items.length} ChannelEndpoint(s)`);
}
