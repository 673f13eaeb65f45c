import type { Command } from 'commander';
import { choiceOption, durationFlag as duration, idOption, idRangeOption, intOption, listOption, LOG_LEVELS } from '../terminal/options.js';
import { EXTENDER_CLIENT_SECRET, WEBHOOK_TLS_SECRET } from '../k8s/types.js';
import { untilSignal } from './signals.js';

interface ControllerFlags {
  kubeconfig?: string;
  namespace: string;
  listen: string;
  webhookPort: number;
  extenderPort: number;
  metricsPort: number;
  webhookUrl?: string;
  webhookService: string;
  webhookHosts: string[];
  extenderService: string;
  extenderHosts: string[];
  extenderClientSecret: string;
  extenderInsecureHttp?: boolean;
  webhookConfig?: string;
  schedulerName: string;
  tlsSecret: string;
  tlsIssuer: 'controller' | 'external';
  tlsWait: number;
  shutdownDelay: number;
  caValidity: number;
  certValidity: number;
  certCheck: number;
  leaderElection: boolean;
  segmentOwner?: number;
  channelGroups?: { first: number; count: number };
  logLevel: string;
}

export function registerControllerCommand(program: Command): void {
  program
    .command('controller')
    .description(
      'run the webhook (HTTPS), scheduler extender (HTTPS, client certificates from its CA) and master; health, readiness and Prometheus metrics on --metrics-port',
    )
    .option('--kubeconfig <file>', 'kubeconfig (default: in-cluster, then $KUBECONFIG / ~/.kube/config)')
    .option('--namespace <ns>', "the controller's namespace: TLS Secret, leases, excluded from injection", process.env.POD_NAMESPACE ?? 'shimmy-system')
    .option('--listen <address>', 'address the servers bind', '0.0.0.0')
    .option('--webhook-port <port>', 'HTTPS port of POST /mutate', intOption('--webhook-port', 0), 9443)
    .option('--extender-port <port>', 'HTTPS port of POST /filter and /prioritize', intOption('--extender-port', 0), 8888)
    .option('--metrics-port <port>', 'HTTP port of /healthz, /readyz and /metrics', intOption('--metrics-port', 0), 8080)
    .option('--webhook-url <url>', 'register the webhook at this URL (controller outside the cluster) instead of the Service')
    .option('--webhook-service <name>', 'Service in front of the webhook', 'shimmy-controller')
    .option(
      '--webhook-hosts <list>',
      'extra names/IPs for the serving certificate, comma-separated',
      listOption('--webhook-hosts', (s) => s),
      [],
    )
    .option('--extender-service <name>', 'Service in front of the extender (its names join the serving certificate)', 'shimmy-extender')
    .option(
      '--extender-hosts <list>',
      "extra names/IPs of the extender for the serving certificate (its Service's fixed ClusterIP), comma-separated",
      listOption('--extender-hosts', (s) => s),
      [],
    )
    .option(
      '--extender-client-secret <name>',
      'Secret in --namespace where the controller keeps the scheduler\'s client certificate for the extender (tls.crt, tls.key, ca.crt); "" for none; not with --tls-issuer=external',
      EXTENDER_CLIENT_SECRET,
    )
    .option('--extender-insecure-http', 'serve the extender over plain HTTP without authentication (not for production)')
    .option('--webhook-config <file>', 'MutatingWebhookConfiguration template (default: webhook-config/mutating-webhook.yaml)')
    .option('--scheduler-name <name>', 'schedulerName to set on patched pods; "" to leave it alone', 'shimmy-scheduler')
    .option('--tls-secret <name>', "Secret in --namespace holding the webhook's CA and serving certificate", WEBHOOK_TLS_SECRET)
    .option(
      '--tls-issuer <who>',
      'who writes --tls-secret: "controller" (it issues and rotates the CA and certificate itself) or "external" (cert-manager does; tls.crt, tls.key, ca.crt are only read)',
      choiceOption('--tls-issuer', ['controller', 'external'] as const),
      'controller',
    )
    .addOption(duration('--tls-wait', 'with --tls-issuer=external, how long a start waits for the Secret before it fails', '2m'))
    .addOption(
      duration(
        '--shutdown-delay',
        'on SIGTERM, how long the webhook and extender keep serving (not ready) before they stop listening, while their Services stop sending to this pod',
        '5s',
      ),
    )
    .addOption(duration('--ca-validity', 'lifetime of the webhook CA; rotated with a third left', '365d'))
    .addOption(duration('--cert-validity', 'lifetime of the serving certificate; reissued with a third left', '30d'))
    .addOption(duration('--cert-check', 'how often the certificate and webhook configuration are checked', '1m'))
    .option(
      '--segment-owner <uid>',
      "hardened memory: HostIPC: the uid that owns every channel segment (the agents' --segment-owner); pods may not run as it. With --channel-groups",
      idOption('--segment-owner'),
    )
    .option(
      '--channel-groups <first-last>',
      "hardened memory: HostIPC: the gids the controller gives channels, one each; the webhook adds a channel's gid to the supplementalGroups of its pods. With --segment-owner",
      idRangeOption('--channel-groups'),
    )
    .option('--no-leader-election', 'run the master without leader election (one replica only)')
    .option('--log-level <level>', 'pino log level', choiceOption('--log-level', LOG_LEVELS), 'info')
    .action(async (flags: ControllerFlags) => {
      if ((flags.segmentOwner === undefined) !== (flags.channelGroups === undefined))
        program.error('shimmy: --segment-owner and --channel-groups go together (hardened memory: HostIPC); give both or neither', { exitCode: 2 });
      const { segmentOwner, channelGroups } = flags;
      if (segmentOwner !== undefined && channelGroups && segmentOwner >= channelGroups.first && segmentOwner < channelGroups.first + channelGroups.count)
        program.error(`shimmy: --segment-owner ${segmentOwner} lies inside --channel-groups; keep the owner's id out of the channels' range`, { exitCode: 2 });
      // Loaded here, not at the top: the data-plane commands must start fast.
      const [{ pino }, { startController }] = await Promise.all([import('pino'), import('../controller/controller.js')]);
      const log = pino({ level: flags.logLevel, base: { component: 'shimmy-controller' } });
      const controller = await startController({
        ...(flags.kubeconfig ? { kubeconfig: flags.kubeconfig } : {}),
        namespace: flags.namespace,
        listen: flags.listen,
        webhookPort: flags.webhookPort,
        extenderPort: flags.extenderPort,
        metricsPort: flags.metricsPort,
        ...(flags.webhookUrl ? { webhookUrl: flags.webhookUrl } : {}),
        webhookService: flags.webhookService,
        webhookHosts: flags.webhookHosts,
        extenderService: flags.extenderService,
        extenderHosts: flags.extenderHosts,
        extenderClientSecret: flags.extenderClientSecret,
        extenderInsecureHttp: flags.extenderInsecureHttp === true,
        ...(flags.webhookConfig ? { webhookConfigFile: flags.webhookConfig } : {}),
        schedulerName: flags.schedulerName,
        tlsSecret: flags.tlsSecret,
        tlsIssuer: flags.tlsIssuer,
        tlsWaitMs: flags.tlsWait,
        shutdownDelayMs: flags.shutdownDelay,
        caValidityMs: flags.caValidity,
        certValidityMs: flags.certValidity,
        certCheckMs: flags.certCheck,
        leaderElection: flags.leaderElection,
        ...(segmentOwner !== undefined && channelGroups ? { hostIPC: { segmentOwner, groups: channelGroups } } : {}),
        log,
      });
      await untilSignal(() => controller.stop(), log);
    });
}
