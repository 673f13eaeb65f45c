/**
 * `shimmy demo --cluster`: the demo pipeline as five pods per transport on a real node,
 * through the CLI as a user runs it, with the same figures as the local demo.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DemoResult } from '../../src/demo/pipeline.js';
import { run } from '../helpers/proc.js';
import { downRealCluster, upRealCluster, type NodesCluster } from './nodes-fixture.js';

let c: NodesCluster;

beforeAll(async () => {
  c = await upRealCluster(1);
}, 900_000);

afterAll(async () => {
  if (c) await downRealCluster(c);
});

describe('shimmy demo --cluster', () => {
  it('runs every frame through five pods over Shimmy channels and over TCP, then deletes its namespace', async () => {
    const r = await run(['demo', '--cluster', '--dir', c.dir, '--frames', '60', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/\[demo\] shm: shm-camera, shm-metadata, shm-detect, shm-blur, shm-resize on node-1/);
    expect(r.stderr).toMatch(/\[demo\] tcp: .* on node-1/);
    const results = JSON.parse(r.stdout) as DemoResult[];
    expect(results.map((x) => x.transport)).toEqual(['shm', 'tcp']);
    for (const res of results) {
      expect(res.frames, res.transport).toBe(60);
      expect(res.fps, res.transport).toBeGreaterThan(0);
      expect(res.stages.map((s) => s.stage)).toEqual(['camera', 'metadata', 'detect', 'blur', 'resize']);
      // JSON has no NaN: the camera's hop (it has none) comes back as null.
      expect(res.stages[0]!.hopP50Us).toBeNull();
      for (const s of res.stages.slice(1)) {
        for (const v of [s.hopP50Us, s.hopP99Us]) {
          expect(Number.isFinite(v), `${res.transport} ${s.stage}`).toBe(true);
          expect(v, `${res.transport} ${s.stage}`).toBeGreaterThan(0);
        }
      }
      for (const s of res.stages) expect(s.workP50Ms, `${res.transport} ${s.stage}`).toBeGreaterThan(0);
      // Stamps must come from one machine-wide clock: each pod starts a second or more after
      // the one downstream of it, so a per-process clock (performance.now()) would put
      // seconds into every hop. Bounds are loose: this machine may be busy with other tests.
      expect(res.endToEndP50Ms, res.transport).toBeGreaterThan(0);
      expect(res.endToEndP50Ms, res.transport).toBeLessThan(3000);
      if (res.transport === 'shm') for (const s of res.stages.slice(1)) expect(s.hopP50Us, s.stage).toBeLessThan(250_000);
    }
    const left = (await c.core.listNamespace()).items.filter((n) => n.metadata?.name?.startsWith('shimmy-demo-'));
    for (const ns of left) expect(ns.metadata?.deletionTimestamp, ns.metadata?.name).toBeDefined();
  });

  it('prints the table the local demo prints', async () => {
    const r = await run(['demo', '--cluster', '--dir', c.dir, '--frames', '20', '--fps', '0', '--transports', 'shm']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Pipeline: camera -> metadata -> detect -> blur -> resize, 20 frames of 640x480 RGB (900 KiB), unpaced');
    expect(r.stdout).toMatch(/TRANSPORT +STAGE +HOP P50 \(us\) +HOP P99 \(us\) +WORK P50 \(ms\)/);
    expect(r.stdout).toMatch(/^shm +resize +[\d.]+ +[\d.]+ +[\d.]+$/m);
    expect(r.stdout).toMatch(/^shm +20 +[\d.]+ +[\d.]+ +[\d.]+$/m);
  });
});
