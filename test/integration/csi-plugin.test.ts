/**
 * The CSI node plugin for real: served on unix sockets in a temporary directory, called by a
 * grpc-js client loaded from the same protos, mounting for real (these tests run as root)
 * from a channel root that is a tmpfs, as on a node.
 */
import { credentials, status, type Client, type ServiceError } from '@grpc/grpc-js';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CSI_DRIVER_NAME, startCsiPlugin, type ChannelMountRequest, type CsiPlugin } from '../../src/csi/index.js';
import { mountAt, parseMountinfo } from '../../src/csi/mountinfo.js';
import { csiProtos } from '../../src/csi/protos.js';

const work = mkdtempSync(join(tmpdir(), 'shimmy-csi-'));
const root = join(work, 'channels');
const pods = join(work, 'pods');
const csiSocketPath = join(work, 'plugins', CSI_DRIVER_NAME, 'csi.sock');
const registrationDir = join(work, 'plugins_registry');
const log = pino({ level: 'silent' });

let plugin: CsiPlugin;
let identity: Client;
let node: Client;
let decide: (req: ChannelMountRequest) => Promise<void> = async () => undefined;
const asked: ChannelMountRequest[] = [];
const operations: string[] = [];
let targets = 0;

/** Mount points under the work directory, deepest first. */
function mountsUnderWork(): string[] {
  const entries = parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'));
  return entries
    .map((e) => e.mountPoint)
    .filter((p) => p.startsWith(`${work}/`))
    .sort((a, b) => b.length - a.length);
}
const isMountPoint = (path: string): boolean => mountAt(parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8')), path) !== undefined;

function start(): Promise<CsiPlugin> {
  return startCsiPlugin({
    csiSocketPath,
    registrationDir,
    root,
    nodeName: 'node-a',
    log,
    authorize: (req) => {
      asked.push(req);
      return decide(req);
    },
    onVolumeOperation: (op, code) => operations.push(`${op} ${code}`),
  });
}

function connect(): void {
  const protos = csiProtos();
  identity = new protos.identity(`unix://${csiSocketPath}`, credentials.createInsecure());
  node = new protos.node(`unix://${csiSocketPath}`, credentials.createInsecure());
}

/** Stops the plugin (which removes its sockets) and starts a new one, as a restarted agent does. */
async function restart(): Promise<void> {
  identity.close();
  node.close();
  await plugin.stop();
  expect(existsSync(csiSocketPath)).toBe(false);
  expect(existsSync(plugin.registrationSocketPath)).toBe(false);
  plugin = await start();
  connect();
}

function call<T = Record<string, unknown>>(client: Client, method: string, request: object): Promise<T> {
  return new Promise((resolve, reject) => {
    const fn = (client as unknown as Record<string, (req: object, cb: (err: ServiceError | null, res: T) => void) => void>)[method]!;
    fn.call(client, request, (err, res) => (err ? reject(err) : resolve(res)));
  });
}

async function callError(client: Client, method: string, request: object): Promise<ServiceError> {
  try {
    await call(client, method, request);
  } catch (err) {
    return err as ServiceError;
  }
  throw new Error(`${method} succeeded`);
}

function makeChannel(namespace: string, channel: string): string {
  const dir = join(root, namespace, channel);
  mkdirSync(dir, { recursive: true });
  return dir;
}

function publishRequest(channel: string, extra: { context?: Record<string, string | undefined>; readonly?: boolean } = {}) {
  const target = join(pods, `pod-${++targets}`, 'volumes', 'kubernetes.io~csi', channel, 'mount');
  const context: Record<string, string> = {};
  const merged = {
    channel,
    'csi.storage.k8s.io/ephemeral': 'true',
    'csi.storage.k8s.io/pod.namespace': 'video',
    'csi.storage.k8s.io/pod.name': `decoder-${targets}`,
    'csi.storage.k8s.io/pod.uid': `uid-${targets}`,
    'csi.storage.k8s.io/serviceAccount.name': 'decoder',
    ...extra.context,
  };
  for (const [k, v] of Object.entries(merged)) if (v !== undefined) context[k] = v;
  return {
    target,
    request: {
      volume_id: `csi-${targets}`,
      target_path: target,
      readonly: extra.readonly === true,
      volume_capability: { mount: { fs_type: '', mount_flags: [] }, access_mode: { mode: 'SINGLE_NODE_WRITER' } },
      volume_context: context,
    },
  };
}

const unpublish = (target: string) => call(node, 'NodeUnpublishVolume', { volume_id: 'v', target_path: target });

beforeAll(async () => {
  mkdirSync(root, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'shimmy-csi-test', root]);
  plugin = await start();
  connect();
});

