/**
 * The Go programs the dev cluster runs, built (once, cached by their inputs) by
 * scripts/go-build.sh: `kube` (etcd and the Kubernetes components in one binary),
 * `node` (containerd, its runc shim, ctr, oci-image) and `helm` (Helm 3, for the chart).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ErrorCode, ShimmyError } from '../errors.js';
import { packageRoot } from '../paths.js';

export const GO_BUILD_SCRIPT = `${packageRoot}/scripts/go-build.sh`;

export type GoModule = 'kube' | 'node' | 'helm';

/** Builds `module` if needed and returns the directory of its binaries; progress goes to `progress`. */
export function ensureGoTools(module: GoModule, progress: (line: string) => void = () => undefined): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [GO_BUILD_SCRIPT, module], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      for (const line of d.toString().split('\n')) if (line.trim()) progress(line.trim());
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const dir = out.trim().split('\n').pop();
      if (code === 0 && dir) resolve(dir);
      else
        reject(
          new ShimmyError(
            ErrorCode.DEV_CLUSTER,
            `scripts/go-build.sh ${module} failed (exit ${code}): ${err.trim().split('\n').slice(-5).join(' | ')}`,
            'It needs Go and the Go module proxy; run it alone to see the whole output',
          ),
        );
    });
  });
}

/** The etcd + Kubernetes components binary. */
export async function ensureKubeBinary(progress?: (line: string) => void): Promise<string> {
  return join(await ensureGoTools('kube', progress), 'shimmy-kube');
}

/** The helm binary (Helm 3, built from helm.sh/helm/v3). */
export async function ensureHelm(progress?: (line: string) => void): Promise<string> {
  return join(await ensureGoTools('helm', progress), 'helm');
}

/**
 * The Kubernetes version shimmy-kube is built from (`v1.37.2`): the `k8s.io/kubernetes`
 * requirement in test/kube/go.mod, read from the file (no build needed).
 */
export function kubeVersion(goMod: string = join(packageRoot, 'test', 'kube', 'go.mod')): string {
  const m = /^\s*(?:require\s+)?k8s\.io\/kubernetes\s+(v\d+\.\d+\.\d+\S*)/m.exec(readFileSync(goMod, 'utf8'));
  if (!m) throw new ShimmyError(ErrorCode.DEV_CLUSTER, `${goMod} requires no k8s.io/kubernetes version`, 'test/kube/go.mod must require k8s.io/kubernetes');
  return m[1]!;
}
