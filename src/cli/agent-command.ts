import type { Command } from 'commander';
import { isIPv4 } from 'node:net';
import { choiceOption, durationFlag, idOption, intOption, LOG_LEVELS } from '../terminal/options.js';
import { WEBHOOK_TLS_SECRET } from '../k8s/types.js';
import { untilSignal } from './signals.js';

interface AgentFlags {
  kubeconfig?: string;
  node?: string;
  namespace: string;
  listen: string;
  metricsPort: number;
  leaseDuration: number;
  grace: number;
  resync: number;
  reportEvery: number;
  segmentPermissions: string;
  segmentOwner?: number;
  channelRoot?: string;
  csiSocket: string;
  registrationDir: string;
  replicationPort: number;
  replicationAddress?: string;
  replicationKeyFile?: string;
  ucxTls: string;
  ucxDevices: string;
  spoolDir?: string;
  peerTimeout: number;
  logLevel: (typeof LOG_LEVELS)[number];
}

export function registerAgentCommand(program: Command): void {
  program
    .command('agent')
    .description(
      "the node agent (one per node, with hostIPC): makes and removes the node's channel segments, reports their traffic, holds the node's readiness Lease; /healthz, /readyz and /metrics on --metrics-port",
    )
    .option('--kubeconfig <file>', 'kubeconfig (default: in-cluster, then $KUBECONFIG / ~/.kube/config)')
    .option('--node <name>', 'this node (default: $NODE_NAME)', process.env.NODE_NAME)
    .option('--namespace <ns>', "Shimmy's namespace: the agent Lease and the uninstall signal", process.env.POD_NAMESPACE ?? 'shimmy-system')
    .option('--listen <address>', 'address the health and metrics server binds', '0.0.0.0')
    .option('--metrics-port <port>', 'HTTP port of /healthz, /readyz and /metrics', intOption('--metrics-port', 0), 9090)
    .addOption(durationFlag('--lease-duration', 'how long the Lease lasts unrenewed; renewed every third of it', '15s'))
    .addOption(durationFlag('--grace', 'how long a segment no endpoint wants, and no process uses, is kept', '30s'))
    .addOption(durationFlag('--resync', 'how often segments are checked (also after each endpoint change)', '2s'))
    .addOption(durationFlag('--report-every', 'how often traffic is written into ChannelEndpoint status', '5s'))
    .option('--segment-permissions <octal>', 'permission bits of the segments the agent makes (without --segment-owner)', '0660')
    .option(
      '--segment-owner <uid>',
      "hardened memory: HostIPC: make each segment as this uid (not root) with the channel's group and mode 0660, and replace any segment under a channel's key that is not so; the same uid as the controller's --segment-owner",
      idOption('--segment-owner'),
    )
    .option(
      '--channel-root <dir>',
      'serve channels with memory: Volume: their memory files live in this node-local tmpfs directory, and the CSI node plugin mounts them into pods',
    )
    .option(
      '--csi-socket <path>',
      "the CSI plugin's socket, at the same path on the host (with --channel-root)",
      '/var/lib/kubelet/plugins/shimmy.dev/csi.sock',
    )
    .option('--registration-dir <dir>', "the kubelet's plugin registration directory (with --channel-root)", '/var/lib/kubelet/plugins_registry')
    .option(
      '--replication-port <port>',
      'replicate channels (pub/sub and stream) with the agents of the other nodes that have endpoints of them, listening on this port (UCX: RDMA where the NIC has it, TCP otherwise); 0: no replication, and pods on different nodes of a channel do not hear each other',
      intOption('--replication-port', 0),
      0,
    )
    .option('--replication-address <ipv4>', "this agent's address for peers to connect to (default: $POD_IP); published on its Lease", process.env.POD_IP)
    .option(
      '--ucx-tls <list>',
      'UCX transports for replication (UCX_TLS syntax: "tcp", "rc,ud,self"); empty: UCX chooses (RDMA verbs where a device has them)',
      '',
    )
    .option(
      '--replication-key-file <path>',
      "the cluster's replication key (at least 32 bytes; the chart mounts its Secret): every frame between agents carries a MAC under it, and frames without one are dropped; needed with --replication-port",
    )
    .option(
      '--spool-dir <dir>',
      "keep each replicated pub/sub channel's frames until every peer acknowledges them in a file here (made if missing), so an agent killed mid-stream loses none: a directory that outlives the agent's container (the chart: a hostPath on the node's /run); without it they live in the agent's memory only",
    )
    .option('--ucx-devices <list>', 'network devices for replication (UCX_NET_DEVICES syntax: "eth0", "mlx5_0:1"); empty: all', '')
    .addOption(
      durationFlag('--peer-timeout', 'how long a peer node may be unreachable before its channels stop waiting for it (its messages are then let go)', '60s'),
    )
    .option('--log-level <level>', 'pino log level', choiceOption('--log-level', LOG_LEVELS), 'info')
    .action(async (flags: AgentFlags) => {
      if (!flags.node) program.error('shimmy: agent needs --node or $NODE_NAME (the chart sets it from spec.nodeName)', { exitCode: 2 });
      if (!/^0?[0-7]{3}$/.test(flags.segmentPermissions))
        program.error(`shimmy: --segment-permissions must be octal like 0660, got ${flags.segmentPermissions}`, { exitCode: 2 });
      if (flags.channelRoot !== undefined && !flags.channelRoot.startsWith('/'))
        program.error(`shimmy: --channel-root must be an absolute path, got ${flags.channelRoot}`, { exitCode: 2 });
      if (flags.leaseDuration < 3000) program.error('shimmy: --lease-duration must be at least 3s', { exitCode: 2 });
      if (flags.replicationPort > 65535) program.error(`shimmy: --replication-port must be below 65536, got ${flags.replicationPort}`, { exitCode: 2 });
      if (flags.replicationPort && !isIPv4(flags.replicationAddress ?? ''))
        program.error(`shimmy: --replication-port needs --replication-address or $POD_IP as an IPv4 address, got ${flags.replicationAddress ?? 'none'}`, {
          exitCode: 2,
        });
      if (flags.spoolDir !== undefined && !flags.spoolDir.startsWith('/'))
        program.error(`shimmy: --spool-dir must be an absolute path, got ${flags.spoolDir}`, { exitCode: 2 });
      if (flags.replicationPort && !flags.replicationKeyFile)
        program.error('shimmy: --replication-port needs --replication-key-file (the key every agent of the cluster shares; the chart makes one)', {
          exitCode: 2,
        });
      let replicationKey: Uint8Array | undefined;
      if (flags.replicationPort) {
        const { readKeyFile } = await import('../replication/replication-key.js');
        try {
          replicationKey = readKeyFile(flags.replicationKeyFile!);
        } catch (err) {
          program.error(`shimmy: ${(err as Error).message}`, { exitCode: 2 });
        }
      }
      const [{ pino }, { startAgent }] = await Promise.all([import('pino'), import('../agent/agent.js')]);
      const log = pino({ level: flags.logLevel, base: { component: 'shimmy-agent', node: flags.node } });
      const agent = await startAgent({
        ...(flags.kubeconfig ? { kubeconfig: flags.kubeconfig } : {}),
        node: flags.node!,
        namespace: flags.namespace,
        listen: flags.listen,
        metricsPort: flags.metricsPort,
        leaseDurationSeconds: Math.round(flags.leaseDuration / 1000),
        graceMs: flags.grace,
        resyncMs: flags.resync,
        reportMs: flags.reportEvery,
        segmentPermissions: Number.parseInt(flags.segmentPermissions, 8),
        ...(flags.segmentOwner ? { segmentOwner: flags.segmentOwner } : {}),
        ...(flags.channelRoot ? { volume: { root: flags.channelRoot, csiSocketPath: flags.csiSocket, registrationDir: flags.registrationDir } } : {}),
        ...(flags.replicationPort
          ? {
              replication: {
                address: flags.replicationAddress!,
                port: flags.replicationPort,
                tls: flags.ucxTls,
                devices: flags.ucxDevices,
                peerTimeoutMs: flags.peerTimeout,
                key: replicationKey!,
                ...(flags.spoolDir ? { spoolDir: flags.spoolDir } : {}),
              },
            }
          : {}),
        log,
      });
      await untilSignal(() => agent.stop(), log);
    });

  program
    .command('cleanup')
    .description(
      "what `helm uninstall` cannot remove (the chart's pre-delete hook runs it): every node's segments, the webhook configuration, its TLS Secret, the Leases and the ChannelEndpoints",
    )
    .option('--kubeconfig <file>', 'kubeconfig (default: in-cluster, then $KUBECONFIG / ~/.kube/config)')
    .option('--namespace <ns>', "Shimmy's namespace", process.env.POD_NAMESPACE ?? 'shimmy-system')
    .option('--controller-deployment <name>', "the controller's Deployment, scaled to zero first", 'shimmy-controller')
    .option('--scheduler-deployment <name>', "shimmy-scheduler's Deployment, scaled to zero too (when the chart runs one)")
    .option('--scheduler-lease <name>', "shimmy-scheduler's leader Lease, deleted once it is stopped")
    .option('--tls-secret <name>', 'the webhook TLS Secret the controller wrote; "" when cert-manager owns it (it is left alone)', WEBHOOK_TLS_SECRET)
    .addOption(durationFlag('--timeout', 'how long to wait for the agents and the controller', '2m'))
    .action(
      async (flags: {
        kubeconfig?: string;
        namespace: string;
        controllerDeployment: string;
        schedulerDeployment?: string;
        schedulerLease?: string;
        tlsSecret: string;
        timeout: number;
      }) => {
        const { cleanupInstallation } = await import('../controller/uninstall.js');
        await cleanupInstallation({
          ...(flags.kubeconfig ? { kubeconfig: flags.kubeconfig } : {}),
          namespace: flags.namespace,
          controllerDeployment: flags.controllerDeployment,
          ...(flags.schedulerDeployment ? { schedulerDeployment: flags.schedulerDeployment } : {}),
          ...(flags.schedulerLease ? { schedulerLease: flags.schedulerLease } : {}),
          tlsSecret: flags.tlsSecret,
          timeoutMs: flags.timeout,
          progress: (line) => console.log(`[cleanup] ${line}`),
        });
      },
    );
}
