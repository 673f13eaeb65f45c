/**
 * The CustomResourceDefinitions, built from the names in types.ts. This is the one source
 * of the schema: `shimmy manifests` writes charts/shimmy/crds/ from it and a test checks
 * the committed YAML still matches.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { CHANNEL, DEFAULTS, ENDPOINT, GROUP, LINK_STATES, MEMORY_KINDS, MODES, PLACEMENTS, SEGMENT_STATES, SLOW_CONSUMERS, VERSION } from './types.js';
import { QUANTITY_PATTERN } from '../size.js';
import { LABEL_KEY, LABEL_VALUE } from './selector.js';

/** Byte quantities: plain bytes or a Kubernetes binary/decimal suffix, no milli-bytes. */
/** Plain JSON (the wire names `default` and `enum`, which client-node's models rename). */
type JSONSchema = { [field: string]: unknown };
export interface CustomResourceDefinition extends KubernetesObject {
  metadata: { name: string };
  spec: {
    group: string;
    names: { kind: string; plural: string; [field: string]: unknown };
    versions: { name: string; [field: string]: unknown }[];
    [field: string]: unknown;
  };
}
const DNS_LABEL = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';

const quantity = (field: string, description: string, defaultValue: string): JSONSchema => ({
  description,
  'x-kubernetes-int-or-string': true,
  anyOf: [{ type: 'integer' }, { type: 'string' }],
  default: defaultValue,
  'x-kubernetes-validations': [
    {
      rule: `type(self) == int ? self > 0 : self.matches('${QUANTITY_PATTERN.replace(/\\/g, '\\\\')}')`,
      message: `${field} must be a positive number of bytes or a quantity such as 64Ki, 4Mi or 1Gi`,
    },
  ],
});

const labelSelector: JSONSchema = {
  type: 'object',
  description: "Pods in the channel's namespace that use it (a LabelSelector, like a Deployment's). Must not be empty.",
  properties: {
    // Keys are checked by the controller (a channel with a bad key is skipped, with a warning
    // on every admission it would have matched): OpenAPI cannot constrain map keys.
    matchLabels: { type: 'object', maxProperties: 64, additionalProperties: { type: 'string', maxLength: 63, pattern: LABEL_VALUE.source } },
    matchExpressions: {
      type: 'array',
      maxItems: 64,
      items: {
        type: 'object',
        required: ['key', 'operator'],
        properties: {
          key: { type: 'string', minLength: 1, maxLength: 317, pattern: LABEL_KEY.source },
          operator: { type: 'string', enum: ['In', 'NotIn', 'Exists', 'DoesNotExist'] },
          values: { type: 'array', maxItems: 256, items: { type: 'string', maxLength: 63, pattern: LABEL_VALUE.source } },
        },
        'x-kubernetes-validations': [
          {
            rule: "self.operator in ['In', 'NotIn'] ? has(self.values) && size(self.values) > 0 : !has(self.values) || size(self.values) == 0",
            message: 'In and NotIn need values; Exists and DoesNotExist take none',
          },
        ],
      },
    },
  },
  'x-kubernetes-validations': [
    {
      rule: '(has(self.matchLabels) && size(self.matchLabels) > 0) || (has(self.matchExpressions) && size(self.matchExpressions) > 0)',
      message: 'selector must not be empty: an empty selector would put every pod of the namespace on the channel',
    },
  ],
};

const count = (description: string): JSONSchema => ({ type: 'integer', format: 'int64', minimum: 0, description });
const traffic = {
  attached: count('Processes attached to the segment (the kernel count).'),
  publishers: count('Publishers with a live slot.'),
  subscribers: count('Subscribers with a live slot.'),
  streamEnds: count('Stream ends with a live slot.'),
  messages: count('Messages published into the segment since it was made (32-bit, wraps).'),
  bytes: count('Ring bytes written (records with their heads and padding) since the agent adopted the segment.'),
  lag: count('Largest number of messages some subscriber has yet to take.'),
  lost: count('Messages overwritten before a subscriber read them.'),
};

