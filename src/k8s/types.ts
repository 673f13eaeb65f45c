/**
 * The Shimmy API (group shimmy.dev, version v1alpha1): TypeScript types for the objects
 * the controller reads and writes. `crd.ts` builds the CustomResourceDefinitions from the
 * same names, and the committed YAML under charts/ is generated from it.
 */
import type { V1Condition, V1LabelSelector, V1ObjectMeta } from '@kubernetes/client-node';

export const GROUP = 'shimmy.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

export const CHANNEL = {
  kind: 'SharedMemoryChannel',
  plural: 'sharedmemorychannels',
  singular: 'sharedmemorychannel',
  shortName: 'shmc',
  listKind: 'SharedMemoryChannelList',
} as const;
export const ENDPOINT = {
  kind: 'ChannelEndpoint',
  plural: 'channelendpoints',
  singular: 'channelendpoint',
  shortName: 'shmce',
  listKind: 'ChannelEndpointList',
} as const;

/** The CSI driver of the node agent, which mounts Volume channels into pods. */
export const CSI_DRIVER = 'shimmy.dev';
/** The volume attribute that names the channel (its namespace is always the pod's). */
export const CSI_CHANNEL_ATTRIBUTE = 'channel';

/** Namespace label that opts a namespace into injection (Istio's pattern). */
export const INJECTION_LABEL = 'shimmy.dev/injection';
/** Pod label the webhook writes, so the controller's pod informer watches only these pods. */
export const INJECTED_LABEL = 'shimmy.dev/injected';
/** Labels on ChannelEndpoint objects. */
export const CHANNEL_LABEL = 'shimmy.dev/channel';
/** The endpoint's node (or a hash of a name too long for a label value): agents watch their own. */
export const NODE_LABEL = 'shimmy.dev/node';
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGER = 'shimmy-controller';

export const MODES = ['PubSub', 'Stream'] as const;
export const SLOW_CONSUMERS = ['Block', 'Overwrite'] as const;
export const PLACEMENTS = ['Prefer', 'Require', 'None'] as const;
/** How a channel's memory reaches its pods: a memory file the agent's CSI plugin mounts, or System V through hostIPC. */
export const MEMORY_KINDS = ['Volume', 'HostIPC'] as const;
export type ChannelMode = (typeof MODES)[number];
export type SlowConsumerPolicy = (typeof SLOW_CONSUMERS)[number];
export type Placement = (typeof PLACEMENTS)[number];
export type MemoryKind = (typeof MEMORY_KINDS)[number];

export const DEFAULTS = { mode: 'PubSub', capacity: '4Mi', maxMessageSize: '1Mi', slowConsumer: 'Block', placement: 'Prefer', memory: 'Volume' } as const;

export interface SharedMemoryChannelSpec {
  selector: V1LabelSelector;
  mode?: ChannelMode;
  capacity?: string | number;
  maxMessageSize?: string | number;
  slowConsumer?: SlowConsumerPolicy;
  placement?: Placement;
  memory?: MemoryKind;
}

export interface NodeEndpoints {
  node: string;
  pods: string[];
}

/** Traffic on one node, as that node's agent last read it from the segment. */
export interface ChannelTraffic {
  /** Processes attached to the segment (the kernel's count). */
  attached: number;
  publishers: number;
  subscribers: number;
  streamEnds: number;
  /** Messages published into the segment since it was made (32-bit, wraps). */
  messages: number;
  /** Ring bytes written (records with their 8-byte heads and padding) since the agent adopted the segment. */
  bytes: number;
  /** Largest number of messages some subscriber has yet to take. */
  lag: number;
  /** Messages overwritten before a subscriber read them (Overwrite policy). */
  lost: number;
}

export const SEGMENT_STATES = ['Ready', 'Missing', 'Mismatch', 'Removing'] as const;
export type SegmentState = (typeof SEGMENT_STATES)[number];

/** Written by the node's agent. */
export const LINK_STATES = ['Connected', 'Connecting', 'Dropped', 'NoAddress', 'Off'] as const;
export type LinkState = (typeof LINK_STATES)[number];

/** The replication of a channel with one peer node, as this node's agent sees it. */
export interface PeerReplication {
  node: string;
  link: LinkState;
  /** UCX's transports on the link (tcp/eth0, rc_mlx5/mlx5_0:1). */
  transport?: string;
  /** This node's messages sent to the peer, and the peer's landed here, since the agent started. */
  forwarded: number;
  landed: number;
  /** Sent again after a reconnect / came again and were dropped. */
  resent: number;
  repeats: number;
  /** Times the agent went on from what an earlier agent here had landed from the peer. */
  resumes?: number;
  /** This node's messages an earlier agent here had sent the peer without an acknowledgement, sent again from its spool. */
  recovered?: number;
  /** Frames of this node's that the peer has not acknowledged yet (the master keeps a node whose pods left while it has some). */
  unacknowledged?: number;
  reconnects: number;
  message?: string;
}

export interface ChannelEndpointStatus extends Partial<ChannelTraffic> {
  segment: SegmentState;
  /** The segment's System V id on the node: a new id means a new segment. */
  shmId?: number;
  message?: string;
  /** One entry per peer node (spec.peers). */
  replication?: PeerReplication[];
  updatedAt: string;
}

export interface SharedMemoryChannelStatus {
  observedGeneration?: number;
  conditions?: V1Condition[];
  endpoints?: NodeEndpoints[];
  pods?: number;
  nodes?: number;
  key?: string;
  /** memory: HostIPC with hardened segments: the channel's group, assigned by the controller. */
  group?: number;
  /** Summed over the nodes' ChannelEndpoint status (lag: the largest). */
  traffic?: Pick<ChannelTraffic, 'publishers' | 'subscribers' | 'messages' | 'lag' | 'lost'>;
}

export interface SharedMemoryChannel {
  apiVersion?: string;
  kind?: string;
  metadata: V1ObjectMeta;
  spec: SharedMemoryChannelSpec;
  status?: SharedMemoryChannelStatus;
}

/**
 * What one node's agent needs to know about one channel (EndpointSlice's pattern: one
 * object per channel and node). Agents watch these with the field selector spec.node=NODE.
 */
export interface ChannelEndpointSpec {
  channel: string;
  channelUID: string;
  node: string;
  key: string;
  mode: ChannelMode;
  capacity: number;
  maxMessageSize: number;
  slowConsumer: SlowConsumerPolicy;
  /** Absent on endpoints written before the field existed: HostIPC. */
  memory?: MemoryKind;
  /** The channel's group (hardened HostIPC): the agent makes the segment under it. */
  group?: number;
  pods: string[];
  /** The other nodes with endpoints of this channel: the agent replicates with these. */
  peers: string[];
}

export interface ChannelEndpoint {
  apiVersion?: string;
  kind?: string;
  metadata: V1ObjectMeta;
  spec: ChannelEndpointSpec;
  status?: ChannelEndpointStatus;
}

/** The Secret holding the webhook's CA and serving certificate when the controller issues them. */
export const WEBHOOK_TLS_SECRET = 'shimmy-webhook-tls';
/** The Secret with the scheduler's client certificate for the extender (tls.crt, tls.key, ca.crt) when the controller issues it. */
export const EXTENDER_CLIENT_SECRET = 'shimmy-extender-client';
