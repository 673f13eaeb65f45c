/*
 * libshimmy: the few things JavaScript cannot do on its own.
 *  - futex wait/wake on a 32-bit word inside a System V segment (shared, not private:
 *    waiters and wakers live in different processes);
 *  - IPC_STAT flattened into a fixed struct so the JS side does not depend on the
 *    libc's struct shmid_ds layout;
 *  - mount(2) and umount2(2) returning -errno, for the CSI plugin (errno is per thread,
 *    and these run on a libuv worker);
 *  - shmget(2) under another uid and gid on the calling thread only, so a segment's creator
 *    and owner are the agent's segment owner and the channel's group, never root;
 *  - guarded file mappings, so a channel's memory file truncated under a reader becomes
 *    an error for that channel instead of a SIGBUS that kills the process;
 *  - a futex watcher: a thread that sleeps on several futex words at once (futex_waitv) and
 *    signals an eventfd when one changes, so a loop that sleeps in poll(2) on its sockets
 *    also wakes for a write into a ring.
 * Loaded by src/shm/native.ts, which checks SHIMMY_NATIVE_ABI at load.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include <linux/futex.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/shm.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define SHIMMY_NATIVE_ABI 6

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
  uint32_t creator_gid;
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
  out->creator_gid = ds.shm_perm.cgid;
  /* Permission bits plus SHM_DEST (01000): set once the segment is marked for removal. */
  out->mode = ds.shm_perm.mode & 01777;
  out->creator_pid = ds.shm_cpid;
  out->last_pid = ds.shm_lpid;
  return 0;
}

/*
 * shmget(key, size, IPC_CREAT | IPC_EXCL | mode) with the calling thread's effective uid and
 * gid set to uid and gid, so the kernel records them as the segment's creator (cuid, cgid)
 * and owner (uid, gid): the permission check matches a process against both, so a segment
 * made by root would be open to every root process in every hostIPC container. The raw
 * setresuid/setresgid syscalls change this thread's credentials only (glibc's wrappers
 * would change every thread's, and a mount on a worker would lose its capabilities
 * meanwhile). Needs CAP_SETUID and CAP_SETGID. Returns the id, or -errno; the thread's
 * credentials are restored either way (a failure to restore aborts: the thread would go on
 * as the wrong user).
 */
int shimmy_shm_create_as(int key, uint64_t size, int mode, uint32_t uid, uint32_t gid) {
  uid_t ruid, euid, suid;
  gid_t rgid, egid, sgid;
  if (getresuid(&ruid, &euid, &suid) < 0 || getresgid(&rgid, &egid, &sgid) < 0) return -errno;
  if (syscall(SYS_setresgid, -1, gid, -1) < 0) return -errno;
  if (syscall(SYS_setresuid, -1, uid, -1) < 0) {
    int err = errno;
    if (syscall(SYS_setresgid, -1, egid, -1) < 0) abort();
    return -err;
  }
  int id = shmget(key, size, IPC_CREAT | IPC_EXCL | (mode & 0777));
  int err = errno;
  if (syscall(SYS_setresuid, -1, euid, -1) < 0 || syscall(SYS_setresgid, -1, egid, -1) < 0) abort();
  return id < 0 ? -err : id;
}

/*
 * Guarded file mappings. Whoever may write a channel's memory file may also truncate it, and
 * touching a mapped page past the end of a file raises SIGBUS, which would kill the process.
 * A guarded range turns that fault into private zero pages over the whole range (the access
 * is retried and reads zeros, which the ring's readers reject as corrupt) and marks the range
 * tripped, so the channel reports it instead of crashing. A SIGBUS outside every guarded range
 * goes to the handler that was there before, or kills as it would have.
 */
#define SHIMMY_MAX_GUARDS 4096

static struct {
  _Atomic uintptr_t start;
  _Atomic size_t length;
  _Atomic int tripped;
} guards[SHIMMY_MAX_GUARDS];
static struct sigaction previous_sigbus;
static _Atomic int handler_installed;

