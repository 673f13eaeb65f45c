import { describe, expect, it } from 'vitest';
import { thrown } from '../../test/helpers/errors.js';
import type { V1Pod } from '@kubernetes/client-node';
import { ErrorCode } from '../errors.js';
import type { ChannelMatch } from '../k8s/channel-directory.js';
import { resolveChannel } from '../k8s/channel-spec.js';
import { AdmissionError, HOST_IPC_WARNING, parseReview, review, type AdmissionContext, type AdmissionRequest } from './admission.js';
import { mutatePod, podPatch } from './patch.js';

const frames = resolveChannel({
  metadata: { namespace: 'video', name: 'frames', uid: 'uid-frames' },
  spec: { selector: { matchLabels: { app: 'cam' } }, memory: 'HostIPC' },
});

const POD_KIND = { group: '', version: 'v1', kind: 'Pod' };

const pod = (): V1Pod => ({
  metadata: { name: 'p', namespace: 'video', labels: { app: 'cam' } },
  spec: { containers: [{ name: 'a', image: 'a' }] },
});

/** A context that records what it was asked and answers with `answer`. */
function context(answer: ChannelMatch = { channels: [frames], problems: [] }, schedulerName?: string) {
  const calls: [string, Record<string, string> | undefined][] = [];
  const ctx: AdmissionContext = {
    match(namespace, labels) {
      calls.push([namespace, labels]);
      return answer;
    },
    ...(schedulerName ? { schedulerName } : {}),
  };
  return { ctx, calls };
}

const request = (extra: Partial<AdmissionRequest> = {}): AdmissionRequest => ({
  uid: 'req-1',
  kind: POD_KIND,
  namespace: 'video',
  operation: 'CREATE',
  object: pod(),
  ...extra,
});

const decode = (patch: string | undefined): unknown => JSON.parse(Buffer.from(patch!, 'base64').toString('utf8'));

const admissionError = (fn: () => unknown) => thrown<AdmissionError>(fn);

describe('parseReview', () => {
  const valid = { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'abc', operation: 'CREATE' } };

  it('returns the request of a well-formed v1 AdmissionReview unchanged', () => {
    expect(parseReview(valid)).toBe(valid.request);
  });

  it('refuses a body that is not a JSON object, with the coded AdmissionError and no extra hint', () => {
    for (const body of [null, undefined, 'AdmissionReview', 42, true, [valid]]) {
      const err = admissionError(() => parseReview(body));
      expect(err, JSON.stringify(body)).toBeInstanceOf(AdmissionError);
      expect(err.code).toBe(ErrorCode.BAD_ADMISSION_REVIEW);
      expect(err.name).toBe('AdmissionError');
      expect(err.hint).toBe('');
      expect(err.message).toBe('body is not a JSON object; send an admission.k8s.io/v1 AdmissionReview');
    }
  });

  it('names the wrong kind', () => {
    expect(admissionError(() => parseReview({ ...valid, kind: 'Pod' })).message).toBe('kind is "Pod", expected "AdmissionReview"');
    const { kind: _, ...noKind } = valid;
    expect(admissionError(() => parseReview(noKind)).message).toBe('kind is undefined, expected "AdmissionReview"');
  });

  it('names the wrong apiVersion and says to ask for v1 only', () => {
    const err = admissionError(() => parseReview({ ...valid, apiVersion: 'admission.k8s.io/v1beta1' }));
    expect(err.code).toBe(ErrorCode.BAD_ADMISSION_REVIEW);
    expect(err.message).toBe('apiVersion is "admission.k8s.io/v1beta1"; this webhook speaks admission.k8s.io/v1 only (set admissionReviewVersions: ["v1"])');
  });

  it('refuses a review without a request object', () => {
    for (const req of [undefined, null, 'abc', 7]) {
      const err = admissionError(() => parseReview({ ...valid, request: req }));
      expect(err.code, String(req)).toBe(ErrorCode.BAD_ADMISSION_REVIEW);
      expect(err.message, String(req)).toBe('request is missing');
    }
  });

  it('refuses a request without a uid to echo', () => {
    for (const uid of [undefined, '', 12, null]) {
      const err = admissionError(() => parseReview({ ...valid, request: { uid, operation: 'CREATE' } }));
      expect(err.code, String(uid)).toBe(ErrorCode.BAD_ADMISSION_REVIEW);
      expect(err.message, String(uid)).toBe('request.uid is missing; the response must echo it');
    }
  });
});

