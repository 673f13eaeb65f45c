/**
 * One real node: a holder process that owns the node's IPC and mount namespaces (inside its
 * network namespace), and containerd, kubelet and kube-proxy entered into those namespaces.
 * Inside, the node has its own /run, /dev/shm (tmpfs), /var/lib and /var/log (bind-mounted
 * from DIR/nodes/NODE), so the paths that kubelet, containerd, runc and the CNI plugins
 * write outside their configured directories stay per node; the host sees none of it.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, ShimmyError } from '../errors.js';
import { hostNames, nodeIp, podCidr } from './addresses.js';
import { PIDS_HIERARCHY, createCgroup } from './cgroups.js';
import { cniConfig, containerdConfig, kubeProxyConfig, kubeletConfig, nodePaths, tokenKubeconfig, type NodePaths } from './node-config.js';
import { startDetached, waitFor } from './processes.js';

export interface NodeSpec {
  name: string;
  index: number;
  ip: string;
  netns: string;
  paths: NodePaths;
  /** The kubelet's cgroupRoot (pods) and the daemons' cgroup, relative to a hierarchy. */
  podCgroup: string;
  daemonCgroup: string;
}

export function nodeSpec(clusterId: string, dir: string, name: string, index: number): NodeSpec {
  const names = hostNames(clusterId);
  return {
    name,
    index,
    ip: nodeIp(index),
    netns: names.netns(name),
    paths: nodePaths(join(dir, 'nodes', name)),
    podCgroup: `/${names.cgroup}/${name}`,
    daemonCgroup: `/${names.cgroup}/${name}-daemons`,
  };
}

export interface NodeCredentials {
  server: string;
  caPem: string;
  caFile: string;
  kubeletToken: string;
  proxyToken: string;
}

/** Writes every configuration file of the node and makes its directories and cgroups. */
export function prepareNode(spec: NodeSpec, creds: NodeCredentials, images: { sandbox: string }): void {
  const p = spec.paths;
  for (const d of [
    p.containerdRoot,
    p.containerdState,
    p.runcRoot,
    p.cniConfDir,
    join(p.varLib, 'kubelet'),
    join(p.varLog, 'pods'),
    join(p.varLog, 'containers'),
  ])
    mkdirSync(d, { recursive: true });
  writeFileSync(join(p.root, 'containerd.toml'), containerdConfig(p, { sandboxImage: images.sandbox }));
  writeFileSync(join(p.cniConfDir, '10-shimmy-dev.conflist'), cniConfig(podCidr(spec.index)));
  writeFileSync(
    p.kubeletConfig,
    kubeletConfig({
      nodeIp: spec.ip,
      cgroupRoot: spec.podCgroup,
      clientCaFile: creds.caFile,
      podLogsDir: '/var/log/pods',
      containerdSocket: p.containerdSocket,
    }),
  );
  writeFileSync(p.kubeletKubeconfig, tokenKubeconfig(creds.server, creds.caPem, `system:node:${spec.name}`, creds.kubeletToken), { mode: 0o600 });
  writeFileSync(p.proxyConfig, kubeProxyConfig({ node: spec.name, kubeconfig: p.proxyKubeconfig }));
  writeFileSync(p.proxyKubeconfig, tokenKubeconfig(creds.server, creds.caPem, 'system:kube-proxy', creds.proxyToken), { mode: 0o600 });
  createCgroup(spec.podCgroup);
  createCgroup(spec.daemonCgroup);
}

/** `sh -c` that moves itself into the node's daemon cgroup, then execs the command. */
function inDaemonCgroup(spec: NodeSpec, argv: string[]): [string, string[]] {
  const procs = join(PIDS_HIERARCHY, spec.daemonCgroup, 'cgroup.procs');
  return ['sh', ['-c', `echo $$ > '${procs}' && exec "$@"`, 'sh', ...argv]];
}

const holderReady = (spec: NodeSpec) => join(spec.paths.root, 'holder.ready');

/**
 * Starts the process whose namespaces are the node: it enters the node's network namespace,
 * makes a new IPC and mount namespace, mounts the node's own /run, /dev/shm, /var/lib and
 * /var/log there, and sleeps. Its pid stays the same through every exec.
 */
export async function startHolder(spec: NodeSpec, logFile: string): Promise<number> {
  const p = spec.paths;
  const setup = [
    'set -e',
    'mount -t tmpfs -o mode=0755 run /run',
    'mount -t tmpfs -o mode=1777 shm /dev/shm',
    `mount --bind '${p.varLib}' /var/lib`,
    `mount --bind '${p.varLog}' /var/log`,
    `: > '${holderReady(spec)}'`,
    'exec sleep infinity',
  ].join('\n');
  const [cmd, args] = inDaemonCgroup(spec, [
    'nsenter',
    `--net=/run/netns/${spec.netns}`,
    '--',
    'unshare',
    '--ipc',
    '--mount',
    '--propagation',
    'slave',
    '--',
    'sh',
    '-c',
    setup,
  ]);
  const pid = startDetached(cmd, args, logFile);
  await waitFor(`${spec.name}: namespaces`, async () => existsSync(holderReady(spec)), 10_000, { pid, log: logFile });
  return pid;
}

/** Starts `argv` inside the node (its network, IPC and mount namespaces). */
export function startInNode(spec: NodeSpec, holder: number, argv: string[], logFile: string, env?: NodeJS.ProcessEnv): number {
  const [cmd, args] = inDaemonCgroup(spec, ['nsenter', '-t', String(holder), '--net', '--ipc', '--mount', '--', ...argv]);
  return startDetached(cmd, args, logFile, env);
}

export function tail(file: string, lines = 8): string {
  if (!existsSync(file)) return '(no log)';
  return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

export function nodeFailure(spec: NodeSpec, what: string, logFile: string, cause?: unknown): ShimmyError {
  return new ShimmyError(
    ErrorCode.DEV_CLUSTER,
    `${spec.name}: ${what}; last lines of ${logFile}:\n${tail(logFile)}`,
    'Fix the cause above and run `shimmy dev-cluster up` again',
    { cause },
  );
}
