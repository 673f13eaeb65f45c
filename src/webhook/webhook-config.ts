/**
 * The MutatingWebhookConfiguration the controller keeps in place: the committed
 * webhook-config/mutating-webhook.yaml, pointed at this controller (a Service in its
 * namespace, or a URL when it runs outside the cluster), with the controller's namespace
 * excluded and the caBundle filled in.
 */
import { readFileSync } from 'node:fs';
import type { V1MutatingWebhook, V1MutatingWebhookConfiguration } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { packageRoot } from '../paths.js';
import { ErrorCode, ShimmyError } from '../errors.js';

export const WEBHOOK_CONFIG_FILE = `${packageRoot}/webhook-config/mutating-webhook.yaml`;

export interface WebhookTarget {
  /** Controller namespace: the Service's namespace, and excluded from injection. */
  namespace: string;
  /** Out-of-cluster: the full https URL of /mutate, instead of the Service. */
  url?: string;
  caBundle: string;
}

export function loadWebhookTemplate(file = WEBHOOK_CONFIG_FILE): V1MutatingWebhookConfiguration {
  const doc = parse(readFileSync(file, 'utf8')) as V1MutatingWebhookConfiguration;
  if (doc?.kind !== 'MutatingWebhookConfiguration' || !doc.metadata?.name || !Array.isArray(doc.webhooks)) {
    throw new ShimmyError(
      ErrorCode.INVALID_ARGUMENT,
      `${file} is not a MutatingWebhookConfiguration with webhooks`,
      'Restore it from the package (webhook-config/mutating-webhook.yaml)',
    );
  }
  return doc;
}

export function desiredWebhookConfig(template: V1MutatingWebhookConfiguration, target: WebhookTarget): V1MutatingWebhookConfiguration {
  const out = structuredClone(template);
  for (const hook of out.webhooks ?? []) {
    const path = hook.clientConfig.service?.path ?? '/mutate';
    // No caBundle: the API server verifies against its system roots.
    const ca = target.caBundle ? { caBundle: target.caBundle } : {};
    hook.clientConfig = target.url ? { url: target.url, ...ca } : { service: { ...hook.clientConfig.service!, namespace: target.namespace, path }, ...ca };
    for (const expr of hook.namespaceSelector?.matchExpressions ?? []) {
      if (expr.key === 'kubernetes.io/metadata.name' && expr.operator === 'NotIn' && !expr.values?.includes(target.namespace)) {
        expr.values = [...(expr.values ?? []), target.namespace];
      }
    }
  }
  return out;
}

/** The fields the controller insists on; the API server's defaults elsewhere are left alone. */
function projection(hook: V1MutatingWebhook): unknown {
  const cc = hook.clientConfig ?? {};
  return [
    hook.name,
    cc.url,
    cc.service?.name,
    cc.service?.namespace,
    cc.service?.path,
    cc.caBundle || undefined,
    hook.failurePolicy,
    hook.sideEffects,
    hook.timeoutSeconds,
    hook.reinvocationPolicy,
    JSON.stringify(hook.namespaceSelector ?? {}),
    JSON.stringify(hook.rules ?? []),
  ];
}

export function webhookConfigDiffers(actual: V1MutatingWebhookConfiguration, desired: V1MutatingWebhookConfiguration): boolean {
  return JSON.stringify((actual.webhooks ?? []).map(projection)) !== JSON.stringify((desired.webhooks ?? []).map(projection));
}