afterEach(() => {
  decide = async () => undefined;
});

afterAll(async () => {
  identity?.close();
  node?.close();
  await plugin?.stop();
  for (const mountPoint of mountsUnderWork()) execFileSync('umount', ['-l', mountPoint]);
  rmSync(work, { recursive: true, force: true });
});

describe('the Identity service', () => {
  it('names the driver and its version', async () => {
    expect(await call(identity, 'GetPluginInfo', {})).toMatchObject({ name: 'shimmy.dev', vendor_version: expect.stringMatching(/^\d+\.\d+\.\d+/) });
  });

  it('has no plugin capabilities and is ready when the channel root exists', async () => {
    expect(await call(identity, 'GetPluginCapabilities', {})).toEqual({ capabilities: [] });
    expect(await call(identity, 'Probe', {})).toEqual({ ready: { value: true } });
  });
});

describe('the Node service', () => {
  it('gives the node name, no capabilities, and UNIMPLEMENTED for staging', async () => {
    expect(await call(node, 'NodeGetInfo', {})).toMatchObject({ node_id: 'node-a' });
    expect(await call(node, 'NodeGetCapabilities', {})).toEqual({ capabilities: [] });
    expect((await callError(node, 'NodeStageVolume', { volume_id: 'v', staging_target_path: '/x' })).code).toBe(status.UNIMPLEMENTED);
  });
});

