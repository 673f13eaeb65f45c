/**
 * The cgroup v1 directories of a dev cluster: one tree per cluster (`shimmy-<id>`) in every
 * hierarchy. Each node's daemons (containerd, its shims, kubelet, kube-proxy) join
 * `<tree>/<node>-daemons` in the pids hierarchy at start, and the kubelet puts its pods
 * under `<tree>/<node>`, so `down` finds every process of the cluster here.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const CGROUP_MOUNT = '/sys/fs/cgroup';
export const PIDS_HIERARCHY = `${CGROUP_MOUNT}/pids`;

/** Mounted hierarchies (cpu, memory, pids, …, and `unified` where there is one). */
export function hierarchies(): string[] {
  if (!existsSync(CGROUP_MOUNT)) return [];
  return readdirSync(CGROUP_MOUNT, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(CGROUP_MOUNT, d.name, 'cgroup.procs')))
    .map((d) => join(CGROUP_MOUNT, d.name));
}

/** Creates `path` (relative, like `shimmy-ab12/node-1`) in every hierarchy. */
export function createCgroup(path: string): void {
  for (const h of hierarchies()) {
    let dir = h;
    for (const part of path.split('/').filter(Boolean)) {
      const parent = dir;
      dir = join(dir, part);
      if (existsSync(dir)) continue;
      mkdirSync(dir);
      // A new cpuset has no CPUs or memory nodes until given its parent's.
      if (existsSync(join(dir, 'cpuset.cpus'))) {
        writeFileSync(join(dir, 'cpuset.cpus'), readFileSync(join(parent, 'cpuset.cpus')));
        writeFileSync(join(dir, 'cpuset.mems'), readFileSync(join(parent, 'cpuset.mems')));
      }
    }
  }
}

function walk(dir: string, visit: (dir: string) => void): void {
  if (!existsSync(dir)) return;
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) walk(join(dir, e.name), visit);
  visit(dir);
}

/** Every process in `path` of any hierarchy, children included. */
export function processesIn(path: string): number[] {
  const pids = new Set<number>();
  for (const h of hierarchies()) {
    walk(join(h, path), (dir) => {
      for (const line of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n')) if (line.trim()) pids.add(Number(line));
    });
  }
  return [...pids];
}

/** Removes `path` and everything below it from every hierarchy; true when all are gone. */
export function removeCgroup(path: string): boolean {
  let clean = true;
  for (const h of hierarchies()) {
    walk(join(h, path), (dir) => {
      try {
        rmdirSync(dir);
      } catch {
        clean = false;
      }
    });
  }
  return clean;
}
