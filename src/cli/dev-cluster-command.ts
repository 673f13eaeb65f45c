import type { Command } from 'commander';
import { intOption } from '../terminal/options.js';

const DEFAULT_DIR = '.shimmy/dev-cluster';
// Loaded on use, not at start-up: the data-plane commands must start fast.
const cluster = () => import('../devcluster/cluster.js');

export function registerDevClusterCommand(program: Command): void {
  const dev = program
    .command('dev-cluster')
    .description(
      'a real Kubernetes cluster on this machine: control plane on the host, each node a host of its own (network, IPC and mount namespaces) with containerd, kubelet and kube-proxy; Shimmy installed',
    );

  dev
    .command('up')
    .description(
      'build the Kubernetes binaries, containerd, helm and the images if needed (cached), start the control plane and the nodes, install Shimmy with `helm install` of charts/shimmy (values in DIR/values-dev.yaml, helm at DIR/bin/helm), write DIR/kubeconfig; real nodes need root',
    )
    .option('--nodes <n>', 'nodes, named node-1 … node-N', intOption('--nodes', 1), 3)
    .option('--dir <dir>', 'state directory (kubeconfig, logs, etcd data)', DEFAULT_DIR)
    .option('--no-install', 'real nodes: leave Shimmy out; `up` prints the helm command that installs it')
    .option('--no-controller', 'with --fake-nodes: leave the host controller out (tests start their own)')
    .option('--no-agents', 'with --fake-nodes: publish no agent Leases (then the extender filters every node for channel pods)')
    .option(
      '--fake-nodes',
      'Node objects only: no kubelet, containerd or controller manager, pods are placed but never run (fast; for scheduling tests and many nodes)',
    )
    .action(async (flags: { nodes: number; dir: string; install: boolean; controller: boolean; agents: boolean; fakeNodes?: boolean }) => {
      const [{ upCluster }, { installCommand }] = await Promise.all([cluster(), import('../devcluster/install.js')]);
      const fake = flags.fakeNodes ?? false;
      const state = await upCluster({
        dir: flags.dir,
        nodes: flags.nodes,
        controller: flags.controller,
        agents: flags.agents,
        fakeNodes: fake,
        install: flags.install,
        progress: (line) => console.error(`dev-cluster: ${line}`),
      });
      const shimmy = fake
        ? flags.controller
          ? ' and the Shimmy controller on the host'
          : ''
        : state.installed
          ? ', Shimmy installed with Helm'
          : ', without Shimmy';
      console.log(`Kubernetes ${state.kubernetesVersion} is up with ${fake ? 'Node objects' : 'nodes'} ${state.nodes.join(', ')}${shimmy}.`);
      console.log(`  export KUBECONFIG=${state.kubeconfig}`);
      if (!fake && !state.installed) console.log(`  install Shimmy: ${installCommand(state.dir).join(' ')}`);
      console.log('  kubectl label namespace default shimmy.dev/injection=enabled');
      console.log(`  logs: ${state.dir}/logs/${fake ? `   metrics: ${state.metricsUrl}/metrics` : '   Shimmy: kubectl -n shimmy-system get pods'}`);
      console.log(`  stop: shimmy dev-cluster down --dir ${flags.dir}`);
    });

  dev
    .command('down')
    .description('stop every process of the dev cluster and remove DIR')
    .option('--dir <dir>', 'state directory', DEFAULT_DIR)
    .action(async (flags: { dir: string }) => {
      const { downCluster } = await cluster();
      const result = await downCluster(flags.dir);
      if (!result) {
        console.log(`no dev cluster in ${flags.dir}`);
        return;
      }
      if (result.leftovers.length > 0) {
        console.error(`shimmy: could not remove ${result.leftovers.join(', ')}`);
        process.exitCode = 1;
      }
      console.log(`dev cluster in ${flags.dir} stopped and removed`);
    });

  dev
    .command('load')
    .description('load a docker or OCI image archive (docker save, podman save, oci-image) into every node, as a registry pull would')
    .argument('<archive>', 'image archive (.tar)')
    .option('--dir <dir>', 'state directory', DEFAULT_DIR)
    .action(async (archive: string, flags: { dir: string }) => {
      const { loadImage } = await cluster();
      const loaded = await loadImage(flags.dir, archive);
      console.log(`loaded ${archive} into ${loaded.join(', ')}`);
    });

  dev
    .command('status')
    .description('show the processes of the dev cluster')
    .option('--dir <dir>', 'state directory', DEFAULT_DIR)
    .action(async (flags: { dir: string }) => {
      const { readState } = await cluster();
      const { isAlive } = await import('../devcluster/processes.js');
      const state = readState(flags.dir);
      if (!state) {
        console.log(`no dev cluster in ${flags.dir}`);
        process.exitCode = 1;
        return;
      }
      console.log(`Kubernetes ${state.kubernetesVersion} at ${state.server}; KUBECONFIG=${state.kubeconfig}`);
      for (const [name, pid] of Object.entries(state.pids))
        console.log(`  ${name.padEnd(18)} pid ${String(pid).padEnd(8)} ${isAlive(pid) ? 'running' : 'stopped'}`);
    });
}