static void on_sigbus(int sig, siginfo_t *info, void *context) {
  uintptr_t addr = (uintptr_t)info->si_addr;
  for (int i = 0; i < SHIMMY_MAX_GUARDS; i++) {
    size_t length = atomic_load(&guards[i].length);
    uintptr_t start = atomic_load(&guards[i].start);
    if (length == 0 || addr < start || addr >= start + length) continue;
    if (mmap((void *)start, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0) != MAP_FAILED) {
      atomic_store(&guards[i].tripped, 1);
      return;
    }
    break;
  }
  if (previous_sigbus.sa_flags & SA_SIGINFO) {
    previous_sigbus.sa_sigaction(sig, info, context);
  } else if (previous_sigbus.sa_handler != SIG_DFL && previous_sigbus.sa_handler != SIG_IGN) {
    previous_sigbus.sa_handler(sig);
  } else {
    signal(SIGBUS, SIG_DFL);
    raise(SIGBUS);
  }
}

/* Guards [addr, addr + length). Returns the guard's index, -ENOSPC when all are taken, or -errno. */
int shimmy_guard(void *addr, uint64_t length) {
  if (!atomic_exchange(&handler_installed, 1)) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGBUS, &sa, &previous_sigbus) < 0) {
      atomic_store(&handler_installed, 0);
      return -errno;
    }
  }
  for (int i = 0; i < SHIMMY_MAX_GUARDS; i++) {
    size_t none = 0;
    if (atomic_load(&guards[i].length) != 0) continue;
    atomic_store(&guards[i].start, (uintptr_t)addr);
    atomic_store(&guards[i].tripped, 0);
    if (atomic_compare_exchange_strong(&guards[i].length, &none, (size_t)length)) return i;
  }
  return -ENOSPC;
}

/* Whether the guarded range was hit by SIGBUS (its file shrank under it): 1 or 0. */
int shimmy_guard_tripped(int index) {
  if (index < 0 || index >= SHIMMY_MAX_GUARDS) return 0;
  return atomic_load(&guards[index].tripped);
}

/* Stops guarding; call before the range is unmapped. */
void shimmy_unguard(int index) {
  if (index < 0 || index >= SHIMMY_MAX_GUARDS) return;
  atomic_store(&guards[index].length, 0);
}

/* mount(2) without a filesystem type or data (bind mounts and remounts). Returns 0 or -errno. */
int shimmy_mount(const char *source, const char *target, uint64_t flags) {
  return mount(source, target, NULL, (unsigned long)flags, NULL) < 0 ? -errno : 0;
}

/* umount2(2). Returns 0 or -errno. */
int shimmy_umount(const char *target, int flags) {
  return umount2(target, flags) < 0 ? -errno : 0;
}

/*
 * The futex watcher. arm() hands it words and the values they had; its thread sleeps on all of
 * them and on a word of its own (futex_waitv), and writes to its eventfd once one of the
 * watched words changes (or already differs). disarm(), or the next arm(), ends a wait early
 * through its own word without a signal. The eventfd is for the caller's poll(2).
 */
#define SHIMMY_WATCH_MAX 64

typedef struct {
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int efd;
  _Atomic uint32_t gen; /* the thread's own futex word: bumped to end its wait */
  uint64_t seq;         /* counts arms: a wait that ends after another arm signals nothing */
  int armed;
  int stopping;
  int error; /* the errno of a futex_waitv that could not wait (ENOSYS before Linux 5.16, or a seccomp profile's EPERM) */
  int n;
  struct futex_waitv v[SHIMMY_WATCH_MAX + 1];
} shimmy_watcher;

