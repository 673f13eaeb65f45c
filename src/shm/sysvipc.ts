/**
 * /proc/sysvipc/shm: every System V segment on the host with its owner and mode, readable
 * by anyone (IPC_STAT needs read permission on the segment itself).
 */
import { readFileSync } from 'node:fs';

export interface SysvShmEntry {
  key: number;
  id: number;
  mode: number;
  size: number;
  attached: number;
  uid: number;
  gid: number;
}

export function listSysvShm(): SysvShmEntry[] {
  let text: string;
  try {
    text = readFileSync('/proc/sysvipc/shm', 'latin1');
  } catch {
    return [];
  }
  const out: SysvShmEntry[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 9) continue;
    out.push({
      key: Number(f[0]) | 0,
      id: Number(f[1]),
      mode: Number.parseInt(f[2]!, 8) & 0o777,
      size: Number(f[3]),
      attached: Number(f[6]),
      uid: Number(f[7]),
      gid: Number(f[8]),
    });
  }
  return out;
}
