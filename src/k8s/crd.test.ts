import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { crdFiles } from '../cli/manifests-command.js';
import { channelCRD } from './crd.js';

describe('CRD manifests', () => {
  it('the committed charts/shimmy/crds/ YAML is what src/k8s/crd.ts generates (run shimmy manifests)', () => {
    for (const [file, text] of crdFiles()) expect(readFileSync(file, 'utf8'), file).toBe(text);
  });

  it("uses the wire spelling of schema keywords (client-node's models rename them)", () => {
    const yaml = parse([...crdFiles().values()][0]!) as ReturnType<typeof channelCRD>;
    const spec = JSON.stringify(yaml.spec);
    expect(spec).toContain('"x-kubernetes-int-or-string":true');
    expect(spec).toContain('"default":"PubSub"');
    expect(spec).not.toContain('_default');
    expect(channelCRD().spec.names).toMatchObject({ kind: 'SharedMemoryChannel', plural: 'sharedmemorychannels', shortNames: ['shmc'] });
  });
});
