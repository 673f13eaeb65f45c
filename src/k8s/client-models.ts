/**
 * client-node's typed APIs send their model objects through a serializer that knows
 * wire names only by their model aliases (`_default`, `_enum`, `x_kubernetes_validations`)
 * and silently drops the wire spellings. Wire-form JSON (our CRDs) goes through this first.
 */
import type { V1CustomResourceDefinition } from '@kubernetes/client-node';
// Not re-exported by the package index; the package has no "exports" map, so this is stable.
import { ObjectSerializer } from '@kubernetes/client-node/dist/serializer.js';

export function crdModel(wire: unknown): V1CustomResourceDefinition {
  return ObjectSerializer.deserialize(wire, 'V1CustomResourceDefinition') as V1CustomResourceDefinition;
}
