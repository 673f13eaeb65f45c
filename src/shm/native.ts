/**
 * The one native boundary: libc's System V shared-memory and mmap calls and libshimmy's
 * futex, futex-watcher, IPC_STAT, SIGBUS-guard and mount helpers. Nothing else in the project
 * imports koffi (but the UCX link, src/replication/ucx.ts).
 */
import { constants } from 'node:os';
import koffi from 'koffi';
import { ErrorCode, ShimmyError } from '../errors.js';
import { nativeLibrary } from '../native-library.js';

const EXPECTED_ABI = 6;

export const IPC_CREAT = 0o1000;
export const IPC_EXCL = 0o2000;
export const IPC_RMID = 0;
export const { ETIMEDOUT, EINTR } = constants.errno;

/** An attached segment's base address, opaque to everything but this module. */
export type Address = unknown;

export interface ShmInfo {
  size: number;
  attached: number;
  changedAt: number;
  uid: number;
  gid: number;
  creatorUid: number;
  creatorGid: number;
  /** Permission bits. */
  mode: number;
  /** Marked for removal (IPC_RMID, SHM_DEST): it goes when the last process detaches, and its key is free for a new segment. */
  removed: boolean;
  creatorPid: number;
  lastPid: number;
}

const libc = koffi.load('libc.so.6');
const shimmy = koffi.load(nativeLibrary('libshimmy.so', 'Build it with `npm run build` (needs gcc) from the package root'));

koffi.struct('shimmy_shm_info', {
  size: 'uint64_t',
  attached: 'uint64_t',
  changed_at: 'int64_t',
  uid: 'uint32_t',
  gid: 'uint32_t',
  creator_uid: 'uint32_t',
  creator_gid: 'uint32_t',
  mode: 'uint32_t',
  creator_pid: 'int32_t',
  last_pid: 'int32_t',
});

const fn = {
  shmget: libc.func('int shmget(int key, size_t size, int shmflg)'),
  shmat: libc.func('void *shmat(int shmid, void *shmaddr, int shmflg)'),
  shmdt: libc.func('int shmdt(void *shmaddr)'),
  mmap: libc.func('void *mmap(void *addr, size_t length, int prot, int flags, int fd, intptr_t offset)'),
  munmap: libc.func('int munmap(void *addr, size_t length)'),
  shmctl: libc.func('int shmctl(int shmid, int cmd, void *buf)'),
  semget: libc.func('int semget(int key, int nsems, int semflg)'),
  semop: libc.func('int semop(int semid, void *sops, size_t nsops)'),
  semctl: libc.func('int semctl(int semid, int semnum, int cmd)'),
  abi: shimmy.func('int shimmy_abi_version(void)'),
  futexWait: shimmy.func('int shimmy_futex_wait(void *addr, uint32_t expected, int64_t timeout_ns)'),
  futexWake: shimmy.func('int shimmy_futex_wake(void *addr, int n)'),
  shmCreateAs: shimmy.func('int shimmy_shm_create_as(int key, uint64_t size, int mode, uint32_t uid, uint32_t gid)'),
  shmStat: shimmy.func('int shimmy_shm_stat(int id, _Out_ shimmy_shm_info *out)'),
  guard: shimmy.func('int shimmy_guard(void *addr, uint64_t length)'),
  guardTripped: shimmy.func('int shimmy_guard_tripped(int index)'),
  unguard: shimmy.func('void shimmy_unguard(int index)'),
  mount: shimmy.func('int shimmy_mount(const char *source, const char *target, uint64_t flags)'),
  umount: shimmy.func('int shimmy_umount(const char *target, int flags)'),
  watcherCreate: shimmy.func('void *shimmy_watcher_create(void)'),
  watcherFd: shimmy.func('int shimmy_watcher_fd(void *w)'),
  watcherError: shimmy.func('int shimmy_watcher_error(void *w)'),
  watcherArm: shimmy.func('int shimmy_watcher_arm(void *w, uint64_t *addrs, uint32_t *values, int n)'),
  watcherDisarm: shimmy.func('void shimmy_watcher_disarm(void *w)'),
  watcherDestroy: shimmy.func('void shimmy_watcher_destroy(void *w)'),
};

const abi = fn.abi() as number;
if (abi !== EXPECTED_ABI) {
  throw new ShimmyError(
    ErrorCode.NATIVE_UNAVAILABLE,
    `libshimmy ABI ${abi} does not match the expected ${EXPECTED_ABI}`,
    'Rebuild the native library with `npm run build`',
  );
}

