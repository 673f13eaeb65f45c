import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '../errors.js';
import { runClusterDemo } from './cluster.js';

const opts = { frames: 10, fps: 30, width: 64, height: 64, transports: ['shm', 'tcp'] as Array<'shm' | 'tcp'> };
const dirs: string[] = [];

function clusterDir(state?: object): string {
  const dir = join(mkdtempSync(join(tmpdir(), 'shimmy-demo-')), 'cluster');
  dirs.push(dir);
  if (state) {
    mkdirSync(dir);
    writeFileSync(join(dir, 'state.json'), JSON.stringify({ dir, kubeconfig: join(dir, 'kubeconfig'), nodes: ['node-1'], pids: {}, ...state }));
  }
  return dir;
}

afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(join(d, '..'), { recursive: true, force: true });
});

describe('shimmy demo --cluster', () => {
  it('says there is no dev cluster in DIR, and how to start one', async () => {
    const dir = clusterDir();
    await expect(runClusterDemo({ ...opts, dir })).rejects.toMatchObject({
      code: ErrorCode.DEV_CLUSTER,
      message: expect.stringContaining(`No dev cluster in ${dir}. Start one: shimmy dev-cluster up --dir ${dir}`),
    });
  });

  it('refuses a cluster of Node objects only (--fake-nodes): its pods never run', async () => {
    const dir = clusterDir({ fakeNodes: true, pids: { apiserver: process.pid, controller: process.pid } });
    await expect(runClusterDemo({ ...opts, dir })).rejects.toMatchObject({
      code: ErrorCode.DEV_CLUSTER,
      message: expect.stringMatching(/Node objects only \(--fake-nodes\)/),
    });
  });

  it('refuses a stopped cluster, and one started without Shimmy', async () => {
    const stopped = clusterDir({ fakeNodes: false, pids: {} });
    await expect(runClusterDemo({ ...opts, dir: stopped })).rejects.toMatchObject({
      code: ErrorCode.DEV_CLUSTER,
      message: expect.stringMatching(/is not running/),
    });
    const noShimmy = clusterDir({ fakeNodes: false, pids: { apiserver: process.pid }, installed: false });
    await expect(runClusterDemo({ ...opts, dir: noShimmy })).rejects.toMatchObject({
      code: ErrorCode.DEV_CLUSTER,
      message: expect.stringMatching(/started without Shimmy \(--no-install\)/),
    });
  });
});