const conditions: JSONSchema = {
  type: 'array',
  'x-kubernetes-list-type': 'map',
  'x-kubernetes-list-map-keys': ['type'],
  items: {
    type: 'object',
    required: ['type', 'status', 'lastTransitionTime', 'reason', 'message'],
    properties: {
      type: { type: 'string' },
      status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
      observedGeneration: { type: 'integer', format: 'int64' },
      lastTransitionTime: { type: 'string', format: 'date-time' },
      reason: { type: 'string' },
      message: { type: 'string' },
    },
  },
};

/** A gid other than root's; 4294967295 is (gid_t) -1. */
const GROUP_ID: JSONSchema = { type: 'integer', format: 'int64', minimum: 1, maximum: 4294967294 };

const channelSchema: JSONSchema = {
  type: 'object',
  required: ['spec'],
  'x-kubernetes-validations': [
    {
      rule: `self.metadata.name.size() <= 63 && self.metadata.name.matches('${DNS_LABEL}')`,
      message: 'channel names are DNS labels: at most 63 characters of a-z, 0-9 and -, starting and ending with a letter or digit',
    },
  ],
  properties: {
    apiVersion: { type: 'string' },
    kind: { type: 'string' },
    metadata: { type: 'object' },
    spec: {
      type: 'object',
      required: ['selector'],
      properties: {
        selector: labelSelector,
        mode: {
          type: 'string',
          enum: [...MODES],
          default: DEFAULTS.mode,
          description: 'PubSub: every subscriber gets every message. Stream: one ring per direction; each message goes to one consumer.',
        },
        capacity: quantity('capacity', 'Ring size in bytes per node, e.g. 4Mi.', DEFAULTS.capacity),
        maxMessageSize: quantity('maxMessageSize', 'Largest message in bytes, e.g. 1Mi. Must be smaller than capacity.', DEFAULTS.maxMessageSize),
        slowConsumer: {
          type: 'string',
          enum: [...SLOW_CONSUMERS],
          default: DEFAULTS.slowConsumer,
          description: 'Block: publishers wait for the slowest subscriber. Overwrite: they never wait; lapped subscribers learn how many they lost.',
        },
        memory: {
          type: 'string',
          enum: [...MEMORY_KINDS],
          default: DEFAULTS.memory,
          description:
            "Volume: the node agent keeps the channel in a sealed memory file that its CSI plugin mounts into the selected pods only (no hostIPC; such pods pass Pod Security restricted). HostIPC: a System V segment in the node's IPC namespace, for programs that need SysV keys.",
        },
        placement: {
          type: 'string',
          enum: [...PLACEMENTS],
          default: DEFAULTS.placement,
          description:
            'Prefer: the scheduler extender favours nodes already running the channel. Require: it never splits the channel while a co-located node fits. None: no preference.',
        },
      },
      'x-kubernetes-validations': [
        {
          rule: "!isQuantity(string(self.capacity)) || (quantity(string(self.capacity)).compareTo(quantity('4Ki')) >= 0 && quantity(string(self.capacity)).compareTo(quantity('1Gi')) <= 0)",
          message: 'capacity must be between 4Ki and 1Gi',
        },
        {
          rule: '!isQuantity(string(self.capacity)) || !isQuantity(string(self.maxMessageSize)) || quantity(string(self.maxMessageSize)).compareTo(quantity(string(self.capacity))) < 0',
          message: 'maxMessageSize must be smaller than capacity',
        },
      ],
    },
    status: {
      type: 'object',
      properties: {
        observedGeneration: { type: 'integer', format: 'int64' },
        conditions,
        key: { type: 'string', description: "The System V key of the channel's segments (the same on every node)." },
        group: {
          ...GROUP_ID,
          description:
            'memory HostIPC, hardened: the group the channel segments belong to, given by the controller from its range and by the webhook to the selected pods (supplementalGroups). No two channels share one.',
        },
        pods: { type: 'integer', description: 'Scheduled pods on the channel.' },
        nodes: { type: 'integer', description: 'Nodes with at least one of those pods.' },
        endpoints: {
          type: 'array',
          'x-kubernetes-list-type': 'map',
          'x-kubernetes-list-map-keys': ['node'],
          items: { type: 'object', required: ['node', 'pods'], properties: { node: { type: 'string' }, pods: { type: 'array', items: { type: 'string' } } } },
        },
        traffic: {
          type: 'object',
          description: "Summed over the nodes' ChannelEndpoint status, as their agents report it (lag: the largest).",
          properties: { publishers: traffic.publishers, subscribers: traffic.subscribers, messages: traffic.messages, lag: traffic.lag, lost: traffic.lost },
        },
      },
    },
  },
};

