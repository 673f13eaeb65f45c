/**
 * The webhook against a real kube-apiserver: it calls our HTTPS server through the
 * MutatingWebhookConfiguration in webhook-config/, and the pods are read back as stored.
 */
import { createServer, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PatchStrategy, setHeaderOptions, type V1Pod } from '@kubernetes/client-node';
import { readInjectedChannel } from '../../src/client/env.js';
import { CHANNELS_ANNOTATION } from '../../src/k8s/pod-channels.js';
import { INJECTED_LABEL, INJECTION_LABEL } from '../../src/k8s/types.js';
import { createChannel, createNamespace, getChannel, pod, PIPELINE, startCluster, type ClusterFixture } from './cluster-fixture.js';
import { eventually } from '../helpers/wait.js';

const NS = 'pipeline';
const OTHER_NS = 'plain';
let f: ClusterFixture;

beforeAll(async () => {
  f = await startCluster({ nodes: 2, agents: true });
  await f.startController();
  await createNamespace(f, NS, true);
  await createNamespace(f, OTHER_NS, false);
  await createChannel(f, NS, 'frames', { selector: { matchLabels: { pipeline: 'camera' } }, capacity: '16Mi', maxMessageSize: '2Mi', memory: 'HostIPC' });
  await createChannel(f, NS, 'detections', {
    selector: { matchExpressions: [{ key: 'stage', operator: 'In', values: ['detect', 'blur'] }] },
    mode: 'Stream',
    memory: 'HostIPC',
  });
});

afterAll(async () => {
  await f?.stop();
});

const envOf = (p: V1Pod, container = 0) => Object.fromEntries((p.spec!.containers[container]!.env ?? []).map((e) => [e.name, e.value ?? '']));

