import { readlinkSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { OWN_PID_NAMESPACE, OWN_START_TIME, PID_MAX_LIMIT, processLiveness, processStartTime } from './liveness.js';
import { killStarted } from '../../test/helpers/proc.js';
import { deadPid, procState, zombie } from '../../test/helpers/pids.js';

afterEach(() => {
  vi.restoreAllMocks();
  vi.doUnmock('node:fs');
  vi.resetModules();
  killStarted();
});

/** A fresh copy of liveness.ts that sees `fs` in place of node:fs's functions of the same names. */
async function livenessWith(fs: { readlinkSync?: (path: string) => string; readFileSync?: (path: string, encoding: string) => string }) {
  vi.resetModules();
  vi.doMock('node:fs', async (importOriginal) => ({ ...(await importOriginal<typeof import('node:fs')>()), ...fs }));
  return import('./liveness.js');
}

const errno = (code: string) => Object.assign(new Error(code), { code });

describe('OWN_PID_NAMESPACE', () => {
  it("is the inode number of this process's PID namespace", () => {
    const inode = Number(/^pid:\[(\d+)\]$/.exec(readlinkSync('/proc/self/ns/pid'))![1]);
    expect(OWN_PID_NAMESPACE).toBe(inode >>> 0);
    expect(OWN_PID_NAMESPACE).toBeGreaterThan(9);
  });

  it('is read from /proc/self/ns/pid, every digit of it', async () => {
    const seen: string[] = [];
    const m = await livenessWith({
      readlinkSync: (path) => {
        seen.push(path);
        return 'pid:[4026532123]';
      },
    });
    expect(seen).toEqual(['/proc/self/ns/pid']);
    expect(m.OWN_PID_NAMESPACE).toBe(4026532123);
  });

  it('is 0 when the namespace cannot be read or makes no sense', async () => {
    for (const readlink of [
      () => {
        throw errno('ENOENT');
      },
      () => 'pid:[]',
      () => 'pid:[abc]',
    ]) {
      const m = await livenessWith({ readlinkSync: readlink });
      expect(m.OWN_PID_NAMESPACE).toBe(0);
    }
  });

  it('being 0 (unknown), leaves every liveness question to heartbeats', async () => {
    const m = await livenessWith({
      readlinkSync: () => {
        throw errno('EACCES');
      },
    });
    expect(m.processLiveness(process.pid, 0)).toBe('unknown');
    expect(m.processLiveness(await deadPid(), 0)).toBe('unknown');
  });
});

describe('processLiveness', () => {
  it('says alive for a running process of this PID namespace', () => {
    expect(processLiveness(process.pid, OWN_PID_NAMESPACE)).toBe('alive');
    expect(processLiveness(process.ppid, OWN_PID_NAMESPACE)).toBe('alive');
  });

  it('says dead for a process that exited', async () => {
    expect(processLiveness(await deadPid(), OWN_PID_NAMESPACE)).toBe('dead');
  });

  it('says dead for a zombie: exited, though not yet reaped', async () => {
    const { pid } = await zombie();
    expect(procState(pid)).toBe('Z');
    expect(processLiveness(pid, OWN_PID_NAMESPACE)).toBe('dead');
  });

  it('says unknown for a process of another PID namespace, or a pid that names no process (0 or less)', () => {
    expect(processLiveness(process.pid, (OWN_PID_NAMESPACE + 1) >>> 0)).toBe('unknown');
    expect(processLiveness(process.pid, 0)).toBe('unknown');
    // kill(0, 0) would succeed (it signals our process group), kill(-1, 0) every process we may signal.
    expect(processLiveness(0, OWN_PID_NAMESPACE)).toBe('unknown');
    expect(processLiveness(-1, OWN_PID_NAMESPACE)).toBe('unknown');
  });

  it('asks the kernel with signal 0 and counts a process it may not signal (EPERM) as alive', async () => {
    const dead = await deadPid();
    const kill = vi.spyOn(process, 'kill').mockImplementation(() => {
      throw errno('EPERM');
    });
    expect(processLiveness(dead, OWN_PID_NAMESPACE)).toBe('alive');
    expect(kill).toHaveBeenCalledWith(dead, 0);
  });

  it('reads the state letter after the last ")" of /proc/<pid>/stat, so a command name cannot fool it', async () => {
    const stats = new Map<string, string>();
    const reads: Array<[string, string]> = [];
    const m = await livenessWith({
      readFileSync: (path, encoding) => {
        reads.push([path, encoding]);
        const stat = stats.get(path);
        if (stat === undefined) throw errno('ENOENT');
        return stat;
      },
    });
    const pid = process.pid;
    const ns = m.OWN_PID_NAMESPACE;
    const at = `/proc/${pid}/stat`;
    const cases: Array<[string, string]> = [
      [`${pid} (node) S 1 2 3`, 'alive'],
      [`${pid} (node) R 1 2 3`, 'alive'],
      [`${pid} (node) Z 1 2 3`, 'dead'],
      [`${pid} (node) X 1 2 3`, 'dead'],
      [`${pid} (a) Z (b) S 1 2 3`, 'alive'],
      [`${pid} (a) S (b) Z 1 2 3`, 'dead'],
      [`${pid} (Z) S 1 2 3`, 'alive'],
      [`${pid} (ZZZZ) S 1 2 3`, 'alive'],
    ];
    for (const [stat, want] of cases) {
      stats.set(at, stat);
      expect([stat, m.processLiveness(pid, ns)]).toEqual([stat, want]);
    }
    expect(reads.every(([path, encoding]) => path === at && encoding === 'latin1')).toBe(true);
    // The process vanished between kill() and reading its stat: it is gone.
    stats.delete(at);
    expect(m.processLiveness(pid, ns)).toBe('dead');
  });
});

describe('processLiveness on forged pids', () => {
  it('says dead for a pid above Linux PID_MAX_LIMIT in any namespace (no such process can exist), without asking the kernel', () => {
    const kill = vi.spyOn(process, 'kill');
    for (const pid of [PID_MAX_LIMIT + 1, 0x80000001, 0xffffffff]) {
      expect(processLiveness(pid, OWN_PID_NAMESPACE), String(pid)).toBe('dead');
      expect(processLiveness(pid, (OWN_PID_NAMESPACE + 1) >>> 0), String(pid)).toBe('dead');
    }
    expect(kill).not.toHaveBeenCalled();
  });

  it('counts a kill() failure other than EPERM as dead, not alive', async () => {
    const dead = await deadPid();
    vi.spyOn(process, 'kill').mockImplementation(() => {
      throw errno('EINVAL');
    });
    expect(processLiveness(dead, OWN_PID_NAMESPACE)).toBe('dead');
  });
});

describe('processStartTime and reused pids', () => {
  it("reads this process's start time from /proc, and a reused pid (same pid, another start time) is dead", async () => {
    expect(OWN_START_TIME).toBeGreaterThan(0);
    expect(processStartTime(process.pid)).toBe(OWN_START_TIME);
    expect(processStartTime(await deadPid())).toBe(0);
    expect(processLiveness(process.pid, OWN_PID_NAMESPACE, OWN_START_TIME)).toBe('alive');
    expect(processLiveness(process.pid, OWN_PID_NAMESPACE, (OWN_START_TIME + 1) >>> 0)).toBe('dead');
    expect(processLiveness(process.pid, OWN_PID_NAMESPACE, 0)).toBe('alive');
  });
});
