/**
 * The Go programs the dev cluster runs, built (once, cached by their inputs) by
 * scripts/go-build.sh: `kube` (etcd and the Kubernetes components in one binary) and
 * `node` (containerd, its runc shim, ctr, oci-image).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { ErrorCode, ShimmyError } from '../errors.js';
import { packageRoot } from '../paths.js';

export const GO_BUILD_SCRIPT = `${packageRoot}/scripts/go-build.sh`;

export type GoModule = 'kube' | 'node';

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