describe('mutating webhook on a real API server', () => {
  it('patches the pipeline pods as stored by the API server, and only those', async () => {
    const frames = await getChannel(f, NS, 'frames');
    for (const stage of PIPELINE) {
      const spec = stage === 'camera' ? { initContainers: [{ name: 'init', image: 'registry.invalid/init:1' }] } : {};
      await f.core.createNamespacedPod({ namespace: NS, body: pod(stage, { pipeline: 'camera', stage }, spec) });
    }
    await f.core.createNamespacedPod({ namespace: NS, body: pod('unlabelled', { app: 'other' }) });
    await f.core.createNamespacedPod({ namespace: OTHER_NS, body: pod('camera', { pipeline: 'camera', stage: 'camera' }) });

    for (const stage of PIPELINE) {
      const stored = await f.core.readNamespacedPod({ name: stage, namespace: NS });
      const expected = stage === 'detect' || stage === 'blur' ? 'detections,frames' : 'frames';
      expect(stored.spec!.hostIPC).toBe(true);
      expect(stored.metadata!.annotations![CHANNELS_ANNOTATION]).toBe(expected);
      expect(stored.metadata!.labels![INJECTED_LABEL]).toBe('true');
      expect(stored.spec!.schedulerName).toBe('shimmy-scheduler');
      // The client library reads exactly what the webhook wrote.
      const injected = readInjectedChannel('frames', envOf(stored));
      expect(injected).toMatchObject({
        namespace: NS,
        name: 'frames',
        uid: frames.metadata.uid,
        config: { mode: 'pubsub', capacity: 16 * 2 ** 20, maxMessage: 2 * 2 ** 20, slowConsumer: 'block' },
      });
      expect(envOf(stored).SHIMMY_CHANNELS).toBe(expected);
    }
    const camera = await f.core.readNamespacedPod({ name: 'camera', namespace: NS });
    expect(Object.fromEntries((camera.spec!.initContainers![0]!.env ?? []).map((e) => [e.name, e.value]))).toMatchObject({ SHIMMY_CHANNELS: 'frames' });
    const detect = await f.core.readNamespacedPod({ name: 'detect', namespace: NS });
    expect(readInjectedChannel('detections', envOf(detect)).config.mode).toBe('stream');

    for (const [namespace, name] of [
      [NS, 'unlabelled'],
      [OTHER_NS, 'camera'],
    ] as const) {
      const untouched = await f.core.readNamespacedPod({ name, namespace });
      expect(untouched.spec!.hostIPC).toBeFalsy();
      expect(untouched.metadata!.annotations?.[CHANNELS_ANNOTATION]).toBeUndefined();
      expect(untouched.spec!.containers[0]!.env).toBeUndefined();
      expect(untouched.spec!.schedulerName).toBe('default-scheduler');
    }
  });

  it('a Volume channel gives the pod its CSI volume and no hostIPC, so it passes Pod Security "restricted"; a HostIPC channel does not', async () => {
    const ns = 'restricted-pipeline';
    await f.core.createNamespace({
      body: { metadata: { name: ns, labels: { [INJECTION_LABEL]: 'enabled', 'pod-security.kubernetes.io/enforce': 'restricted' } } },
    });
    await createChannel(f, ns, 'frames', { selector: { matchLabels: { app: 'camera' } }, memory: 'Volume' });
    await createChannel(f, ns, 'legacy', { selector: { matchLabels: { app: 'legacy' } }, memory: 'HostIPC' });
    const restricted: Partial<V1Pod['spec']> = {
      securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } },
    };
    const hardened = (p: V1Pod): V1Pod => {
      p.spec!.containers[0]!.securityContext = { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } };
      return p;
    };
    await f.core.createNamespacedPod({ namespace: ns, body: hardened(pod('camera', { app: 'camera' }, restricted)) });
    const stored = await f.core.readNamespacedPod({ name: 'camera', namespace: ns });
    expect(stored.spec!.hostIPC).toBeFalsy();
    expect(stored.spec!.volumes).toContainEqual({ name: 'shimmy-frames', csi: { driver: 'shimmy.dev', volumeAttributes: { channel: 'frames' } } });
    expect(stored.spec!.containers[0]!.volumeMounts).toContainEqual({ name: 'shimmy-frames', mountPath: '/var/run/shimmy/channels/frames' });
    expect(readInjectedChannel('frames', envOf(stored)).file).toBe('/var/run/shimmy/channels/frames/ring');
    // Pod Security runs after the mutating webhooks: hostIPC is refused in this namespace.
    await expect(f.core.createNamespacedPod({ namespace: ns, body: hardened(pod('legacy', { app: 'legacy' }, restricted)) })).rejects.toMatchObject({
      body: expect.stringMatching(/violates PodSecurity .{0,4}restricted:latest.{0,4}: host namespaces \(hostIPC=true\)/),
    });
  });

  it('keeps env the user set and is idempotent when a pod already carries the variables', async () => {
    const body = pod('preset', { pipeline: 'camera' });
    body.spec!.containers[0]!.env = [
      { name: 'APP_MODE', value: 'fast' },
      { name: 'SHIMMY_CHANNELS', value: 'stale' },
    ];
    await f.core.createNamespacedPod({ namespace: NS, body });
    const stored = await f.core.readNamespacedPod({ name: 'preset', namespace: NS });
    const env = stored.spec!.containers[0]!.env!;
    expect(env.filter((e) => e.name === 'SHIMMY_CHANNELS')).toEqual([{ name: 'SHIMMY_CHANNELS', value: 'frames' }]);
    expect(env[0]).toEqual({ name: 'APP_MODE', value: 'fast' });
    expect(new Set(env.map((e) => e.name)).size).toBe(env.length);
  });

  it('lets the API server refuse invalid channels with messages that say what is wrong', async () => {
    const attempt = (name: string, spec: Record<string, unknown>) =>
      createChannel(f, NS, name, spec as never).then(
        () => 'accepted',
        (err: { body?: string }) => String(err.body),
      );
    expect(await attempt('a'.repeat(64), { selector: { matchLabels: { a: 'b' } } })).toContain('at most 63 characters');
    expect(await attempt('tiny', { selector: { matchLabels: { a: 'b' } }, capacity: '1Mi', maxMessageSize: '1Mi' })).toContain(
      'maxMessageSize must be smaller than capacity',
    );
    expect(await attempt('empty', { selector: {} })).toContain('selector must not be empty');
    expect(await attempt('milli', { selector: { matchLabels: { a: 'b' } }, capacity: '100m' })).toContain('capacity must be a positive number of bytes');
    expect(await attempt('noval', { selector: { matchExpressions: [{ key: 'a', operator: 'In' }] } })).toContain('In and NotIn need values');
    expect(await attempt('mode', { selector: { matchLabels: { a: 'b' } }, mode: 'Broadcast' })).toContain('Unsupported value');
    expect(await attempt('badkey', { selector: { matchExpressions: [{ key: 'a b', operator: 'Exists' }] } })).toMatch(
      /matchExpressions\[0\]\.key.*should match/,
    );
    expect(await attempt('badvalue', { selector: { matchLabels: { a: 'b c' } } })).toMatch(/matchLabels\.a.*should match/);
    const defaults = await createChannel(f, NS, 'defaults', { selector: { matchLabels: { nothing: 'here' } } });
    expect(defaults.spec).toMatchObject({
      mode: 'PubSub',
      capacity: '4Mi',
      maxMessageSize: '1Mi',
      slowConsumer: 'Block',
      placement: 'Prefer',
      memory: 'Volume',
    });
  });

  it('puts the webhook configuration back when its caBundle is reset or it is deleted', async () => {
    const good = await f.admission.readMutatingWebhookConfiguration({ name: 'shimmy' });
    const bundle = good.webhooks![0]!.clientConfig.caBundle;
    expect(bundle).toBeTruthy();
    good.webhooks![0]!.clientConfig.caBundle = undefined;
    await f.admission.replaceMutatingWebhookConfiguration({ name: 'shimmy', body: good });
    await eventually(
      'caBundle restored',
      async () => (await f.admission.readMutatingWebhookConfiguration({ name: 'shimmy' })).webhooks![0]!.clientConfig.caBundle === bundle,
    );
    await f.admission.deleteMutatingWebhookConfiguration({ name: 'shimmy' });
    await eventually(
      'configuration recreated',
      async () => (await f.admission.readMutatingWebhookConfiguration({ name: 'shimmy' })).webhooks![0]!.clientConfig.caBundle === bundle,
    );
    // And it works again: a new pod is patched.
    await f.core.createNamespacedPod({ namespace: NS, body: pod('after-reset', { pipeline: 'camera' }) });
    expect((await f.core.readNamespacedPod({ name: 'after-reset', namespace: NS })).spec!.hostIPC).toBe(true);
  });

  it('with the webhook down, pods elsewhere are created and opted-in pods are refused (failurePolicy: Fail)', async () => {
    // Opt kube-system and the controller's namespace in, as a careless operator might: the
    // NotIn clause must still keep them out, so the controller can always restart.
    const optIn = { metadata: { labels: { [INJECTION_LABEL]: 'enabled' } } };
    for (const ns of ['kube-system', f.state.namespace])
      await f.core.patchNamespace({ name: ns, body: optIn }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
    await f.stopController();
    try {
      await f.core.createNamespacedPod({ namespace: OTHER_NS, body: pod('while-down', { pipeline: 'camera' }) });
      await f.core.createNamespacedPod({ namespace: f.state.namespace, body: pod('controller-ns', { pipeline: 'camera' }) });
      await f.core.createNamespacedPod({ namespace: 'kube-system', body: pod('kube-system-pod', { pipeline: 'camera' }) });
      const refused = await f.core.createNamespacedPod({ namespace: NS, body: pod('while-down', { pipeline: 'camera' }) }).then(
        () => 'created',
        (err: { body?: string }) => (JSON.parse(String(err.body)) as { message: string }).message,
      );
      expect(refused).toContain('failed calling webhook "pods.shimmy.dev"');
    } finally {
      await f.startController();
    }
    await f.core.createNamespacedPod({ namespace: NS, body: pod('while-down', { pipeline: 'camera' }) });
    expect((await f.core.readNamespacedPod({ name: 'while-down', namespace: NS })).spec!.hostIPC).toBe(true);
  });

  it('keeps admitting opted-in pods through its shutdown delay, not ready meanwhile, so pods sent its way while a Service lets go of it are not refused', async () => {
    await f.stopController();
    const controller = await f.startController({ shutdownDelayMs: 3000 });
    const stopping = controller.stop();
    try {
      await eventually('not ready', async () => (await fetch(`${f.state.metricsUrl}/readyz`)).status === 503, 2000);
      // Past the rest of the shutdown's first steps (the leader lease given back), well inside the delay.
      await new Promise((r) => setTimeout(r, 1000));
      await f.core.createNamespacedPod({ namespace: NS, body: pod('in-shutdown-delay', { pipeline: 'camera' }) });
      expect((await f.core.readNamespacedPod({ name: 'in-shutdown-delay', namespace: NS })).spec!.hostIPC).toBe(true);
    } finally {
      await stopping;
      await f.startController();
    }
  });

  it('a hung controller costs an opted-in pod creation its 5 s timeoutSeconds (not the default 10 s), and other pods nothing', async () => {
    await f.stopController();
    // Accepts every connection on the webhook's port and never answers, not even the TLS handshake.
    const held: Socket[] = [];
    const hung = createServer((socket) => void held.push(socket));
    await new Promise<void>((resolve) => hung.listen(f.state.ports.webhook, '127.0.0.1', resolve));
    try {
      let started = Date.now();
      await f.core.createNamespacedPod({ namespace: OTHER_NS, body: pod('beside-hung', { pipeline: 'camera' }) });
      expect(Date.now() - started).toBeLessThan(2000);
      started = Date.now();
      const refused = await f.core.createNamespacedPod({ namespace: NS, body: pod('while-hung', { pipeline: 'camera' }) }).then(
        () => 'created',
        (err: { body?: string }) => (JSON.parse(String(err.body)) as { message: string }).message,
      );
      const waited = Date.now() - started;
      expect(refused).toContain('failed calling webhook "pods.shimmy.dev"');
      expect(held.length).toBeGreaterThan(0);
      expect(waited).toBeGreaterThanOrEqual(4500);
      expect(waited).toBeLessThan(8000);
    } finally {
      for (const socket of held) socket.destroy();
      await new Promise((resolve) => hung.close(resolve));
      await f.startController();
    }
  });

  it('refuses no pod while the serving certificate and the CA rotate', async () => {
    await f.stopController();
    // Lifetimes of seconds: the serving cert is reissued every ~4 s, the CA every ~10 s.
    const controller = await f.startController({ certValidityMs: 6_000, caValidityMs: 15_000, certCheckMs: 500 });
    const rotations = async (kind: string) => (await controller.metrics.certRotations.get()).values.find((v) => v.labels.kind === kind)?.value ?? 0;
    const failures: string[] = [];
    // Each pod's review may ride a kept-alive connection; a fresh TLS connection per round
    // sees what the server serves now, checked against the caBundle registered now.
    const served = new Set<string>();
    let largestBundle = 0;
    const servedCert = async (): Promise<string> => {
      const config = await f.admission.readMutatingWebhookConfiguration({ name: 'shimmy' });
      const bundle = Buffer.from(config.webhooks![0]!.clientConfig.caBundle!, 'base64').toString();
      largestBundle = Math.max(largestBundle, bundle.split('-----BEGIN CERTIFICATE-----').length - 1);
      return new Promise((resolve, reject) => {
        const socket = tlsConnect({ host: '127.0.0.1', port: f.state.ports.webhook, ca: bundle, rejectUnauthorized: true }, () => {
          const fingerprint = socket.getPeerCertificate().fingerprint256;
          socket.end();
          resolve(fingerprint);
        });
        socket.on('error', reject);
      });
    };
    let created = 0;
    const deadline = Date.now() + 25_000;
    while (Date.now() < deadline) {
      try {
        served.add(await servedCert());
      } catch (err) {
        failures.push(`served certificate not trusted by the caBundle: ${String(err)}`);
      }
      const name = `rot-${created}`;
      try {
        await f.core.createNamespacedPod({ namespace: NS, body: pod(name, { pipeline: 'camera' }) });
        const stored = await f.core.readNamespacedPod({ name, namespace: NS });
        if (!stored.spec!.hostIPC) failures.push(`${name} not patched`);
      } catch (err) {
        const body = String((err as { body?: string }).body ?? err);
        failures.push(`${name}: ${body.startsWith('{') ? (JSON.parse(body) as { message: string }).message : body}`);
      }
      created++;
    }
    expect(failures).toEqual([]);
    expect(created).toBeGreaterThan(50);
    expect(await rotations('serving')).toBeGreaterThanOrEqual(2);
    expect(await rotations('ca')).toBeGreaterThanOrEqual(1);
    // The swaps reached the server, and the CA changed over with both in the bundle.
    expect(served.size).toBeGreaterThanOrEqual(3);
    expect(largestBundle).toBeGreaterThanOrEqual(2);
  }, 60_000);
});
