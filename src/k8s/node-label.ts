/**
 * The value of the `shimmy.dev/node` label on ChannelEndpoints, so each agent can watch its
 * own node's endpoints with a label selector. Node names may be 253 characters; a label
 * value at most 63, so longer names (and ones a label value cannot hold) become a hash.
 */
import { fnv1a } from '../channel/names.js';

const LABEL_VALUE = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;

export function nodeLabelValue(node: string): string {
  return LABEL_VALUE.test(node) ? node : `h-${(fnv1a(node) >>> 0).toString(16)}`;
}
