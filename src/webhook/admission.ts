/**
 * AdmissionReview (admission.k8s.io/v1) in and out. `review()` never throws for a
 * well-formed review: odd requests get an allowed response with a warning, because
 * refusing a pod is worse than not patching one; only a pod on channels too big to patch
 * safely (MAX_CONTAINERS, MAX_PATCH_BYTES) is refused, saying why. A body that is not an AdmissionReview
 * at all raises AdmissionError, which the server answers with HTTP 400 and the reason.
 */
import { ErrorCode, ShimmyError } from '../errors.js';
import type { V1Pod } from '@kubernetes/client-node';
import type { ChannelMatch } from '../k8s/channel-directory.js';
import { needsHostIPC, podPatch, removeGroupsAnnotation, type PodMutation } from './patch.js';

/** The message carries its own hint, so the ShimmyError has none of its own. */
export class AdmissionError extends ShimmyError {
  constructor(message: string) {
    super(ErrorCode.BAD_ADMISSION_REVIEW, message, '');
    this.name = 'AdmissionError';
  }
}

export interface AdmissionRequest {
  uid: string;
  kind?: { group?: string; version?: string; kind?: string };
  namespace?: string;
  operation?: string;
  object?: unknown;
  dryRun?: boolean;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  patchType?: 'JSONPatch';
  patch?: string;
  warnings?: string[];
  /** Why a pod was refused (allowed: false). */
  status?: { code: number; message: string };
}

export interface AdmissionReviewOut {
  apiVersion: 'admission.k8s.io/v1';
  kind: 'AdmissionReview';
  response: AdmissionResponse;
}

export interface AdmissionContext {
  /** Channels of the namespace whose selector matches the labels. */
  match(namespace: string, labels: Record<string, string> | undefined): ChannelMatch;
  schedulerName?: string;
}

/** Containers plus init containers in one pod; far above any real pod, far below a hostile one. */
export const MAX_CONTAINERS = 500;
/** The largest patch (JSON) the webhook answers with; the API server's own request limit is 3 MiB. */
export const MAX_PATCH_BYTES = 1024 * 1024;

function refuse(uid: string, message: string): AdmissionReviewOut {
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid, allowed: false, status: { code: 422, message } } };
}

export const HOST_IPC_WARNING =
  'shimmy: this pod gets hostIPC: true for shared-memory channels; the Pod Security level "baseline" forbids hostIPC, so the namespace needs pod-security.kubernetes.io/enforce=privileged';

export function parseReview(body: unknown): AdmissionRequest {
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    throw new AdmissionError('body is not a JSON object; send an admission.k8s.io/v1 AdmissionReview');
  const review = body as { apiVersion?: unknown; kind?: unknown; request?: unknown };
  if (review.kind !== 'AdmissionReview') throw new AdmissionError(`kind is ${JSON.stringify(review.kind)}, expected "AdmissionReview"`);
  if (review.apiVersion !== 'admission.k8s.io/v1')
    throw new AdmissionError(
      `apiVersion is ${JSON.stringify(review.apiVersion)}; this webhook speaks admission.k8s.io/v1 only (set admissionReviewVersions: ["v1"])`,
    );
  const request = review.request as AdmissionRequest | undefined;
  if (!request || typeof request !== 'object') throw new AdmissionError('request is missing');
  if (typeof request.uid !== 'string' || request.uid === '') throw new AdmissionError('request.uid is missing; the response must echo it');
  return request;
}

function allow(uid: string, warnings: string[] = []): AdmissionReviewOut {
  const response: AdmissionResponse = { uid, allowed: true };
  if (warnings.length) response.warnings = warnings;
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response };
}

export function review(request: AdmissionRequest, ctx: AdmissionContext): AdmissionReviewOut {
  const kind = request.kind ?? {};
  if (kind.kind !== 'Pod' || (kind.group ?? '') !== '' || kind.version !== 'v1') {
    return allow(request.uid, [
      `shimmy: webhook mutates v1 Pods only, got ${kind.group || 'core'}/${kind.version}/${kind.kind}; check the rules of the MutatingWebhookConfiguration`,
    ]);
  }
  if (request.operation !== undefined && request.operation !== 'CREATE') return allow(request.uid);
  const pod = request.object as V1Pod | undefined;
  if (!pod || typeof pod !== 'object' || !pod.spec || !Array.isArray(pod.spec.containers) || pod.spec.containers.length === 0) {
    return allow(request.uid, ['shimmy: pod has no containers, so no channel was injected']);
  }
  const namespace = request.namespace || pod.metadata?.namespace;
  if (!namespace) return allow(request.uid, ['shimmy: request has no namespace, so no channel was injected']);
  const { channels, problems } = ctx.match(namespace, pod.metadata?.labels);
  if (channels.length === 0) return withPatch(allow(request.uid, problems), JSON.stringify(removeGroupsAnnotation(pod)));
  const awaiting = channels.filter((c) => c.awaitingGroup).map((c) => c.name);
  if (awaiting.length)
    return refuse(
      request.uid,
      `shimmy: channel(s) ${awaiting.join(', ')} have no group yet (the controller gives each memory: HostIPC channel one within seconds of its creation); create the pod again shortly`,
    );
  const containers = pod.spec.containers.length + (Array.isArray(pod.spec.initContainers) ? pod.spec.initContainers.length : 0);
  if (containers > MAX_CONTAINERS)
    return refuse(request.uid, `shimmy: pod has ${containers} containers, more than the ${MAX_CONTAINERS} a pod on channels may have`);
  const mutation: PodMutation = { namespace, channels, ...(ctx.schedulerName ? { schedulerName: ctx.schedulerName } : {}) };
  const patch = JSON.stringify(podPatch(pod, mutation));
  if (patch.length > MAX_PATCH_BYTES)
    return refuse(
      request.uid,
      `shimmy: the channel environment for this pod would be a ${patch.length}-byte patch, more than ${MAX_PATCH_BYTES}; use fewer channels or containers`,
    );
  return withPatch(allow(request.uid, [...problems, ...(needsHostIPC(mutation) ? [HOST_IPC_WARNING] : [])]), patch);
}

/** Adds a JSON patch (an RFC 6902 array, as JSON) to an answer, unless it is empty. */
function withPatch(out: AdmissionReviewOut, patch: string): AdmissionReviewOut {
  if (patch !== '[]') {
    out.response.patchType = 'JSONPatch';
    out.response.patch = Buffer.from(patch).toString('base64');
  }
  return out;
}