const endpointSchema: JSONSchema = {
  type: 'object',
  required: ['spec'],
  properties: {
    apiVersion: { type: 'string' },
    kind: { type: 'string' },
    metadata: { type: 'object' },
    spec: {
      type: 'object',
      required: ['channel', 'channelUID', 'node', 'key', 'mode', 'capacity', 'maxMessageSize', 'slowConsumer', 'pods', 'peers'],
      properties: {
        channel: { type: 'string' },
        channelUID: { type: 'string' },
        node: { type: 'string' },
        key: { type: 'string' },
        mode: { type: 'string', enum: [...MODES] },
        capacity: { type: 'integer' },
        maxMessageSize: { type: 'integer' },
        slowConsumer: { type: 'string', enum: [...SLOW_CONSUMERS] },
        memory: { type: 'string', enum: [...MEMORY_KINDS] },
        group: { ...GROUP_ID, description: "The channel's group (its status.group); the agent makes the segment under it." },
        pods: { type: 'array', items: { type: 'string' } },
        peers: { type: 'array', items: { type: 'string' }, description: 'Other nodes with endpoints of this channel; the agent replicates with them.' },
      },
    },
    status: {
      type: 'object',
      description: "Written by the node's agent.",
      required: ['segment', 'updatedAt'],
      properties: {
        segment: {
          type: 'string',
          enum: [...SEGMENT_STATES],
          description:
            'Ready: the segment exists with the channel settings. Missing: not made yet. Mismatch: it exists with other settings. Removing: marked for removal.',
        },
        message: { type: 'string' },
        shmId: { type: 'integer', description: "The segment's System V id on the node: a new id means a new segment." },
        updatedAt: { type: 'string', format: 'date-time' },
        ...traffic,
        replication: {
          type: 'array',
          description: "The channel's replication with each peer node, as this node's agent sees it.",
          items: {
            type: 'object',
            required: ['node', 'link', 'forwarded', 'landed', 'resent', 'repeats', 'reconnects'],
            properties: {
              node: { type: 'string' },
              link: {
                type: 'string',
                enum: [...LINK_STATES],
                description:
                  'Connected; Connecting (again); Dropped: unreachable for longer than the peer timeout, the channel no longer waits for it; NoAddress: the peer agent has not published where it listens; Off: this agent does not replicate (or not this kind of channel).',
              },
              transport: { type: 'string', description: "UCX's transports on the link, e.g. tcp/eth0 or rc_mlx5/mlx5_0:1." },
              forwarded: { type: 'integer', description: "This node's messages sent to the peer since the agent started." },
              landed: { type: 'integer', description: "The peer's messages published here since the agent started." },
              resent: { type: 'integer', description: 'Messages sent again after a reconnect.' },
              repeats: { type: 'integer', description: 'Messages that came again and were dropped.' },
              resumes: {
                type: 'integer',
                description: 'Times the agent went on from what an earlier agent on this node had landed from the peer (after a restart or a kill).',
              },
              recovered: {
                type: 'integer',
                description:
                  "This node's messages that an earlier agent here had sent the peer and not had acknowledged (it was killed or restarted), sent again from its spool.",
              },
              unacknowledged: {
                type: 'integer',
                description:
                  "Frames of this node's messages the peer has not acknowledged yet. While a node whose pods left has some, the controller keeps its endpoint, so the peer's agent (restarted, say) still takes them.",
              },
              reconnects: { type: 'integer' },
              message: { type: 'string' },
            },
          },
        },
      },
    },
  },
};