describe('review', () => {
  it('patches a pod on a Volume channel (the default) without hostIPC and without the warning', () => {
    const video = resolveChannel({ metadata: { namespace: 'video', name: 'video', uid: 'uid-video' }, spec: { selector: { matchLabels: { app: 'cam' } } } });
    const out = review(request(), context({ channels: [video], problems: [] }).ctx);
    expect(out.response.allowed).toBe(true);
    expect(out.response.warnings).toBeUndefined();
    const ops = JSON.parse(Buffer.from(out.response.patch!, 'base64').toString()) as { path: string }[];
    expect(ops.map((o) => o.path)).toContain('/spec/volumes');
    expect(ops.map((o) => o.path)).not.toContain('/spec/hostIPC');
  });

  it('patches a v1 Pod that its namespace channels select, and warns about hostIPC', () => {
    const { ctx, calls } = context();
    const out = review(request(), ctx);
    expect(calls).toEqual([['video', { app: 'cam' }]]);
    expect(out.apiVersion).toBe('admission.k8s.io/v1');
    expect(out.kind).toBe('AdmissionReview');
    expect(out.response.uid).toBe('req-1');
    expect(out.response.allowed).toBe(true);
    expect(out.response.warnings).toEqual([HOST_IPC_WARNING]);
    expect(out.response.patchType).toBe('JSONPatch');
    const expected = podPatch(pod(), { namespace: 'video', channels: [frames] });
    expect(expected.length).toBeGreaterThan(0);
    expect(out.response.patch).toBe(Buffer.from(JSON.stringify(expected)).toString('base64'));
    expect(decode(out.response.patch)).toEqual(expected);
  });

  it('accepts the core group whether it is sent empty or left out, and an absent operation as CREATE', () => {
    for (const kind of [{ version: 'v1', kind: 'Pod' }, POD_KIND]) {
      const { ctx } = context();
      const { operation: _, ...noOperation } = request({ kind });
      const out = review(noOperation, ctx);
      expect(out.response.patchType, JSON.stringify(kind)).toBe('JSONPatch');
      expect(out.response.warnings).toEqual([HOST_IPC_WARNING]);
    }
  });

  it('allows anything but a v1 Pod unpatched, with a warning that names what it got', () => {
    const cases: [AdmissionRequest['kind'], string][] = [
      [{ group: 'apps', version: 'v1', kind: 'Pod' }, 'apps/v1/Pod'],
      [{ group: '', version: 'v2', kind: 'Pod' }, 'core/v2/Pod'],
      [{ group: '', version: 'v1', kind: 'Deployment' }, 'core/v1/Deployment'],
      [{ version: 'v1', kind: 'Service' }, 'core/v1/Service'],
      [undefined, 'core/undefined/undefined'],
    ];
    for (const [kind, got] of cases) {
      const { ctx, calls } = context();
      const out = review(request({ kind }), ctx);
      expect(out, got).toStrictEqual({
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        response: {
          uid: 'req-1',
          allowed: true,
          warnings: [`shimmy: webhook mutates v1 Pods only, got ${got}; check the rules of the MutatingWebhookConfiguration`],
        },
      });
      expect(calls).toEqual([]);
    }
  });

  it('allows other operations silently, without a patch or a warning', () => {
    for (const operation of ['UPDATE', 'DELETE', 'CONNECT', '']) {
      const { ctx, calls } = context();
      expect(review(request({ operation }), ctx), operation).toStrictEqual({
        apiVersion: 'admission.k8s.io/v1',
        kind: 'AdmissionReview',
        response: { uid: 'req-1', allowed: true },
      });
      expect(calls).toEqual([]);
    }
  });

  it('allows a pod without containers unpatched, saying no channel was injected', () => {
    const objects: unknown[] = [
      undefined,
      null,
      'pod',
      { metadata: { namespace: 'video' } },
      { metadata: { namespace: 'video' }, spec: {} },
      { metadata: { namespace: 'video' }, spec: { containers: 'a' } },
      { metadata: { namespace: 'video' }, spec: { containers: [] } },
    ];
    for (const object of objects) {
      const { ctx, calls } = context();
      expect(review(request({ object }), ctx).response, JSON.stringify(object)).toStrictEqual({
        uid: 'req-1',
        allowed: true,
        warnings: ['shimmy: pod has no containers, so no channel was injected'],
      });
      expect(calls).toEqual([]);
    }
  });

  it("takes the request's namespace first and the pod's otherwise", () => {
    const other = { ...pod(), metadata: { ...pod().metadata, namespace: 'elsewhere' } };
    const first = context();
    review(request({ object: other }), first.ctx);
    expect(first.calls).toEqual([['video', { app: 'cam' }]]);
    const second = context();
    const { namespace: _, ...noNamespace } = request({ object: other });
    review(noNamespace, second.ctx);
    expect(second.calls).toEqual([['elsewhere', { app: 'cam' }]]);
  });

  it('reads a pod without metadata: its labels are undefined', () => {
    const { ctx, calls } = context();
    const bare: V1Pod = { spec: { containers: [{ name: 'a', image: 'a' }] } };
    const out = review(request({ object: bare }), ctx);
    expect(calls).toEqual([['video', undefined]]);
    expect(out.response.patchType).toBe('JSONPatch');
  });

  it('allows a pod with no namespace anywhere unpatched, saying so', () => {
    for (const object of [{ spec: { containers: [{ name: 'a' }] } }, { metadata: {}, spec: { containers: [{ name: 'a' }] } }]) {
      const { ctx, calls } = context();
      const { namespace: _, ...noNamespace } = request({ object });
      expect(review(noNamespace, ctx).response).toStrictEqual({
        uid: 'req-1',
        allowed: true,
        warnings: ['shimmy: request has no namespace, so no channel was injected'],
      });
      expect(calls).toEqual([]);
    }
  });

  it('allows a pod no channel selects unpatched, passing on the problems of skipped channels', () => {
    const problems = ['shimmy: channel broken was skipped: selector is missing; fix it with kubectl edit shmc broken'];
    expect(review(request(), context({ channels: [], problems }).ctx).response).toStrictEqual({ uid: 'req-1', allowed: true, warnings: problems });
    expect(review(request(), context({ channels: [], problems: [] }).ctx).response).toStrictEqual({ uid: 'req-1', allowed: true });
  });

  it('puts the problems of skipped channels before the hostIPC warning when it patches', () => {
    const out = review(request(), context({ channels: [frames], problems: ['p1', 'p2'] }).ctx);
    expect(out.response.warnings).toEqual(['p1', 'p2', HOST_IPC_WARNING]);
    expect(out.response.patchType).toBe('JSONPatch');
  });

  it('sets the scheduler name only when the context has one', () => {
    const withScheduler = decode(review(request(), context(undefined, 'shimmy-scheduler').ctx).response.patch);
    expect(withScheduler).toContainEqual({ op: 'add', path: '/spec/schedulerName', value: 'shimmy-scheduler' });
    const without = decode(review(request(), context().ctx).response.patch) as { path: string }[];
    expect(without.map((o) => o.path)).not.toContain('/spec/schedulerName');
  });

  it('sends no patch for a pod that already has everything (reinvocation), but still warns', () => {
    const done = mutatePod(pod(), { namespace: 'video', channels: [frames] });
    expect(review(request({ object: done }), context().ctx).response).toStrictEqual({ uid: 'req-1', allowed: true, warnings: [HOST_IPC_WARNING] });
  });
});

