/**
 * The CSI node plugin as the node agent starts it: the Identity and Node services on the CSI
 * socket, the kubelet's Registration service on `<registrationDir>/shimmy.dev-reg.sock`.
 */
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { lstat, mkdir, realpath, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { ErrorCode, ShimmyError } from '../errors.js';
import { identityHandlers } from './identity-service.js';
import { channelBindMounts, readMountinfo } from './mountinfo.js';
import { NodeService, type NodeServiceOptions } from './node-service.js';
import { csiProtos } from './protos.js';
import { PublishedVolumes } from './published-volumes.js';
import { REGISTRATION_SOCKET_NAME, RegistrationService, type RegistrationStatus } from './registration-service.js';

export interface CsiPluginOptions extends Omit<NodeServiceOptions, 'published'> {
  /** Where to serve CSI, e.g. /var/lib/kubelet/plugins/shimmy.dev/csi.sock (the same path on the host). */
  csiSocketPath: string;
  /** The kubelet's plugins_registry directory, e.g. /var/lib/kubelet/plugins_registry. */
  registrationDir: string;
  /** How long stop() waits for calls in flight before it cuts them off; default 5 s. */
  shutdownTimeoutMs?: number;
}

export interface CsiPlugin {
  readonly csiSocketPath: string;
  readonly registrationSocketPath: string;
  /** `namespace/channel` → volumes of it mounted into pods on this node (rebuilt from mountinfo at start). */
  publishedChannels(): Map<string, number>;
  /** What the kubelet last reported through NotifyRegistrationStatus; undefined until it has. */
  registrationStatus(): RegistrationStatus | undefined;
  /** Shuts both servers down (gracefully, then by force after shutdownTimeoutMs) and removes their sockets. */
  stop(): Promise<void>;
}

/** Removes a socket left by an earlier run; refuses to remove anything that is not a socket. */
async function clearSocket(path: string): Promise<void> {
  const st = await lstat(path).catch(() => undefined);
  if (!st) return;
  if (!st.isSocket()) throw new ShimmyError(ErrorCode.INVALID_ARGUMENT, `${path} exists and is not a socket`, 'Choose another socket path or remove the file');
  await unlink(path);
}

async function listen(server: Server, socketPath: string): Promise<void> {
  await mkdir(dirname(socketPath), { recursive: true });
  await clearSocket(socketPath);
  await new Promise<void>((done, fail) =>
    server.bindAsync(`unix://${socketPath}`, ServerCredentials.createInsecure(), (err) =>
      err
        ? fail(new ShimmyError(ErrorCode.INVALID_ARGUMENT, `Cannot serve on ${socketPath}: ${err.message}`, 'Check the directory is writable', { cause: err }))
        : done(),
    ),
  );
}

function shutdown(server: Server, timeoutMs: number): Promise<void> {
  return new Promise((done) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      done();
    }, timeoutMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      done();
    });
  });
}

/** Starts the plugin; resolves once both sockets accept calls. */
export async function startCsiPlugin(options: CsiPluginOptions): Promise<CsiPlugin> {
  const csiSocketPath = resolve(options.csiSocketPath);
  const registrationSocketPath = join(resolve(options.registrationDir), REGISTRATION_SOCKET_NAME);
  const log = options.log.child({ component: 'csi' });
  const protos = csiProtos();

  // A restarted agent learns from the mount table which channels pods still have mounted.
  const root = await realpath(options.root).catch(() => resolve(options.root));
  const published = new PublishedVolumes(channelBindMounts(await readMountinfo(), root));
  const node = new NodeService({ ...options, log, published });
  const registration = new RegistrationService(csiSocketPath, log);

  const csi = new Server();
  csi.addService(protos.identity.service, identityHandlers(options.root));
  csi.addService(protos.node.service, node.handlers());
  const registrar = new Server();
  registrar.addService(protos.registration.service, registration.handlers());
  try {
    await listen(csi, csiSocketPath);
    await listen(registrar, registrationSocketPath);
  } catch (err) {
    csi.forceShutdown();
    registrar.forceShutdown();
    throw err;
  }
  log.info({ csiSocketPath, registrationSocketPath, published: Object.fromEntries(published.channels()) }, 'CSI node plugin serving');

  const timeoutMs = options.shutdownTimeoutMs ?? 5_000;
  let stopped: Promise<void> | undefined;
  return {
    csiSocketPath,
    registrationSocketPath,
    publishedChannels: () => published.channels(),
    registrationStatus: () => registration.status(),
    stop: () =>
      (stopped ??= (async () => {
        // The registration socket goes first, so the kubelet stops dialling a plugin that is going away.
        await shutdown(registrar, timeoutMs);
        await clearSocket(registrationSocketPath).catch(() => undefined);
        await shutdown(csi, timeoutMs);
        await clearSocket(csiSocketPath).catch(() => undefined);
      })()),
  };
}
