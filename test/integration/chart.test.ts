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
  spec?: { template?: { spec?: { containers: { args?: string[] }[] } } };
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
});