/** The errno of the last failed libc call on this thread. */
export function lastErrno(): number {
  return koffi.errno();
}

/** shmget(2): returns the id, or -errno. */
export function shmget(key: number, size: number, flags: number): number {
  const id = fn.shmget(key, size, flags) as number;
  return id < 0 ? -koffi.errno() : id;
}

const IPC_NOWAIT = 0o4000;
const SEM_UNDO = 0x1000;
/** Two sembufs (u16 num, i16 op, i16 flags): wait for zero, then add one, undone by the kernel when this process ends. */
const TAKE = (() => {
  const ops = Buffer.alloc(12);
  ops.writeInt16LE(0, 2);
  ops.writeInt16LE(IPC_NOWAIT, 4);
  ops.writeInt16LE(1, 8);
  ops.writeInt16LE(SEM_UNDO | IPC_NOWAIT, 10);
  return ops;
})();

/**
 * Takes the System V semaphore `key` (made 0600 if missing) as a lock without waiting: its
 * id, or -errno (-EAGAIN: a live process holds it; -EIDRM: removed meanwhile). The kernel
 * lets go of it when this process ends, however it ends (SEM_UNDO).
 */
export function semLockTry(key: number): number {
  const id = fn.semget(key, 1, IPC_CREAT | 0o600) as number;
  if (id < 0) return -koffi.errno();
  return (fn.semop(id, TAKE, 2) as number) < 0 ? -koffi.errno() : id;
}

/** semctl(IPC_RMID): 0 or -errno. */
export function semRemove(id: number): number {
  return (fn.semctl(id, 0, IPC_RMID) as number) < 0 ? -koffi.errno() : 0;
}

/** shmat and mmap report failure as (void *) -1: then -errno, else the address. */
function addressOrErrno(addr: Address): Address | number {
  return koffi.address(addr as never) === 0xffffffffffffffffn ? -koffi.errno() : addr;
}

/** shmat(2): returns the address, or -errno as a number. */
export function shmat(id: number): Address | number {
  return addressOrErrno(fn.shmat(id, null, 0) as Address);
}

export function shmdt(addr: Address): number {
  return (fn.shmdt(addr) as number) < 0 ? -koffi.errno() : 0;
}

const PROT_READ_WRITE = 0x1 | 0x2;
const MAP_PRIVATE_ANONYMOUS_FIXED_NORESERVE = 0x02 | 0x20 | 0x10 | 0x4000;

/**
 * Detaches the segment mapped at `addr` by mapping private zero pages over it in one step
 * (mmap MAP_FIXED): views into it that outlive the detach read zeros and write nowhere
 * instead of faulting, and nothing else can be mapped there meanwhile. The kernel counts
 * the segment's attachment off as for shmdt. Returns 0 or -errno.
 */
export function detachHarmlessly(addr: Address, length: number): number {
  const out = addressOrErrno(fn.mmap(addr, length, PROT_READ_WRITE, MAP_PRIVATE_ANONYMOUS_FIXED_NORESERVE, -1, 0) as Address);
  return typeof out === 'number' ? out : 0;
}

const MAP_SHARED = 0x01;

/** mmap(2) of a file's first `length` bytes, shared and writable: the address, or -errno as a number. */
export function mmapShared(fd: number, length: number): Address | number {
  return addressOrErrno(fn.mmap(null, length, PROT_READ_WRITE, MAP_SHARED, fd, 0) as Address);
}

export function munmap(addr: Address, length: number): number {
  return (fn.munmap(addr, length) as number) < 0 ? -koffi.errno() : 0;
}

/**
 * Guards a file mapping against SIGBUS (its file truncated under it): a fault in the range
 * maps private zero pages over all of it and marks the guard tripped. Returns the guard's
 * index, or -errno (-ENOSPC: every guard is taken).
 */
export function guard(addr: Address, length: number): number {
  return fn.guard(addr, BigInt(length)) as number;
}

export function guardTripped(index: number): boolean {
  return (fn.guardTripped(index) as number) === 1;
}

/** Stops guarding; before the range is unmapped. */
export function unguard(index: number): void {
  fn.unguard(index);
}

export const MountFlag = { RDONLY: 1, NOSUID: 2, NODEV: 4, NOEXEC: 8, REMOUNT: 32, BIND: 4096 } as const;