describe('NodePublishVolume', () => {
  let mounted: string[] = [];
  afterEach(() => {
    for (const target of mounted) if (isMountPoint(target)) execFileSync('umount', ['-l', target]);
    mounted = [];
  });

  it("bind-mounts the channel's directory, nosuid, nodev and noexec, and writes go both ways", async () => {
    const dir = makeChannel('video', 'frames');
    writeFileSync(join(dir, 'ring'), 'from the agent');
    const { target, request } = publishRequest('frames');
    mounted.push(target);
    expect(await call(node, 'NodePublishVolume', request)).toEqual({});
    expect(readFileSync(join(target, 'ring'), 'utf8')).toBe('from the agent');
    writeFileSync(join(target, 'ring'), 'from the pod');
    expect(readFileSync(join(dir, 'ring'), 'utf8')).toBe('from the pod');
    const entry = mountAt(parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8')), target)!;
    expect(entry.root).toBe('/video/frames');
    expect(entry.options).toEqual(expect.arrayContaining(['rw', 'nosuid', 'nodev', 'noexec']));
    expect(asked.at(-1)).toEqual({ namespace: 'video', channel: 'frames', pod: `decoder-${targets}`, podUid: `uid-${targets}`, serviceAccount: 'decoder' });
    expect(operations.at(-1)).toBe('publish OK');

    // The kubelet may call again: the same mount is OK and not mounted twice.
    expect(await call(node, 'NodePublishVolume', request)).toEqual({});
    expect(mountsUnderWork().filter((p) => p === target)).toHaveLength(1);
  });

  it('mounts read-only when the request says so', async () => {
    makeChannel('video', 'frames');
    const { target, request } = publishRequest('frames', { readonly: true });
    mounted.push(target);
    await call(node, 'NodePublishVolume', request);
    expect(() => writeFileSync(join(target, 'ring'), 'x')).toThrow(/EROFS/);
  });

  it('answers ALREADY_EXISTS when the target is a mount of another channel', async () => {
    makeChannel('video', 'frames');
    makeChannel('video', 'audio');
    const { target, request } = publishRequest('frames');
    mounted.push(target);
    await call(node, 'NodePublishVolume', request);
    const other = { ...request, volume_context: { ...request.volume_context, channel: 'audio' } };
    expect((await callError(node, 'NodePublishVolume', other)).code).toBe(status.ALREADY_EXISTS);
  });

  it("refuses a namespace attribute other than the pod's namespace with PERMISSION_DENIED", async () => {
    makeChannel('payments', 'ledger');
    makeChannel('video', 'ledger');
    const { target, request } = publishRequest('ledger', { context: { namespace: 'payments' } });
    mounted.push(target);
    const err = await callError(node, 'NodePublishVolume', request);
    expect(err.code).toBe(status.PERMISSION_DENIED);
    expect(err.details).toMatch(/names namespace "payments"/);
    expect(isMountPoint(target)).toBe(false);
    expect(operations.at(-1)).toBe('publish PERMISSION_DENIED');
  });

  it('refuses a channel that is a path with INVALID_ARGUMENT', async () => {
    makeChannel('b', 'x');
    const { target, request } = publishRequest('../b');
    mounted.push(target);
    expect((await callError(node, 'NodePublishVolume', request)).code).toBe(status.INVALID_ARGUMENT);
    expect(existsSync(target)).toBe(false);
  });

  it('refuses a volume without the ephemeral flag with INVALID_ARGUMENT', async () => {
    makeChannel('video', 'frames');
    const { target, request } = publishRequest('frames', { context: { 'csi.storage.k8s.io/ephemeral': undefined } });
    mounted.push(target);
    const err = await callError(node, 'NodePublishVolume', request);
    expect(err.code).toBe(status.INVALID_ARGUMENT);
    expect(err.details).toMatch(/not an inline ephemeral volume/);
  });

  it('answers UNAVAILABLE while the agent has not made the channel', async () => {
    const { target, request } = publishRequest('not-yet');
    mounted.push(target);
    const err = await callError(node, 'NodePublishVolume', request);
    expect(err.code).toBe(status.UNAVAILABLE);
    expect(err.details).toMatch(/node agent has not made the memory of channel video\/not-yet/);
    expect(existsSync(target)).toBe(false);
  });

  it('refuses a channel directory that is a symbolic link', async () => {
    const elsewhere = join(work, 'elsewhere');
    mkdirSync(elsewhere, { recursive: true });
    writeFileSync(join(elsewhere, 'secret'), 'not a channel');
    makeChannel('video', 'frames');
    symlinkSync(elsewhere, join(root, 'video', 'linked'));
    const { target, request } = publishRequest('linked');
    mounted.push(target);
    const err = await callError(node, 'NodePublishVolume', request);
    expect(err.code).toBe(status.PERMISSION_DENIED);
    expect(err.details).toMatch(/symbolic link/);
    expect(isMountPoint(target)).toBe(false);
  });

  it('refuses a namespace directory that is a symbolic link', async () => {
    makeChannel('payments', 'ledger');
    symlinkSync(join(root, 'payments'), join(root, 'linked-ns'));
    const { target, request } = publishRequest('ledger', { context: { 'csi.storage.k8s.io/pod.namespace': 'linked-ns' } });
    mounted.push(target);
    expect((await callError(node, 'NodePublishVolume', request)).code).toBe(status.PERMISSION_DENIED);
    expect(isMountPoint(target)).toBe(false);
  });

  it("answers PERMISSION_DENIED with the hook's reason when authorize refuses", async () => {
    makeChannel('video', 'frames');
    decide = async () => {
      throw new Error('the channel does not select pod decoder');
    };
    const { target, request } = publishRequest('frames');
    mounted.push(target);
    const err = await callError(node, 'NodePublishVolume', request);
    expect(err.code).toBe(status.PERMISSION_DENIED);
    expect(err.details).toMatch(/the channel does not select pod decoder/);
    expect(isMountPoint(target)).toBe(false);
  });
});

describe('NodeUnpublishVolume', () => {
  it('unmounts and removes the target, and is idempotent', async () => {
    makeChannel('video', 'frames');
    const { target, request } = publishRequest('frames');
    await call(node, 'NodePublishVolume', request);
    expect(isMountPoint(target)).toBe(true);
    expect(await unpublish(target)).toEqual({});
    expect(isMountPoint(target)).toBe(false);
    expect(existsSync(target)).toBe(false);
    expect(existsSync(join(root, 'video', 'frames'))).toBe(true);
    expect(await unpublish(target)).toEqual({});
    expect(operations.at(-1)).toBe('unpublish OK');
  });

  it('refuses a relative target path', async () => {
    expect((await callError(node, 'NodeUnpublishVolume', { volume_id: 'v', target_path: 'relative' })).code).toBe(status.INVALID_ARGUMENT);
  });
});

describe('the Registration service', () => {
  it('points the kubelet at the CSI socket and records what it reports', async () => {
    const registration = new (csiProtos().registration)(`unix://${plugin.registrationSocketPath}`, credentials.createInsecure());
    try {
      expect(plugin.registrationSocketPath).toBe(join(registrationDir, 'shimmy.dev-reg.sock'));
      expect(await call(registration, 'GetInfo', {})).toEqual({
        type: 'CSIPlugin',
        name: 'shimmy.dev',
        endpoint: csiSocketPath,
        supported_versions: ['1.0.0'],
      });
      expect(plugin.registrationStatus()).toBeUndefined();
      await call(registration, 'NotifyRegistrationStatus', { plugin_registered: false, error: 'version 1.0.0 not supported' });
      expect(plugin.registrationStatus()).toMatchObject({ registered: false, error: 'version 1.0.0 not supported' });
      await call(registration, 'NotifyRegistrationStatus', { plugin_registered: true });
      expect(plugin.registrationStatus()).toMatchObject({ registered: true, error: '' });
    } finally {
      registration.close();
    }
  });
});

describe('publishedChannels', () => {
  const published: string[] = [];
  beforeEach(() => {
    makeChannel('video', 'frames');
    makeChannel('audio', 'pcm');
  });
  afterAll(() => {
    for (const target of published) if (isMountPoint(target)) execFileSync('umount', ['-l', target]);
  });

  it('counts volumes per channel through publish, unpublish and a restart', async () => {
    // Earlier tests unmounted behind the plugin's back: a restart starts from the mount table.
    await restart();
    expect(plugin.publishedChannels().size).toBe(0);
    const a = publishRequest('frames');
    const b = publishRequest('frames');
    const c = publishRequest('pcm', { context: { 'csi.storage.k8s.io/pod.namespace': 'audio' } });
    for (const { target, request } of [a, b, c]) {
      published.push(target);
      await call(node, 'NodePublishVolume', request);
    }
    await call(node, 'NodePublishVolume', a.request);
    expect(plugin.publishedChannels()).toEqual(
      new Map([
        ['video/frames', 2],
        ['audio/pcm', 1],
      ]),
    );

    // A restarted agent rebuilds the count from /proc/self/mountinfo.
    await restart();
    expect(plugin.publishedChannels()).toEqual(
      new Map([
        ['video/frames', 2],
        ['audio/pcm', 1],
      ]),
    );

    await unpublish(b.target);
    await unpublish(c.target);
    expect(plugin.publishedChannels()).toEqual(new Map([['video/frames', 1]]));
    await unpublish(a.target);
    expect(plugin.publishedChannels().size).toBe(0);
  });
});