const condition = (type: string) => `.status.conditions[?(@.type=="${type}")].status`;

type Names = typeof CHANNEL | typeof ENDPOINT;

function definition(names: Names, version: { [field: string]: unknown }): CustomResourceDefinition {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${names.plural}.${GROUP}` },
    spec: {
      group: GROUP,
      scope: 'Namespaced',
      names: {
        kind: names.kind,
        listKind: names.listKind,
        plural: names.plural,
        singular: names.singular,
        shortNames: [names.shortName],
        categories: ['shimmy'],
      },
      versions: [{ name: VERSION, served: true, storage: true, ...version }],
    },
  };
}

export function channelCRD(): CustomResourceDefinition {
  return definition(CHANNEL, {
    subresources: { status: {} },
    schema: { openAPIV3Schema: channelSchema },
    additionalPrinterColumns: [
      { name: 'Mode', type: 'string', jsonPath: '.spec.mode' },
      { name: 'Placement', type: 'string', jsonPath: '.spec.placement' },
      { name: 'Memory', type: 'string', jsonPath: '.spec.memory' },
      { name: 'Capacity', type: 'string', jsonPath: '.spec.capacity' },
      { name: 'Pods', type: 'integer', jsonPath: '.status.pods' },
      { name: 'Nodes', type: 'integer', jsonPath: '.status.nodes' },
      { name: 'Ready', type: 'string', jsonPath: condition('Ready') },
      { name: 'Split', type: 'string', jsonPath: condition('Split') },
      { name: 'Subs', type: 'integer', jsonPath: '.status.traffic.subscribers' },
      { name: 'Messages', type: 'integer', jsonPath: '.status.traffic.messages' },
      { name: 'Lag', type: 'integer', jsonPath: '.status.traffic.lag', priority: 1 },
      { name: 'Lost', type: 'integer', jsonPath: '.status.traffic.lost', priority: 1 },
      { name: 'Key', type: 'string', jsonPath: '.status.key', priority: 1 },
      { name: 'Group', type: 'integer', jsonPath: '.status.group', priority: 1 },
      { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
    ],
  });
}

export function endpointCRD(): CustomResourceDefinition {
  return definition(ENDPOINT, {
    subresources: { status: {} },
    schema: { openAPIV3Schema: endpointSchema },
    selectableFields: [{ jsonPath: '.spec.node' }, { jsonPath: '.spec.channel' }],
    additionalPrinterColumns: [
      { name: 'Channel', type: 'string', jsonPath: '.spec.channel' },
      { name: 'Node', type: 'string', jsonPath: '.spec.node' },
      { name: 'Key', type: 'string', jsonPath: '.spec.key' },
      { name: 'Segment', type: 'string', jsonPath: '.status.segment' },
      { name: 'Pubs', type: 'integer', jsonPath: '.status.publishers' },
      { name: 'Subs', type: 'integer', jsonPath: '.status.subscribers' },
      { name: 'Messages', type: 'integer', jsonPath: '.status.messages' },
      { name: 'Lag', type: 'integer', jsonPath: '.status.lag', priority: 1 },
      { name: 'Lost', type: 'integer', jsonPath: '.status.lost', priority: 1 },
      { name: 'Pods', type: 'string', jsonPath: '.spec.pods', priority: 1 },
      { name: 'Peers', type: 'string', jsonPath: '.spec.peers', priority: 1 },
      { name: 'Links', type: 'string', jsonPath: '.status.replication[*].link', priority: 1 },
      { name: 'Transport', type: 'string', jsonPath: '.status.replication[*].transport', priority: 1 },
      { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
    ],
  });
}

export const CRDS = [channelCRD, endpointCRD];
