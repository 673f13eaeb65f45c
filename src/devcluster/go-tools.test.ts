import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { packageRoot } from '../paths.js';
import { kubeVersion } from './go-tools.js';
import { schedulerImageTag } from './images.js';

describe('kubeVersion', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });
  const goMod = (text: string): string => {
    dir = mkdtempSync(join(tmpdir(), 'shimmy-go-mod-'));
    writeFileSync(join(dir, 'go.mod'), text);
    return join(dir, 'go.mod');
  };

  it("reads test/kube/go.mod's k8s.io/kubernetes requirement", () => {
    const v = kubeVersion();
    expect(v).toMatch(/^v1\.\d+\.\d+$/);
    expect(readFileSync(join(packageRoot, 'test', 'kube', 'go.mod'), 'utf8')).toContain(`\tk8s.io/kubernetes ${v}\n`);
    expect(schedulerImageTag(v)).toBe(`registry.k8s.io/kube-scheduler:${v}`);
  });

  it('reads a one-line require and skips look-alike modules', () => {
    expect(kubeVersion(goMod('module x\n\ngo 1.26\n\nrequire k8s.io/kubernetes v1.36.1\n'))).toBe('v1.36.1');
    expect(kubeVersion(goMod('module x\n\nrequire (\n\tk8s.io/kubernetes-extra v9.9.9\n\tk8s.io/kubernetes v1.37.0-rc.1 // indirect\n)\n'))).toBe(
      'v1.37.0-rc.1',
    );
  });

  it('says so when go.mod requires no k8s.io/kubernetes', () => {
    expect(() => kubeVersion(goMod('module x\n\nrequire k8s.io/client-go v0.37.0\n'))).toThrow(/requires no k8s.io\/kubernetes version/);
  });
});
