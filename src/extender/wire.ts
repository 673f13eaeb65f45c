/**
 * kube-scheduler's extender wire format (k8s.io/kube-scheduler/extender/v1), with its Go
 * field names. Nodes is set when nodeCacheCapable is false, NodeNames when it is true.
 */
import { ErrorCode, ShimmyError } from '../errors.js';
import type { V1Node, V1Pod } from '@kubernetes/client-node';

export interface ExtenderArgs {
  Pod: V1Pod;
  Nodes?: { items?: V1Node[] } | null;
  NodeNames?: string[] | null;
}

export interface ExtenderFilterResult {
  Nodes?: { items: V1Node[] } | null;
  NodeNames?: string[] | null;
  FailedNodes: Record<string, string>;
  FailedAndUnresolvableNodes: Record<string, string>;
  Error: string;
}

export interface HostPriority {
  Host: string;
  Score: number;
}

export const MAX_EXTENDER_PRIORITY = 10;

/** The message carries its own hint, so the ShimmyError has none of its own. */
export class ExtenderArgsError extends ShimmyError {
  constructor(message: string) {
    super(ErrorCode.BAD_EXTENDER_ARGS, message, '');
    this.name = 'ExtenderArgsError';
  }
}

export interface Candidates {
  pod: V1Pod;
  names: string[];
  /** Full node objects, by name, when the scheduler sent them (nodeCacheCapable: false). */
  nodes?: Map<string, V1Node>;
}

/** Twice the largest cluster Kubernetes supports (5,000 nodes): more is not a real request. */
export const MAX_NODE_NAMES = 10_000;

function checkCount(names: number): void {
  if (names > MAX_NODE_NAMES) throw new ExtenderArgsError(`the request names ${names} nodes, more than the ${MAX_NODE_NAMES} allowed`);
}

export function parseExtenderArgs(body: unknown): Candidates {
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    throw new ExtenderArgsError('body is not a JSON object; send ExtenderArgs { Pod, Nodes | NodeNames }');
  const args = body as Partial<ExtenderArgs>;
  const pod = args.Pod;
  if (!pod || typeof pod !== 'object' || typeof pod.metadata !== 'object' || pod.metadata === null)
    throw new ExtenderArgsError('Pod is missing or has no metadata');
  if (Array.isArray(args.NodeNames)) {
    checkCount(args.NodeNames.length);
    if (!args.NodeNames.every((n) => typeof n === 'string')) throw new ExtenderArgsError('NodeNames must be a list of strings');
    return { pod, names: args.NodeNames };
  }
  const items = args.Nodes?.items;
  if (Array.isArray(items)) {
    checkCount(items.length);
    const nodes = new Map<string, V1Node>();
    for (const [i, node] of items.entries()) {
      const name = node?.metadata?.name;
      if (typeof name !== 'string') throw new ExtenderArgsError(`Nodes.items[${i}] has no metadata.name`);
      nodes.set(name, node);
    }
    return { pod, names: [...nodes.keys()], nodes };
  }
  throw new ExtenderArgsError('neither NodeNames (nodeCacheCapable: true) nor Nodes.items (nodeCacheCapable: false) is a list');
}