static void *watch_loop(void *arg) {
  shimmy_watcher *w = arg;
  struct futex_waitv v[SHIMMY_WATCH_MAX + 1];
  pthread_mutex_lock(&w->mu);
  for (;;) {
    while (!w->armed && !w->stopping) pthread_cond_wait(&w->cv, &w->mu);
    if (w->stopping) break;
    uint64_t seq = w->seq;
    int n = w->n;
    memcpy(v, w->v, sizeof v[0] * (size_t)(n + 1));
    pthread_mutex_unlock(&w->mu);
    long rc = syscall(SYS_futex_waitv, v, n + 1, 0, NULL, CLOCK_MONOTONIC);
    int err = rc < 0 ? errno : 0;
    pthread_mutex_lock(&w->mu);
    if (!w->armed || w->seq != seq) continue;
    w->armed = 0;
    /* Woken through its own word: ended by the caller. A timeout cannot happen (none given). */
    if (rc == n) continue;
    if (rc >= 0 || err == EAGAIN || err == EFAULT) {
      uint64_t one = 1;
      if (write(w->efd, &one, sizeof one) < 0) { /* the counter is full: a signal is pending anyway */ }
    } else if (err != EINTR) {
      w->error = err;
    }
  }
  pthread_mutex_unlock(&w->mu);
  return NULL;
}

/* A watcher with its thread, or NULL with errno set. */
shimmy_watcher *shimmy_watcher_create(void) {
  shimmy_watcher *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (w->efd < 0) {
    free(w);
    return NULL;
  }
  pthread_mutex_init(&w->mu, NULL);
  pthread_cond_init(&w->cv, NULL);
  int rc = pthread_create(&w->thread, NULL, watch_loop, w);
  if (rc != 0) {
    close(w->efd);
    free(w);
    errno = rc;
    return NULL;
  }
  return w;
}

int shimmy_watcher_fd(shimmy_watcher *w) { return w->efd; }

/* 0, or the errno of a wait that failed: the watcher then never signals. */
int shimmy_watcher_error(shimmy_watcher *w) {
  pthread_mutex_lock(&w->mu);
  int err = w->error;
  pthread_mutex_unlock(&w->mu);
  return err;
}

/* Ends a wait in progress without a signal; holds the mutex. */
static void end_wait(shimmy_watcher *w) {
  atomic_fetch_add(&w->gen, 1);
  syscall(SYS_futex, &w->gen, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/*
 * Watches n words (shared memory: FUTEX_32 without the private flag) for a change from the
 * values given; the eventfd becomes readable once one changes. Returns 0, or -EINVAL.
 */
int shimmy_watcher_arm(shimmy_watcher *w, uint64_t *addrs, uint32_t *values, int n) {
  if (n < 0 || n > SHIMMY_WATCH_MAX) return -EINVAL;
  pthread_mutex_lock(&w->mu);
  end_wait(w);
  for (int i = 0; i < n; i++) w->v[i] = (struct futex_waitv){.val = values[i], .uaddr = addrs[i], .flags = FUTEX_32};
  w->v[n] = (struct futex_waitv){.val = atomic_load(&w->gen), .uaddr = (uintptr_t)&w->gen, .flags = FUTEX_32 | FUTEX_PRIVATE_FLAG};
  w->n = n;
  w->seq++;
  w->armed = 1;
  pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
  return 0;
}

/* Stops watching, and takes back a signal not yet read. */
void shimmy_watcher_disarm(shimmy_watcher *w) {
  pthread_mutex_lock(&w->mu);
  if (w->armed) {
    w->armed = 0;
    end_wait(w);
  }
  uint64_t count;
  if (read(w->efd, &count, sizeof count) < 0) { /* nothing was signalled */ }
  pthread_mutex_unlock(&w->mu);
}

void shimmy_watcher_destroy(shimmy_watcher *w) {
  if (!w) return;
  pthread_mutex_lock(&w->mu);
  w->stopping = 1;
  w->armed = 0;
  end_wait(w);
  pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
  pthread_join(w->thread, NULL);
  close(w->efd);
  pthread_mutex_destroy(&w->mu);
  pthread_cond_destroy(&w->cv);
  free(w);
}
