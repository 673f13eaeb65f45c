import { describe, expect, it } from 'vitest';
import fastJsonPatch from 'fast-json-patch';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { resolveChannel, type ResolvedChannel } from '../k8s/channel-spec.js';
import { MAX_CONTAINERS, MAX_PATCH_BYTES, review, type AdmissionContext } from './admission.js';
import { mutatePod, podPatch, type PodMutation } from './patch.js';

// Issue 10: a 2.2 MB pod with 75,000 matching containers made a 48 MB patch in 3.0 s while
// other admissions waited.

const channel = (name: string): ResolvedChannel =>
  resolveChannel({ metadata: { namespace: 'video', name, uid: `uid-${name}` }, spec: { selector: { matchLabels: { app: 'cam' } } } });
const frames = channel('frames');
const ctx = (channels: ResolvedChannel[]): AdmissionContext => ({ match: () => ({ channels, problems: [] }), schedulerName: 'shimmy-scheduler' });
const containers = (n: number, prefix = 'c'): V1Container[] => Array.from({ length: n }, (_, i) => ({ name: `${prefix}${i}`, image: 'x' }));
const podWith = (spec: Partial<V1Pod['spec']>): V1Pod => ({
  metadata: { name: 'p', namespace: 'video', labels: { app: 'cam' } },
  spec: { containers: [], ...spec },
});
const admit = (pod: V1Pod, channels = [frames]) =>
  review({ uid: 'u', kind: { group: '', version: 'v1', kind: 'Pod' }, namespace: 'video', operation: 'CREATE', object: pod }, ctx(channels)).response;

describe('the webhook under hostile pods', () => {
  it(`refuses a pod on channels with more than ${MAX_CONTAINERS} containers (init containers count), saying so, and patches one with exactly that many`, () => {
    const over = admit(podWith({ containers: containers(MAX_CONTAINERS - 9), initContainers: containers(10, 'i') }));
    expect(over).toEqual({
      uid: 'u',
      allowed: false,
      status: { code: 422, message: `shimmy: pod has ${MAX_CONTAINERS + 1} containers, more than the ${MAX_CONTAINERS} a pod on channels may have` },
    });
    const at = admit(podWith({ containers: containers(MAX_CONTAINERS - 10), initContainers: containers(10, 'i') }));
    expect(at.allowed).toBe(true);
    expect(at.patchType).toBe('JSONPatch');
  });

  it('answers the 75,000-container pod at once, with a refusal instead of a 48 MB patch', () => {
    const started = performance.now();
    const answer = admit(podWith({ containers: containers(75_000) }));
    // A generous bound against a hang; the old code took 3.0 s.
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(answer.allowed).toBe(false);
    expect(answer.patch).toBeUndefined();
  });

  it(`refuses a patch over ${MAX_PATCH_BYTES} bytes, naming its size`, () => {
    const many = Array.from({ length: 64 }, (_, i) => channel(`channel-with-a-long-name-${i}`));
    const answer = admit(podWith({ containers: containers(400) }), many);
    expect(answer.allowed).toBe(false);
    expect(answer.status!.message).toMatch(new RegExp(`a \\d+-byte patch, more than ${MAX_PATCH_BYTES}; use fewer channels or containers`));
    expect(Number(/a (\d+)-byte patch/.exec(answer.status!.message)![1])).toBeGreaterThan(MAX_PATCH_BYTES);
  });
});

describe('podPatch, built directly', () => {
  const m: PodMutation = { namespace: 'video', channels: [frames, channel('boxes')], schedulerName: 'shimmy-scheduler' };
  const apply = (pod: V1Pod) => fastJsonPatch.applyPatch(structuredClone(pod), podPatch(pod, m), true, false).newDocument;
  const env = mutatePod(podWith({ containers: containers(1) }), m).spec!.containers[0]!.env!;
  const pods: [string, V1Pod][] = [
    ['bare', podWith({ containers: containers(2) })],
    ['no metadata', { spec: { containers: containers(1) } }],
    ['init containers, one with env', podWith({ containers: containers(1), initContainers: [{ name: 'i', image: 'x', env: [{ name: 'A', value: '1' }] }] })],
    [
      'stale, valueFrom and right values mixed with the user’s',
      podWith({
        containers: [
          {
            name: 'c',
            image: 'x',
            env: [{ name: 'KEEP', value: 'k' }, { ...env[0]!, value: 'stale' }, { name: env[1]!.name, valueFrom: { fieldRef: { fieldPath: 'x' } } }, env[2]!],
          },
        ],
      }),
    ],
    [
      'annotations and labels with "~" and "/", a stale channel list',
      { metadata: { name: 'p', annotations: { 'a~b/c': '1', 'shimmy.dev/channels': 'old' }, labels: { 'x/y': '2' } }, spec: { containers: containers(1) } },
    ],
    ['default scheduler and hostIPC false', podWith({ containers: containers(1), schedulerName: 'default-scheduler', hostIPC: false })],
    ['a custom scheduler', podWith({ containers: containers(1), schedulerName: 'gpu' })],
  ];
  for (const [what, pod] of pods)
    it(`makes the pod mutatePod makes, and nothing more on a second pass: ${what}`, () => {
      const patched = apply(pod);
      expect(patched).toEqual(mutatePod(pod, m));
      expect(podPatch(patched, m)).toEqual([]);
    });
});
