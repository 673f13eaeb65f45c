/** The etcd + kube-apiserver + kube-scheduler binary, built (once) by scripts/kube-build.sh. */
import { spawn } from 'node:child_process';
import { ErrorCode, ShimmyError } from '../errors.js';
import { packageRoot } from '../paths.js';

export const KUBE_BUILD_SCRIPT = `${packageRoot}/scripts/kube-build.sh`;

/** Builds if needed and returns the binary's path; the script's progress goes to `progress`. */
export function ensureKubeBinary(progress: (line: string) => void = () => undefined): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [KUBE_BUILD_SCRIPT], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      for (const line of d.toString().split('\n')) if (line.trim()) progress(line.trim());
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const path = out.trim().split('\n').pop();
      if (code === 0 && path) resolve(path);
      else reject(new ShimmyError(ErrorCode.DEV_CLUSTER, `scripts/kube-build.sh failed (exit ${code}): ${err.trim().split('\n').slice(-5).join(' | ')}`, 'It needs Go and the Go module proxy; run it alone to see the whole output'));
    });
  });
}