function onWorker(call: { async: (...args: unknown[]) => void }, ...args: unknown[]): Promise<number> {
  return new Promise((resolve, reject) => {
    call.async(...args, (err: unknown, rc: number) => {
      if (err) reject(err);
      else resolve(rc);
    });
  });
}

/** mount(2) of `source` on `target` with MountFlag bits, on a libuv worker. Resolves 0 or -errno. */
export function mountAsync(source: string | null, target: string, flags: number): Promise<number> {
  return onWorker(fn.mount as never, source, target, BigInt(flags));
}

/** umount2(2) of `target`, on a libuv worker. Resolves 0 or -errno. */
export function umountAsync(target: string, detach = false): Promise<number> {
  return onWorker(fn.umount as never, target, detach ? 2 : 0);
}

/** A new segment whose creator and owner are `uid` and `gid` (needs CAP_SETUID and CAP_SETGID): the id, or -errno. */
export function shmCreateAs(key: number, size: number, mode: number, uid: number, gid: number): number {
  return fn.shmCreateAs(key, BigInt(size), mode, uid, gid) as number;
}

export function shmRemove(id: number): number {
  return (fn.shmctl(id, IPC_RMID, null) as number) < 0 ? -koffi.errno() : 0;
}

export function shmStat(id: number): ShmInfo | number {
  const out: Record<string, number | bigint> = {};
  const rc = fn.shmStat(id, out) as number;
  if (rc < 0) return rc;
  return {
    size: Number(out.size),
    attached: Number(out.attached),
    changedAt: Number(out.changed_at),
    uid: out.uid as number,
    gid: out.gid as number,
    creatorUid: out.creator_uid as number,
    creatorGid: out.creator_gid as number,
    mode: (out.mode as number) & 0o777,
    removed: ((out.mode as number) & 0o1000) !== 0,
    creatorPid: out.creator_pid as number,
    lastPid: out.last_pid as number,
  };
}

/** A zero-copy ArrayBuffer over `length` bytes at `addr`. Valid until shmdt. */
export function view(addr: Address, length: number): ArrayBuffer {
  return koffi.view(addr as never, length) as ArrayBuffer;
}

/** The numbers of the addresses offsetAddress() made (koffi gives its typed values no number back). */
const addressNumbers = new WeakMap<object, bigint>();

/** The address `offset` bytes past `addr`, for futex words inside a segment. */
export function offsetAddress(addr: Address, offset: number): Address {
  const at = koffi.address(addr as never) + BigInt(offset);
  const word = koffi.as(at as never, 'void *') as object;
  addressNumbers.set(word, at);
  return word;
}

/** Blocks this thread while the word equals `expected`. Returns 0, -ETIMEDOUT or -EINTR. */
export function futexWaitSync(word: Address, expected: number, timeoutNs: number): number {
  return fn.futexWait(word, expected >>> 0, BigInt(Math.max(-1, Math.floor(timeoutNs)))) as number;
}

/** The same wait on a libuv worker thread, so the event loop stays free. */
export function futexWaitAsync(word: Address, expected: number, timeoutNs: number): Promise<number> {
  return onWorker(fn.futexWait as never, word, expected >>> 0, BigInt(Math.max(-1, Math.floor(timeoutNs))));
}

/** The numeric address of a word offsetAddress() made (for the futex watcher). */
export function addressOf(word: Address): bigint {
  const at = addressNumbers.get(word as object);
  if (at === undefined) throw new ShimmyError(ErrorCode.INVALID_ARGUMENT, 'Not an address offsetAddress() made', 'Pass a word of a segment or memory file');
  return at;
}

/** libshimmy's futex watcher (a thread of its own), or a negative errno. */
export function watcherCreate(): Address | number {
  const w = fn.watcherCreate();
  return w === null ? -koffi.errno() : w;
}

export function watcherFd(w: Address): number {
  return fn.watcherFd(w) as number;
}

/** Watches `count` words at `addrs` for a change from `values`; 0 or -EINVAL. */
export function watcherArm(w: Address, addrs: BigUint64Array, values: Uint32Array, count: number): number {
  return fn.watcherArm(w, addrs, values, count) as number;
}

/** 0, or the errno of a wait the watcher could not make (it then never signals). */
export function watcherError(w: Address): number {
  return fn.watcherError(w) as number;
}

export function watcherDisarm(w: Address): void {
  fn.watcherDisarm(w);
}

export function watcherDestroy(w: Address): void {
  fn.watcherDestroy(w);
}

export function futexWake(word: Address, count = 0x7fffffff): number {
  return fn.futexWake(word, count) as number;
}
