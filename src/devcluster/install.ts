/**
 * Installs Shimmy into a dev cluster with real nodes the way a user would: `helm install`
 * of charts/shimmy with the values written to DIR/values-dev.yaml, by the helm at
 * DIR/bin/helm. The images the values name are already in every node.
 */
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { AppsV1Api, KubeConfig } from '@kubernetes/client-node';
import { join } from 'node:path';
import { packageRoot } from '../paths.js';
import { EXTENDER_SERVICE_IP } from './addresses.js';
import { SCHEDULER_REPOSITORY, SHIMMY_IMAGE } from './images.js';
import { runAsync } from './system.js';
import { waitFor } from './processes.js';

export const RELEASE = 'shimmy';
export const NAMESPACE = 'shimmy-system';
export const CHART_DIR = join(packageRoot, 'charts', 'shimmy');

/** The values the dev cluster installs with, commented for the reader of DIR/values-dev.yaml. */
export function devValues(kubernetesVersion: string): string {
  const [repository, tag] = SHIMMY_IMAGE.split(':');
  return `# Written by \`shimmy dev-cluster up\`: the values it installs charts/shimmy with.
# The images were built from this checkout and imported into every node (no registry), so
# nothing is ever pulled.
image:
  repository: ${repository}
  tag: ${tag}
  pullPolicy: Never
controller:
  extenderService:
    # The dev cluster has no cluster DNS: the scheduler reaches the extender at this address.
    clusterIP: ${EXTENDER_SERVICE_IP}
scheduler:
  image:
    # Built from the same Go binary as the cluster's own kube-scheduler, under the tag the
    # chart uses by default.
    repository: ${SCHEDULER_REPOSITORY}
    tag: ${kubernetesVersion}
    pullPolicy: Never
`;
}

export interface InstallOptions {
  dir: string;
  kubeconfig: string;
  /** The helm binary to copy to DIR/bin/helm. */
  helm: string;
  kubernetesVersion: string;
  /** Don't run helm: leave the files for the user. */
  install: boolean;
  progress: (line: string) => void;
}

/** The command a user runs (from the repository root) to install what `up` installs. */
export function installCommand(dir: string): string[] {
  return [
    join(dir, 'bin', 'helm'),
    'install',
    RELEASE,
    CHART_DIR,
    '-n',
    NAMESPACE,
    '--create-namespace',
    '-f',
    join(dir, 'values-dev.yaml'),
    '--wait',
    '--timeout',
    '5m',
  ];
}

/** The environment `up` runs DIR/bin/helm in: the cluster's kubeconfig, Helm's own files under DIR/helm. */
export function helmEnv(dir: string, kubeconfig: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    KUBECONFIG: kubeconfig,
    HELM_CACHE_HOME: join(dir, 'helm', 'cache'),
    HELM_CONFIG_HOME: join(dir, 'helm', 'config'),
    HELM_DATA_HOME: join(dir, 'helm', 'data'),
  };
}

export async function installShimmy(opts: InstallOptions): Promise<void> {
  mkdirSync(join(opts.dir, 'bin'), { recursive: true });
  copyFileSync(opts.helm, join(opts.dir, 'bin', 'helm'));
  writeFileSync(join(opts.dir, 'values-dev.yaml'), devValues(opts.kubernetesVersion));
  if (!opts.install) return;
  const [helm, ...args] = installCommand(opts.dir);
  opts.progress(`helm ${args.join(' ')}`);
  await runAsync(helm!, args, { env: helmEnv(opts.dir, opts.kubeconfig) });
  await agentsReady(opts.kubeconfig);
}

/**
 * `helm --wait` accepts a DaemonSet with maxUnavailable pods not ready; channel pods are
 * only placed on nodes whose agent is ready, so wait for every node's agent.
 */
export async function agentsReady(kubeconfig: string, timeoutMs = 120_000): Promise<void> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const apps = kc.makeApiClient(AppsV1Api);
  await waitFor(
    'every node agent ready',
    async () => {
      const ds = await apps.readNamespacedDaemonSet({ name: `${RELEASE}-agent`, namespace: NAMESPACE });
      const s = ds.status;
      return (
        !!s &&
        s.observedGeneration === ds.metadata?.generation &&
        s.desiredNumberScheduled > 0 &&
        s.numberReady === s.desiredNumberScheduled &&
        s.updatedNumberScheduled === s.desiredNumberScheduled
      );
    },
    timeoutMs,
  );
}
