/** Installs (once) what real nodes need from Debian, through scripts/node-deps.sh. */
import { spawnSync } from 'node:child_process';
import { ErrorCode, ShimmyError } from '../errors.js';
import { packageRoot } from '../paths.js';

export function ensureNodeDependencies(progress: (line: string) => void = () => undefined): void {
  const result = spawnSync('bash', [`${packageRoot}/scripts/node-deps.sh`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 600_000 });
  for (const line of (result.stderr ?? '').split('\n')) if (line.includes('node-deps:')) progress(line.trim());
  if (result.status !== 0)
    throw new ShimmyError(
      ErrorCode.DEV_CLUSTER,
      `scripts/node-deps.sh failed: ${(result.stderr ?? '').trim().split('\n').slice(-3).join(' | ')}`,
      'It installs runc, CNI plugins, iptables and conntrack with apt-get as root',
    );
}
