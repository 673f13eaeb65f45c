/**
 * charts/shimmy without a cluster: `helm lint` and `helm template` (helm built by
 * scripts/go-build.sh helm), the values schema refusing bad values, and the chart rendering
 * what the code expects (the Deployment names `shimmy cleanup` scales, the agent's flags).
 * Installing it is tested on real nodes (test/nodes/chart.test.ts).
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { ensureHelm } from '../../src/devcluster/go-tools.js';
import { CHART_DIR } from '../../src/devcluster/install.js';
import { packageRoot } from '../../src/paths.js';

const exec = promisify(execFile);
let helm: string;

beforeAll(async () => {
  helm = await ensureHelm();
}, 600_000);

async function run(...args: string[]): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await exec(helm, args, { maxBuffer: 16 << 20, env: { ...process.env, HELM_CACHE_HOME: '/tmp/shimmy-helm-cache' } });
    return { code: 0, out: stdout + stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, out: e.stdout + e.stderr };
  }
}

interface Manifest {
  kind: string;
  metadata: { name: string };
  spec?: { template?: { spec?: { containers: Container[] } } } & Record<string, unknown>;
}

interface Container {
  args?: string[];
  securityContext?: Record<string, unknown>;
  volumeMounts?: Record<string, unknown>[];
}

async function render(...set: string[]): Promise<Manifest[]> {
  const r = await run('template', 'shimmy', CHART_DIR, '-n', 'shimmy-system', ...set.flatMap((s) => ['--set', s]));
  expect(r.code, r.out).toBe(0);
  return parseAllDocuments(r.out)
    .map((d) => d.toJSON() as Manifest | null)
    .filter((m): m is Manifest => !!m?.kind);
}

const argsOf = (objects: Manifest[], kind: string, name: string) =>
  objects.find((o) => o.kind === kind && o.metadata.name === name)?.spec?.template?.spec?.containers[0]?.args ?? [];

describe('charts/shimmy', () => {
  it("passes `helm lint --strict` in both scheduler modes, and its appVersion is the package's version", async () => {
    for (const set of [[], ['--set', 'scheduler.mode=extenderOnly']]) {
      const r = await run('lint', '--strict', CHART_DIR, ...set);
      expect(r.code, r.out).toBe(0);
    }
    const chart = parse(readFileSync(join(CHART_DIR, 'Chart.yaml'), 'utf8')) as { appVersion: string };
    const pkg = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string };
    expect(chart.appVersion).toBe(pkg.version);
  });

  it('refuses bad values through values.schema.json, naming the value', async () => {
    for (const [set, what] of [
      ['scheduler.mode=bogus', /scheduler\.mode|scheduler.*mode/],
      ['agent.segmentPermissions=999', /segmentPermissions/],
      ['webhook.failurePolicy=Sometimes', /failurePolicy/],
      ['controller.replicas=0', /replicas/],
      ['nosuchkey=1', /nosuchkey/],
      ['hostIPC.channelGroups=64600', /channelGroups/],
      ['hostIPC.segmentOwner=0', /segmentOwner/],
    ] as const) {
      const r = await run('template', 'shimmy', CHART_DIR, '--set', set);
      expect(r.code, set).not.toBe(0);
      expect(r.out, set).toMatch(what);
    }
  });

  it('renders what the code expects: the agent flags, the cleanup Job stopping both Deployments, and no scheduler in extenderOnly mode', async () => {
    const objects = await render();
    const kinds = objects.map((o) => `${o.kind}/${o.metadata.name}`);
    expect(kinds).toEqual(
      expect.arrayContaining([
        'Deployment/shimmy-controller',
        'DaemonSet/shimmy-agent',
        'Deployment/shimmy-scheduler',
        'Job/shimmy-uninstall',
        'Service/shimmy-extender',
      ]),
    );
    expect(argsOf(objects, 'DaemonSet', 'shimmy-agent')).toEqual(
      expect.arrayContaining(['agent', '--node=$(NODE_NAME)', '--grace=30s', '--segment-permissions=0660']),
    );
    expect(argsOf(objects, 'Job', 'shimmy-uninstall')).toEqual(
      expect.arrayContaining([
        'cleanup',
        '--controller-deployment=shimmy-controller',
        '--scheduler-deployment=shimmy-scheduler',
        '--scheduler-lease=shimmy-scheduler',
      ]),
    );
    expect(argsOf(objects, 'Deployment', 'shimmy-controller')).toEqual(expect.arrayContaining(['controller', '--scheduler-name=shimmy-scheduler']));

    const extenderOnly = await render('scheduler.mode=extenderOnly');
    const names = extenderOnly.map((o) => `${o.kind}/${o.metadata.name}`);
    expect(names).not.toContain('Deployment/shimmy-scheduler');
    expect(names).toContain('ConfigMap/shimmy-extender-config');
    // The webhook leaves schedulerName alone: the cluster's own scheduler places the pods.
    expect(argsOf(extenderOnly, 'Deployment', 'shimmy-controller')).toContain('--scheduler-name=');
    expect(argsOf(extenderOnly, 'Job', 'shimmy-uninstall').some((a) => a.startsWith('--scheduler-deployment'))).toBe(false);
  });

  it('serves Volume channels by default: a CSIDriver for inline volumes with pod info, the agent privileged with its plugin flags and directories; none of it when disabled', async () => {
    const objects = await render();
    const driver = objects.find((o) => o.kind === 'CSIDriver');
    expect(driver).toMatchObject({
      metadata: { name: 'shimmy.dev' },
      spec: { attachRequired: false, podInfoOnMount: true, volumeLifecycleModes: ['Ephemeral'] },
    });
    expect(argsOf(objects, 'DaemonSet', 'shimmy-agent')).toEqual(
      expect.arrayContaining([
        '--channel-root=/run/shimmy/channels',
        '--csi-socket=/var/lib/kubelet/plugins/shimmy.dev/csi.sock',
        '--registration-dir=/var/lib/kubelet/plugins_registry',
      ]),
    );
    const agent = objects.find((o) => o.kind === 'DaemonSet')!.spec!.template!.spec!.containers[0]!;
    expect(agent.securityContext!.privileged).toBe(true);
    expect(agent.volumeMounts).toContainEqual({ name: 'kubelet-pods', mountPath: '/var/lib/kubelet/pods', mountPropagation: 'Bidirectional' });

    const without = await render('agent.volume.enabled=false');
    expect(without.some((o) => o.kind === 'CSIDriver')).toBe(false);
    expect(argsOf(without, 'DaemonSet', 'shimmy-agent').some((a) => a.startsWith('--channel-root'))).toBe(false);
    const plain = without.find((o) => o.kind === 'DaemonSet')!.spec!.template!.spec!.containers[0]!;
    expect(plain.securityContext).toMatchObject({ capabilities: { drop: ['ALL'], add: ['IPC_OWNER', 'SETUID', 'SETGID'] } });
    expect(plain.securityContext!.privileged).toBeUndefined();
  });

  it('hardens HostIPC channels by default: agent and controller get the segment owner and the group range; off, neither does, nor SETUID', async () => {
    const on = await render();
    expect(argsOf(on, 'DaemonSet', 'shimmy-agent')).toContain('--segment-owner=64500');
    expect(argsOf(on, 'Deployment', 'shimmy-controller')).toEqual(expect.arrayContaining(['--segment-owner=64500', '--channel-groups=64600-65499']));
    const policy = on.find((o) => o.kind === 'ValidatingAdmissionPolicy') as unknown as { spec: { validations: { message: string }[] } };
    expect(policy.spec.validations.map((v) => v.message).join('\n')).toMatch(/gids 64600-65499 are the channels' groups/);

    const off = await render('hostIPC.hardened=false', 'agent.volume.enabled=false');
    expect(argsOf(off, 'DaemonSet', 'shimmy-agent').some((a) => a.startsWith('--segment-owner'))).toBe(false);
    expect(argsOf(off, 'Deployment', 'shimmy-controller').some((a) => a.startsWith('--channel-groups'))).toBe(false);
    const agent = off.find((o) => o.kind === 'DaemonSet')!.spec!.template!.spec!.containers[0]!;
    expect(agent.securityContext).toMatchObject({ capabilities: { add: ['IPC_OWNER'] } });
    const offPolicy = off.find((o) => o.kind === 'ValidatingAdmissionPolicy') as unknown as { spec: { validations: { message: string }[] } };
    expect(offPolicy.spec.validations.map((v) => v.message).join('\n')).not.toMatch(/channels' groups/);
  });

  it('gives the agents a replication key of their own (a 64-character Secret, new per install, mounted read-only; or the Secret named in keySecret) and a NetworkPolicy that lets in only agents, and anyone on the metrics port', async () => {
    const keyOf = (objects: Manifest[]) => {
      const secret = objects.find((o) => o.kind === 'Secret' && o.metadata.name === 'shimmy-replication-key') as unknown as
        { data: { key: string } } | undefined;
      return secret && Buffer.from(secret.data.key, 'base64').toString();
    };
    const [one, two] = [await render(), await render()];
    expect(keyOf(one)).toMatch(/^[A-Za-z0-9]{64}$/);
    expect(keyOf(two)).not.toBe(keyOf(one));
    expect(argsOf(one, 'DaemonSet', 'shimmy-agent')).toContain('--replication-key-file=/etc/shimmy/replication/key');
    const podSpec = one.find((o) => o.kind === 'DaemonSet')!.spec!.template!.spec! as unknown as {
      volumes: Record<string, unknown>[];
      containers: Container[];
    };
    expect(podSpec.containers[0]!.volumeMounts).toContainEqual({ name: 'replication-key', mountPath: '/etc/shimmy/replication', readOnly: true });
    expect(podSpec.volumes).toContainEqual({ name: 'replication-key', secret: { secretName: 'shimmy-replication-key', defaultMode: 0o400 } });

    const own = await render('agent.replication.keySecret=cluster-key');
    expect(keyOf(own)).toBeUndefined();
    const ownSpec = own.find((o) => o.kind === 'DaemonSet')!.spec!.template!.spec! as unknown as { volumes: Record<string, unknown>[] };
    expect(ownSpec.volumes).toContainEqual(expect.objectContaining({ secret: expect.objectContaining({ secretName: 'cluster-key' }) }));

    const policy = one.find((o) => o.kind === 'NetworkPolicy' && o.metadata.name === 'shimmy-agent') as unknown as { spec: Record<string, unknown> };
    const agents = { 'app.kubernetes.io/name': 'shimmy', 'app.kubernetes.io/instance': 'shimmy', 'app.kubernetes.io/component': 'agent' };
    expect(policy.spec).toEqual({
      podSelector: { matchLabels: agents },
      policyTypes: ['Ingress'],
      ingress: [{ ports: [{ port: 'metrics', protocol: 'TCP' }] }, { from: [{ podSelector: { matchLabels: agents } }] }],
    });
    expect((await render('agent.replication.networkPolicy=false')).some((o) => o.kind === 'NetworkPolicy')).toBe(false);

    // The spool outlives the agent's container: a directory on the node's /run.
    expect(argsOf(one, 'DaemonSet', 'shimmy-agent')).toContain('--spool-dir=/var/run/shimmy/spool');
    expect(podSpec.containers[0]!.volumeMounts).toContainEqual({ name: 'replication-spool', mountPath: '/var/run/shimmy/spool' });
    expect(podSpec.volumes).toContainEqual({ name: 'replication-spool', hostPath: { path: '/run/shimmy/spool', type: 'DirectoryOrCreate' } });
    const unspooled = await render('agent.replication.spoolDir=');
    expect(argsOf(unspooled, 'DaemonSet', 'shimmy-agent').some((a) => a.startsWith('--spool-dir'))).toBe(false);

    const off = await render('agent.replication.enabled=false', 'agent.volume.enabled=false');
    expect(keyOf(off)).toBeUndefined();
    expect(off.some((o) => o.kind === 'NetworkPolicy')).toBe(false);
    expect(argsOf(off, 'DaemonSet', 'shimmy-agent').some((a) => a.startsWith('--replication'))).toBe(false);
    expect(off.find((o) => o.kind === 'DaemonSet')!.spec!.template!.spec!).not.toHaveProperty('volumes');
  });

  it("with webhook.certManager.enabled, the controller only reads cert-manager's Secret, and the cleanup leaves it", async () => {
    const own = await render();
    expect(argsOf(own, 'Deployment', 'shimmy-controller')).toEqual(expect.arrayContaining(['--tls-issuer=controller', '--tls-secret=shimmy-webhook-tls']));
    expect(argsOf(own, 'Job', 'shimmy-uninstall')).toContain('--tls-secret=shimmy-webhook-tls');
    expect(own.some((o) => o.kind === 'Certificate')).toBe(false);

    const managed = await render('webhook.certManager.enabled=true', 'fullnameOverride=edge');
    expect(argsOf(managed, 'Deployment', 'edge-controller')).toEqual(expect.arrayContaining(['--tls-issuer=external', '--tls-secret=edge-webhook-tls']));
    expect(argsOf(managed, 'Job', 'edge-uninstall')).toContain('--tls-secret=');
    const certificate = managed.find((o) => o.kind === 'Certificate' && o.metadata.name === 'edge-webhook') as unknown as { spec: { secretName: string } };
    expect(certificate.spec.secretName).toBe('edge-webhook-tls');
    const role = managed.find((o) => o.kind === 'Role' && o.metadata.name === 'edge-controller') as unknown as {
      rules: { resources: string[]; verbs: string[]; resourceNames?: string[] }[];
    };
    expect(role.rules.filter((r) => r.resources.includes('secrets'))).toEqual([
      { apiGroups: [''], resources: ['secrets'], resourceNames: ['edge-webhook-tls'], verbs: ['get'] },
    ]);
  });

  it('calls the extender over HTTPS with a client certificate: the scheduler mounts its Secret, and plain HTTP only when asked', async () => {
    interface Extender {
      urlPrefix: string;
      tlsConfig?: { certFile: string; keyFile: string; caFile: string };
    }
    type Pod = {
      containers: { args?: string[]; volumeMounts?: { name: string; mountPath: string }[] }[];
      volumes?: { name: string; secret?: { secretName: string } }[];
    };
    const find = <T>(objects: Manifest[], kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata.name === name) as unknown as T;
    const extenders = (objects: Manifest[], configMap: string, key: string) =>
      (parse(find<{ data: Record<string, string> }>(objects, 'ConfigMap', configMap).data[key]!) as { extenders: Extender[] }).extenders;
    const schedulerPod = (objects: Manifest[]) => find<{ spec: { template: { spec: Pod } } }>(objects, 'Deployment', 'shimmy-scheduler').spec.template.spec;
    const files = {
      certFile: '/etc/shimmy-extender-client/tls.crt',
      keyFile: '/etc/shimmy-extender-client/tls.key',
      caFile: '/etc/shimmy-extender-client/ca.crt',
    };

    const own = await render();
    expect(extenders(own, 'shimmy-scheduler-config', 'config.yaml')).toMatchObject([
      { urlPrefix: 'https://shimmy-extender.shimmy-system.svc:8888/', tlsConfig: files },
    ]);
    const pod = schedulerPod(own);
    expect(pod.volumes).toContainEqual({ name: 'extender-client', secret: { secretName: 'shimmy-extender-client' } });
    expect(pod.containers[0]!.volumeMounts).toContainEqual(expect.objectContaining({ name: 'extender-client', mountPath: '/etc/shimmy-extender-client' }));
    expect(argsOf(own, 'Deployment', 'shimmy-controller')).toContain('--extender-service=shimmy-extender');
    expect(argsOf(own, 'Deployment', 'shimmy-controller').some((a) => a.startsWith('--extender-insecure-http') || a.startsWith('--extender-hosts'))).toBe(
      false,
    );

    // A fixed ClusterIP: the URL names it, and so must the serving certificate.
    const fixed = await render('controller.extenderService.clusterIP=10.96.0.88');
    expect(extenders(fixed, 'shimmy-scheduler-config', 'config.yaml')[0]!.urlPrefix).toBe('https://10.96.0.88:8888/');
    expect(argsOf(fixed, 'Deployment', 'shimmy-controller')).toContain('--extender-hosts=10.96.0.88');

    // extenderOnly: the snippet carries tlsConfig and says which Secret to give the scheduler.
    const only = await render('scheduler.mode=extenderOnly');
    expect(extenders(only, 'shimmy-extender-config', 'extender-snippet.yaml')).toMatchObject([{ tlsConfig: files }]);
    const snippet = find<{ data: Record<string, string> }>(only, 'ConfigMap', 'shimmy-extender-config').data['extender-snippet.yaml']!;
    expect(snippet).toContain('the Secret shimmy-system/shimmy-extender-client');
    expect(snippet).toContain('at /etc/shimmy-extender-client/');

    // cert-manager: a second Certificate, from the same issuer, for the client; the scheduler mounts its Secret.
    const managed = await render('webhook.certManager.enabled=true', 'fullnameOverride=edge');
    const client = find<{ spec: { secretName: string; usages: string[] } }>(managed, 'Certificate', 'edge-extender-client');
    expect(client.spec.secretName).toBe('edge-extender-client');
    expect(client.spec.usages).toContain('client auth');
    const serving = find<{ spec: { dnsNames: string[] } }>(managed, 'Certificate', 'edge-webhook');
    expect(serving.spec.dnsNames).toEqual(expect.arrayContaining(['edge-extender.shimmy-system.svc', 'edge-extender.shimmy-system.svc.cluster.local']));
    const managedPod = find<{ spec: { template: { spec: Pod } } }>(managed, 'Deployment', 'edge-scheduler').spec.template.spec;
    expect(managedPod.volumes).toContainEqual({ name: 'extender-client', secret: { secretName: 'edge-extender-client' } });

    // Plain HTTP only when asked: no tlsConfig, no Secret, no client Certificate, and the controller is told.
    const insecure = await render('controller.extenderInsecureHTTP=true', 'webhook.certManager.enabled=true');
    expect(extenders(insecure, 'shimmy-scheduler-config', 'config.yaml')).toEqual([
      expect.objectContaining({ urlPrefix: 'http://shimmy-extender.shimmy-system.svc:8888/' }),
    ]);
    expect(extenders(insecure, 'shimmy-scheduler-config', 'config.yaml')[0]!.tlsConfig).toBeUndefined();
    expect(schedulerPod(insecure).volumes?.some((v) => v.secret)).toBe(false);
    expect(insecure.some((o) => o.kind === 'Certificate' && o.metadata.name.endsWith('extender-client'))).toBe(false);
    expect(argsOf(insecure, 'Deployment', 'shimmy-controller')).toContain('--extender-insecure-http');
  });
});