describe('HOST_IPC_WARNING', () => {
  it('says the pod gets hostIPC and which Pod Security level the namespace needs', () => {
    expect(HOST_IPC_WARNING).toMatch(/^shimmy: this pod gets hostIPC: true/);
    expect(HOST_IPC_WARNING).toContain('pod-security.kubernetes.io/enforce=privileged');
  });
});

describe('review of hardened HostIPC channels', () => {
  const hardened = (group?: number) =>
    resolveChannel(
      {
        metadata: { namespace: 'video', name: 'frames', uid: 'uid-frames' },
        spec: { selector: { matchLabels: { app: 'cam' } }, memory: 'HostIPC' },
        ...(group !== undefined ? { status: { group } } : {}),
      },
      64500,
    );

  it('refuses a pod on a channel that has no group yet, naming it', () => {
    const out = review(request(), context({ channels: [hardened()], problems: [] }).ctx);
    expect(out.response.allowed).toBe(false);
    expect(out.response.status?.message).toMatch(/channel\(s\) frames have no group yet/);
    expect(review(request(), context({ channels: [hardened(64601)], problems: [] }).ctx).response.allowed).toBe(true);
  });

  it('removes a groups annotation from a pod that no channel selects, so the pod policy does not trust it', () => {
    const forged = pod();
    forged.metadata!.annotations = { 'shimmy.dev/groups': '64601' };
    const out = review(request({ object: forged }), context({ channels: [], problems: [] }).ctx);
    expect(out.response.allowed).toBe(true);
    expect(decode(out.response.patch)).toEqual([{ op: 'remove', path: '/metadata/annotations/shimmy.dev~1groups' }]);
  });
});
