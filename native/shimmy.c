/*
 * libshimmy: the few things JavaScript cannot do on its own.
 *  - futex wait/wake on a 32-bit word inside a System V segment (shared, not private:
 *    waiters and wakers live in different processes);
 *  - IPC_STAT flattened into a fixed struct so the JS side does not depend on the
 *    libc's struct shmid_ds layout;
 *  - sealed memory files (memfd) for channels mapped from a file instead of a System V
 *    key: sealed against shrinking, a writer cannot truncate the file under a reader
 *    (which would SIGBUS it).
 * Loaded by src/shm/native.ts, which checks SHIMMY_NATIVE_ABI at load.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define SHIMMY_NATIVE_ABI 2

int shimmy_abi_version(void) { return SHIMMY_NATIVE_ABI; }

/*
 * Sleeps while *addr == expected, for at most timeout_ns (negative: forever).
 * Returns 0 when woken (or the value already differed), -ETIMEDOUT, -EINTR, or -errno.
 */
int shimmy_futex_wait(uint32_t *addr, uint32_t expected, int64_t timeout_ns) {
  struct timespec ts, *tsp = NULL;
  if (timeout_ns >= 0) {
    ts.tv_sec = timeout_ns / 1000000000LL;
    ts.tv_nsec = timeout_ns % 1000000000LL;
    tsp = &ts;
  }
  long rc = syscall(SYS_futex, addr, FUTEX_WAIT, expected, tsp, NULL, 0);
  if (rc == 0) return 0;
  if (errno == EAGAIN) return 0;
  return -errno;
}

/* Wakes up to n sleepers on addr. Returns how many were woken, or -errno. */
int shimmy_futex_wake(uint32_t *addr, int n) {
  long rc = syscall(SYS_futex, addr, FUTEX_WAKE, n, NULL, NULL, 0);
  return rc < 0 ? -errno : (int)rc;
}

typedef struct {
  uint64_t size;
  uint64_t attached;
  int64_t changed_at;
  uint32_t uid;
  uint32_t gid;
  uint32_t creator_uid;
  uint32_t mode;
  int32_t creator_pid;
  int32_t last_pid;
} shimmy_shm_info;

/* IPC_STAT for one segment id. Returns 0 or -errno. */
int shimmy_shm_stat(int id, shimmy_shm_info *out) {
  struct shmid_ds ds;
  if (shmctl(id, IPC_STAT, &ds) < 0) return -errno;
  out->size = ds.shm_segsz;
  out->attached = ds.shm_nattch;
  out->changed_at = ds.shm_ctime;
  out->uid = ds.shm_perm.uid;
  out->gid = ds.shm_perm.gid;
  out->creator_uid = ds.shm_perm.cuid;
  /* Permission bits plus SHM_DEST (01000): set once the segment is marked for removal. */
  out->mode = ds.shm_perm.mode & 01777;
  out->creator_pid = ds.shm_cpid;
  out->last_pid = ds.shm_lpid;
  return 0;
}

#define SHIMMY_SIZE_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

/*
 * A memory file of `size` zero bytes with permission bits `mode`, sealed so that its size
 * never changes (nor its seals). Returns the file descriptor (close-on-exec) or -errno.
 */
int shimmy_memfd_sealed(const char *name, uint64_t size, uint32_t mode) {
  int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return -errno;
  if (ftruncate(fd, (off_t)size) < 0 || fchmod(fd, mode & 0777) < 0 || fcntl(fd, F_ADD_SEALS, SHIMMY_SIZE_SEALS) < 0) {
    int err = errno;
    close(fd);
    return -err;
  }
  return fd;
}

/* Whether the file behind fd can neither shrink nor grow: 1, 0, or -errno. */
int shimmy_size_sealed(int fd) {
  int seals = fcntl(fd, F_GET_SEALS);
  if (seals < 0) return errno == EINVAL ? 0 : -errno;
  return (seals & (F_SEAL_SHRINK | F_SEAL_GROW)) == (F_SEAL_SHRINK | F_SEAL_GROW) ? 1 : 0;
}
