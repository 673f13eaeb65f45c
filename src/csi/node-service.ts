/**
 * The CSI Node service for inline ephemeral volumes: NodePublishVolume bind-mounts a
 * channel's directory `<root>/<pod namespace>/<channel>` onto the pod's target path,
 * NodeUnpublishVolume unmounts it. No staging, no stats, no expansion: those RPCs are
 * left out of the implementation, so grpc-js answers UNIMPLEMENTED.
 */
import { status, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { mkdir, realpath, rmdir } from 'node:fs/promises';
import type { Logger } from 'pino';
import { openChannelDirectory } from './channel-directory.js';
import { CsiRefusal, statusName } from './csi-error.js';
import { bindMount, DEFAULT_MOUNT_TIMEOUT_MS, unmount } from './mounter.js';
import { locate, mountAt, mountsDirectory, readMountinfo } from './mountinfo.js';
import { publishedKey, PublishedVolumes } from './published-volumes.js';
import { unary } from './unary-handler.js';
import { planPublish, planUnpublish, type ChannelMountRequest, type NodePublishVolumeRequest, type NodeUnpublishVolumeRequest } from './volume-request.js';

/** Decides whether a pod may mount a channel; resolves to allow, throws (with a message for the pod's events) to refuse. */
export type AuthorizeChannelMount = (request: ChannelMountRequest) => Promise<void>;

/** Called once per NodePublishVolume / NodeUnpublishVolume with the gRPC status name it answered (`OK`, `PERMISSION_DENIED`, ...). */
export type VolumeOperationObserver = (operation: 'publish' | 'unpublish', code: string) => void;

export interface NodeServiceOptions {
  /** The channel root, `<root>/<namespace>/<channel>/`. */
  root: string;
  /** NodeGetInfo's node_id: the Kubernetes node name. */
  nodeName: string;
  log: Logger;
  /** Default: allow every pod (tests only; the agent checks the channel's selector). */
  authorize?: AuthorizeChannelMount;
  onVolumeOperation?: VolumeOperationObserver;
  /** Bound on each mount/umount command; default DEFAULT_MOUNT_TIMEOUT_MS. */
  mountTimeoutMs?: number;
  published: PublishedVolumes;
}

/** At most this many mounts stacked on one target are taken off by one NodeUnpublishVolume. */
const MAX_STACKED_MOUNTS = 8;

const errno = (err: unknown): string | undefined => (err as NodeJS.ErrnoException).code;
const realOrSame = (path: string): Promise<string> => realpath(path).catch(() => path);

export class NodeService {
  private readonly authorize: AuthorizeChannelMount;
  private readonly mountTimeoutMs: number;
  /** One operation at a time per target path; the kubelet may retry while a call still runs. */
  private readonly busy = new Map<string, Promise<unknown>>();

  constructor(private readonly options: NodeServiceOptions) {
    this.authorize = options.authorize ?? (async () => undefined);
    this.mountTimeoutMs = options.mountTimeoutMs ?? DEFAULT_MOUNT_TIMEOUT_MS;
  }

  handlers(): UntypedServiceImplementation {
    return {
      NodeGetCapabilities: unary(() => ({ capabilities: [] })),
      NodeGetInfo: unary(() => ({ node_id: this.options.nodeName })),
      NodePublishVolume: unary((req: NodePublishVolumeRequest) => this.observe('publish', this.publish(req))),
      NodeUnpublishVolume: unary((req: NodeUnpublishVolumeRequest) => this.observe('unpublish', this.unpublish(req))),
    };
  }

  async publish(req: NodePublishVolumeRequest): Promise<Record<string, never>> {
    const plan = planPublish(req);
    const { namespace, channel, pod, podUid, serviceAccount, targetPath, readonly } = plan;
    const log = this.options.log.child({ namespace, pod, podUid, channel });
    try {
      await this.authorize({ namespace, channel, pod, podUid, serviceAccount });
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      log.info({ why }, 'refused a channel volume');
      throw new CsiRefusal(
        status.PERMISSION_DENIED,
        `Pod ${namespace}/${pod} may not mount channel ${channel}: ${why}`,
        "Check the channel's selector against the pod's labels",
      );
    }
    await this.serialize(targetPath, async () => {
      const dir = await openChannelDirectory(this.options.root, namespace, channel);
      try {
        const target = await realOrSame(targetPath);
        const entries = await readMountinfo();
        const existing = mountAt(entries, target);
        if (existing) {
          const source = locate(entries, dir.path);
          if (!source || !mountsDirectory(existing, source) || existing.options.includes('ro') !== readonly) {
            throw new CsiRefusal(status.ALREADY_EXISTS, `${targetPath} is already a mount point of something else`, 'Unpublish it first');
          }
          this.options.published.add(target, publishedKey(namespace, channel));
          return;
        }
        await mkdir(targetPath, { recursive: true, mode: 0o750 });
        const realTarget = await realpath(targetPath);
        await bindMount(`/proc/${process.pid}/fd/${dir.handle.fd}`, realTarget, readonly, this.mountTimeoutMs);
        this.options.published.add(realTarget, publishedKey(namespace, channel));
        log.info({ targetPath, readonly }, 'mounted a channel volume');
      } finally {
        await dir.handle.close();
      }
    });
    return {};
  }

  async unpublish(req: NodeUnpublishVolumeRequest): Promise<Record<string, never>> {
    const { targetPath } = planUnpublish(req);
    await this.serialize(targetPath, async () => {
      let target: string;
      try {
        target = await realpath(targetPath);
      } catch (err) {
        if (errno(err) !== 'ENOENT') throw err;
        this.options.published.remove(targetPath);
        return;
      }
      for (let i = 0; i < MAX_STACKED_MOUNTS && mountAt(await readMountinfo(), target); i++) await unmount(target, this.mountTimeoutMs);
      try {
        await rmdir(target);
      } catch (err) {
        if (errno(err) !== 'ENOENT') throw err;
      }
      this.options.published.remove(target);
      this.options.log.info({ targetPath }, 'unmounted a channel volume');
    });
    return {};
  }

  private async observe<T>(operation: 'publish' | 'unpublish', result: Promise<T>): Promise<T> {
    try {
      const value = await result;
      this.options.onVolumeOperation?.(operation, 'OK');
      return value;
    } catch (err) {
      this.options.onVolumeOperation?.(operation, statusName(err instanceof CsiRefusal ? err.grpcCode : status.INTERNAL));
      throw err;
    }
  }

  private async serialize(key: string, fn: () => Promise<void>): Promise<void> {
    const previous = this.busy.get(key) ?? Promise.resolve();
    const current = previous.catch(() => undefined).then(fn);
    this.busy.set(key, current);
    try {
      await current;
    } finally {
      if (this.busy.get(key) === current) this.busy.delete(key);
    }
  }
}
