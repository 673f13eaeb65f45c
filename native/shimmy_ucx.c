/*
 * libshimmy_ucx: a message link between two hosts over UCX (UCP tag API), for replicating
 * channels between node agents. UCX picks RDMA (InfiniBand or RoCE verbs) where a device
 * exists and TCP otherwise, through the same calls; UCX_TLS and UCX_NET_DEVICES (or the
 * arguments of shimmy_ucx_create) restrict the choice.
 *
 * One shimmy_ucx is a UCP context and worker in single-thread mode: every call must come
 * from the same thread (the JavaScript side runs it on a worker thread of its own). Calls
 * block for at most their timeout, sleeping on the worker's event fd between progress
 * passes. Messages are tagged; a receive names the tag it takes (with a mask). Bodies
 * travel eager or by rendezvous as UCX decides by size: a large body goes straight into the
 * receiver's buffer (zero-copy RDMA where the transport has it).
 *
 * With a key (shimmy_ucx_set_key), every message sent ends in SHIMMY_UCX_MAC_BYTES: the
 * sender's salt, its message counter and an AES-256-GMAC tag (OpenSSL) over the message's tag
 * and body. Each shimmy_ucx draws a random 16-byte salt when its key is set and MACs under
 * HMAC-SHA256(key, label | salt) with the counter as nonce, so no two messages under one GMAC
 * key share a nonce, across processes and restarts too; a receiver derives the sender's GMAC
 * key from the salt the message carries (keeping the last MAX_PEERS). GMAC runs at several
 * times SHA-256's speed on AES-NI and carry-less multiply. A message received without a valid
 * MAC is taken and reported as -EBADMSG. A receive buffer then needs SHIMMY_UCX_MAC_BYTES of
 * room beyond the largest body, and lengths returned are the body's.
 *
 * Returns are 0 or a count, or -errno-like negatives: -ETIMEDOUT, -ECONNRESET (the peer's
 * endpoint failed), -EINVAL, -EMSGSIZE, -EBADMSG, -EIO (any other UCX status;
 * shimmy_ucx_last_error says which).
 * Loaded by src/replication/ucx.ts, which checks SHIMMY_UCX_ABI at load.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <ucp/api/ucp.h>

#define SHIMMY_UCX_ABI 8
#define SALT_BYTES 16
#define COUNTER_BYTES 8
#define GMAC_BYTES 16
#define SHIMMY_UCX_MAC_BYTES (SALT_BYTES + COUNTER_BYTES + GMAC_BYTES)
#define MAX_PEERS 64
#define MAX_PENDING 16
/* Sends in flight at once: a send copies its message and returns; the oldest must finish before a 17th starts. */
#define SEND_WINDOW 16
/* How long a wait polls before it sleeps on the event fd (a wake-up costs tens of microseconds). */
#define SPIN_NS 50000

int shimmy_ucx_abi_version(void) { return SHIMMY_UCX_ABI; }

typedef struct {
  ucp_ep_h ep; /* NULL once closed: the index may be given to a new peer */
  ucs_status_t failed; /* UCS_OK while healthy */
} peer_t;

typedef struct op op_t;

typedef struct {
  unsigned char salt[SALT_BYTES];
  EVP_CIPHER_CTX *ctx; /* NULL: unused */
} rx_key_t;

typedef struct {
  void *buf; /* this library's copy of the message; NULL once given up to UCX (see settle) */
  uint64_t cap;
  ucs_status_ptr_t request; /* NULL when the slot is free */
  op_t *op;
  int peer;
} send_slot_t;

typedef struct {
  ucp_context_h context;
  ucp_worker_h worker;
  ucp_listener_h listener;
  int efd;
  peer_t peers[MAX_PEERS];
  int npeers;
  ucp_conn_request_h pending[MAX_PENDING];
  int npending;
  /* Peers accepted while a connect waited, not yet handed out by accept or try_accept. */
  int accepted[MAX_PENDING];
  int naccepted;
  int connecting;
  send_slot_t slots[SEND_WINDOW];
  int next_slot;
  EVP_MAC_CTX *kdf; /* HMAC-SHA256 under the key; NULL: messages carry no MAC */
  EVP_CIPHER_CTX *tx; /* GMAC under this sender's derived key */
  unsigned char salt[SALT_BYTES];
  uint64_t counter;
  rx_key_t rx[MAX_PEERS]; /* senders' derived keys, by salt */
  int rx_next;
  char last_error[256];
} shimmy_ucx;

/*
 * One operation's completion, on the heap: an operation that outlives its call (cancelled but
 * not yet completed when its time is up) is orphaned, and its callback frees it later.
 */
struct op {
  int done;
  int orphaned;
  ucs_status_t status;
  uint64_t length;
  uint64_t tag;
};

/* Marks op complete; returns 0 when it was orphaned (and is now freed). */
static int op_complete(op_t *op, ucs_status_t status) {
  if (op->orphaned) {
    free(op);
    return 0;
  }
  op->status = status;
  op->done = 1;
  return 1;
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t now_ms(void) { return now_ns() / 1000000; }

static int fail_status(shimmy_ucx *u, const char *what, ucs_status_t status) {
  snprintf(u->last_error, sizeof u->last_error, "%s: %s", what, ucs_status_string(status));
  if (status == UCS_ERR_CONNECTION_RESET || status == UCS_ERR_ENDPOINT_TIMEOUT || status == UCS_ERR_UNREACHABLE) return -ECONNRESET;
  if (status == UCS_ERR_CANCELED) return -ETIMEDOUT;
  return -EIO;
}

const char *shimmy_ucx_last_error(shimmy_ucx *u) { return u->last_error; }

int shimmy_ucx_mac_bytes(void) { return SHIMMY_UCX_MAC_BYTES; }

/*
 * Progresses the worker, then sleeps on its event fd (and on also_fd, unless negative: a
 * libshimmy futex watcher's) for up to timeout_us unless something arrives: an idle loop's
 * wait that wakes at once for the network, or a write into a watched ring, and keeps a
 * transfer the peer started (a rendezvous) moving. No spin first, so an idle caller costs no CPU.
 */
int shimmy_ucx_wait(shimmy_ucx *u, int timeout_us, int also_fd) {
  int progressed = 0;
  while (ucp_worker_progress(u->worker)) progressed = 1;
  if (progressed) return 1;
  if (ucp_worker_arm(u->worker) == UCS_ERR_BUSY) return 1;
  struct pollfd pfd[2] = {{.fd = u->efd, .events = POLLIN}, {.fd = also_fd, .events = POLLIN}};
  struct timespec ts = {.tv_sec = timeout_us / 1000000, .tv_nsec = (long)(timeout_us % 1000000) * 1000};
  return ppoll(pfd, also_fd >= 0 ? 2 : 1, &ts, NULL) > 0;
}

static const char KDF_LABEL[] = "shimmy-ucx gmac key v1";

/* The GMAC key of the sender whose salt this is: HMAC-SHA256(key, label | salt), into ctx. */
static int derive(shimmy_ucx *u, const unsigned char salt[SALT_BYTES], EVP_CIPHER_CTX *ctx) {
  unsigned char subkey[32];
  size_t n = 0;
  /* A NULL key starts again from the key set (OpenSSL keeps its padded states). */
  int ok = EVP_MAC_init(u->kdf, NULL, 0, NULL) && EVP_MAC_update(u->kdf, (const unsigned char *)KDF_LABEL, sizeof KDF_LABEL - 1) &&
           EVP_MAC_update(u->kdf, salt, SALT_BYTES) && EVP_MAC_final(u->kdf, subkey, &n, sizeof subkey) && n == sizeof subkey &&
           EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, subkey, NULL);
  OPENSSL_cleanse(subkey, sizeof subkey);
  return ok ? 0 : -EIO;
}

static void free_keys(shimmy_ucx *u) {
  EVP_MAC_CTX_free(u->kdf);
  EVP_CIPHER_CTX_free(u->tx);
  u->kdf = NULL;
  u->tx = NULL;
  for (int i = 0; i < MAX_PEERS; i++) {
    EVP_CIPHER_CTX_free(u->rx[i].ctx);
    u->rx[i].ctx = NULL;
  }
}

/* From now on, every message sent carries a MAC under key, and every message received must. */
int shimmy_ucx_set_key(shimmy_ucx *u, const void *key, uint64_t len) {
  if (len < 32) return -EINVAL;
  free_keys(u);
  EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  if (!hmac) return snprintf(u->last_error, sizeof u->last_error, "OpenSSL has no HMAC"), -EIO;
  u->kdf = EVP_MAC_CTX_new(hmac);
  EVP_MAC_free(hmac);
  u->tx = EVP_CIPHER_CTX_new();
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_construct_end()};
  if (!u->kdf || !u->tx || !EVP_MAC_init(u->kdf, key, len, params) || RAND_bytes(u->salt, SALT_BYTES) != 1 || derive(u, u->salt, u->tx) != 0) {
    free_keys(u);
    return snprintf(u->last_error, sizeof u->last_error, "OpenSSL could not set up HMAC-SHA256 and AES-256-GMAC"), -EIO;
  }
  u->counter = 0;
  u->rx_next = 0;
  return 0;
}

/* The GMAC (under ctx, with the counter bytes as nonce) of a message: its tag, then its len bytes. */
static int gmac(EVP_CIPHER_CTX *ctx, const unsigned char counter[COUNTER_BYTES], uint64_t tag, const unsigned char *buf, uint64_t len,
                unsigned char out[GMAC_BYTES]) {
  unsigned char iv[12] = {0}, tag_bytes[8], none[16];
  memcpy(iv, counter, COUNTER_BYTES);
  for (int i = 0; i < 8; i++) tag_bytes[i] = (unsigned char)(tag >> (8 * i));
  int n;
  if (!EVP_EncryptInit_ex(ctx, NULL, NULL, NULL, iv) || !EVP_EncryptUpdate(ctx, NULL, &n, tag_bytes, 8)) return -EIO;
  /* All of it as additional data: nothing is encrypted. */
  for (uint64_t at = 0; at < len;) {
    int chunk = len - at > (1u << 30) ? (1 << 30) : (int)(len - at);
    if (!EVP_EncryptUpdate(ctx, NULL, &n, buf + at, chunk)) return -EIO;
    at += (uint64_t)chunk;
  }
  return EVP_EncryptFinal_ex(ctx, none, &n) && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, GMAC_BYTES, out) ? 0 : -EIO;
}

/* The trailer of a message sent (salt, counter, GMAC) into out. */
static int seal(shimmy_ucx *u, uint64_t tag, const void *buf, uint64_t len, unsigned char out[SHIMMY_UCX_MAC_BYTES]) {
  uint64_t c = u->counter++;
  memcpy(out, u->salt, SALT_BYTES);
  for (int i = 0; i < COUNTER_BYTES; i++) out[SALT_BYTES + i] = (unsigned char)(c >> (8 * i));
  return gmac(u->tx, out + SALT_BYTES, tag, buf, len, out + SALT_BYTES + COUNTER_BYTES);
}

/* The GMAC context of the sender whose salt this is (derived and kept, in turn with the others kept). */
static EVP_CIPHER_CTX *sender_key(shimmy_ucx *u, const unsigned char salt[SALT_BYTES]) {
  for (int i = 0; i < MAX_PEERS; i++)
    if (u->rx[i].ctx && memcmp(u->rx[i].salt, salt, SALT_BYTES) == 0) return u->rx[i].ctx;
  rx_key_t *k = &u->rx[u->rx_next];
  u->rx_next = (u->rx_next + 1) % MAX_PEERS;
  if (!k->ctx && !(k->ctx = EVP_CIPHER_CTX_new())) return NULL;
  memcpy(k->salt, salt, SALT_BYTES);
  if (derive(u, salt, k->ctx) != 0) {
    EVP_CIPHER_CTX_free(k->ctx);
    k->ctx = NULL;
  }
  return k->ctx;
}

/* A received message of total bytes in buf: its body's length, or -EBADMSG when its MAC is not valid. */
static int64_t checked(shimmy_ucx *u, uint64_t tag, const unsigned char *buf, uint64_t total) {
  if (!u->kdf) return (int64_t)total;
  unsigned char want[GMAC_BYTES];
  const unsigned char *trailer = total < SHIMMY_UCX_MAC_BYTES ? NULL : buf + total - SHIMMY_UCX_MAC_BYTES;
  EVP_CIPHER_CTX *ctx = trailer ? sender_key(u, trailer) : NULL;
  if (!ctx || gmac(ctx, trailer + SALT_BYTES, tag, buf, total - SHIMMY_UCX_MAC_BYTES, want) != 0 ||
      CRYPTO_memcmp(want, trailer + SALT_BYTES + COUNTER_BYTES, GMAC_BYTES) != 0) {
    snprintf(u->last_error, sizeof u->last_error, "a %llu-byte message under tag 0x%llx without a valid MAC (not sent with this key)", (unsigned long long)total,
             (unsigned long long)tag);
    return -EBADMSG;
  }
  return (int64_t)(total - SHIMMY_UCX_MAC_BYTES);
}

static void accept_while_connecting(shimmy_ucx *u);

/* One progress pass; sleeps on the event fd (up to until_ms) when there was nothing to do. */
static void progress_or_sleep(shimmy_ucx *u, int64_t until_ms) {
  if (u->connecting) accept_while_connecting(u);
  for (int64_t spin_until = now_ns() + SPIN_NS; now_ns() < spin_until;)
    if (ucp_worker_progress(u->worker)) return;
  ucs_status_t st = ucp_worker_arm(u->worker);
  if (st == UCS_ERR_BUSY) return;
  int64_t left = until_ms - now_ms();
  if (left <= 0) return;
  struct pollfd pfd = {.fd = u->efd, .events = POLLIN};
  poll(&pfd, 1, left > 100 ? 100 : (int)left);
}

static void on_ep_error(void *arg, ucp_ep_h ep, ucs_status_t status) {
  shimmy_ucx *u = arg;
  for (int i = 0; i < u->npeers; i++)
    if (u->peers[i].ep == ep && ep != NULL) u->peers[i].failed = status;
}

static void on_conn_request(ucp_conn_request_h request, void *arg) {
  shimmy_ucx *u = arg;
  if (u->npending < MAX_PENDING) u->pending[u->npending++] = request;
  else ucp_listener_reject(u->listener, request);
}

/* tls, devices: NULL or "" for UCX's own choice (and UCX_TLS / UCX_NET_DEVICES from the environment). */
int shimmy_ucx_create(shimmy_ucx **out, const char *tls, const char *devices) {
  shimmy_ucx *u = calloc(1, sizeof *u);
  if (!u) return -ENOMEM;
  ucp_config_t *config;
  ucs_status_t st = ucp_config_read(NULL, NULL, &config);
  if (st != UCS_OK) return free(u), -EIO;
  if (tls && *tls && ucp_config_modify(config, "TLS", tls) != UCS_OK) return ucp_config_release(config), free(u), -EINVAL;
  if (devices && *devices && ucp_config_modify(config, "NET_DEVICES", devices) != UCS_OK) return ucp_config_release(config), free(u), -EINVAL;
  ucp_params_t params = {
      .field_mask = UCP_PARAM_FIELD_FEATURES | UCP_PARAM_FIELD_NAME,
      .features = UCP_FEATURE_TAG | UCP_FEATURE_WAKEUP,
      .name = "shimmy",
  };
  st = ucp_init(&params, config, &u->context);
  ucp_config_release(config);
  /* Most often: none of the asked transports exists on any of the asked devices. */
  if (st != UCS_OK) return free(u), -ENODEV;
  ucp_worker_params_t wp = {.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE, .thread_mode = UCS_THREAD_MODE_SINGLE};
  st = ucp_worker_create(u->context, &wp, &u->worker);
  if (st == UCS_OK) st = ucp_worker_get_efd(u->worker, &u->efd);
  if (st != UCS_OK) {
    if (u->worker) ucp_worker_destroy(u->worker);
    ucp_cleanup(u->context);
    free(u);
    return -EIO;
  }
  *out = u;
  return 0;
}

/* Listens on ip:port (port 0: any); returns the port, or a negative. */
int shimmy_ucx_listen(shimmy_ucx *u, const char *ip, int port) {
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (inet_pton(AF_INET, ip, &addr.sin_addr) != 1) return -EINVAL;
  ucp_listener_params_t lp = {
      .field_mask = UCP_LISTENER_PARAM_FIELD_SOCK_ADDR | UCP_LISTENER_PARAM_FIELD_CONN_HANDLER,
      .sockaddr = {.addr = (const struct sockaddr *)&addr, .addrlen = sizeof addr},
      .conn_handler = {.cb = on_conn_request, .arg = u},
  };
  ucs_status_t st = ucp_listener_create(u->worker, &lp, &u->listener);
  if (st != UCS_OK) return fail_status(u, "ucp_listener_create", st);
  ucp_listener_attr_t attr = {.field_mask = UCP_LISTENER_ATTR_FIELD_SOCKADDR};
  st = ucp_listener_query(u->listener, &attr);
  if (st != UCS_OK) return fail_status(u, "ucp_listener_query", st);
  return ntohs(((struct sockaddr_in *)&attr.sockaddr)->sin_port);
}

static int add_peer(shimmy_ucx *u, ucp_ep_params_t *ep_params) {
  int index = 0;
  while (index < u->npeers && u->peers[index].ep != NULL) index++;
  if (index >= MAX_PEERS) return -ENOSPC;
  ep_params->field_mask |= UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE | UCP_EP_PARAM_FIELD_ERR_HANDLER;
  ep_params->err_mode = UCP_ERR_HANDLING_MODE_PEER;
  ep_params->err_handler.cb = on_ep_error;
  ep_params->err_handler.arg = u;
  peer_t *p = &u->peers[index];
  ucp_ep_h ep = NULL;
  ucs_status_t st = ucp_ep_create(u->worker, ep_params, &ep);
  if (st != UCS_OK) return fail_status(u, "ucp_ep_create", st);
  p->ep = ep;
  p->failed = UCS_OK;
  if (index == u->npeers) u->npeers++;
  return index;
}

/* A peer accepted while a connect waited, if any: its index, handed out once. */
static int take_accepted(shimmy_ucx *u) {
  if (u->naccepted == 0) return -EAGAIN;
  int index = u->accepted[0];
  memmove(u->accepted, u->accepted + 1, (size_t)(--u->naccepted) * sizeof u->accepted[0]);
  return index;
}

/*
 * Two peers that connect to each other at once each wait for the other to accept: a connect
 * accepts the requests that arrive meanwhile, and accept or try_accept hands them out later.
 */
static void accept_while_connecting(shimmy_ucx *u) {
  while (u->npending > 0 && u->naccepted < MAX_PENDING) {
    ucp_conn_request_h request = u->pending[0];
    memmove(u->pending, u->pending + 1, (size_t)(--u->npending) * sizeof u->pending[0]);
    ucp_ep_params_t ep = {.field_mask = UCP_EP_PARAM_FIELD_CONN_REQUEST, .conn_request = request};
    int index = add_peer(u, &ep);
    if (index >= 0) u->accepted[u->naccepted++] = index;
    else ucp_listener_reject(u->listener, request);
  }
}

/* Waits for a connection request and makes its endpoint; returns the peer index. */
int shimmy_ucx_accept(shimmy_ucx *u, int timeout_ms) {
  if (u->naccepted > 0) return take_accepted(u);
  int64_t until = now_ms() + timeout_ms;
  while (u->npending == 0) {
    if (now_ms() >= until) return -ETIMEDOUT;
    progress_or_sleep(u, until);
  }
  ucp_conn_request_h request = u->pending[0];
  memmove(u->pending, u->pending + 1, (size_t)(--u->npending) * sizeof u->pending[0]);
  ucp_ep_params_t ep = {.field_mask = UCP_EP_PARAM_FIELD_CONN_REQUEST, .conn_request = request};
  return add_peer(u, &ep);
}

/* Makes the endpoint of a connection request that has arrived, if any: the peer index, or -EAGAIN without waiting. */
int shimmy_ucx_try_accept(shimmy_ucx *u) {
  if (u->naccepted > 0) return take_accepted(u);
  if (u->npending == 0) ucp_worker_progress(u->worker);
  if (u->npending == 0) return -EAGAIN;
  ucp_conn_request_h request = u->pending[0];
  memmove(u->pending, u->pending + 1, (size_t)(--u->npending) * sizeof u->pending[0]);
  ucp_ep_params_t ep = {.field_mask = UCP_EP_PARAM_FIELD_CONN_REQUEST, .conn_request = request};
  return add_peer(u, &ep);
}

/* 0 while a peer's endpoint is healthy, the -errno of its failure otherwise (-EINVAL: no such peer). */
int shimmy_ucx_peer_status(shimmy_ucx *u, int peer) {
  if (peer < 0 || peer >= u->npeers || u->peers[peer].ep == NULL) return -EINVAL;
  ucp_worker_progress(u->worker);
  return u->peers[peer].failed == UCS_OK ? 0 : fail_status(u, "peer", u->peers[peer].failed);
}

static void on_flushed(void *request, ucs_status_t status, void *user_data) {
  (void)request;
  op_complete(user_data, status);
}

/*
 * Completes a non-blocking operation: waits up to until_ms, then cancels it and waits up to a
 * second more; one that still has not completed is left to UCX (orphaned). Copies the
 * completion into *out and frees op otherwise.
 */
static ucs_status_t finish(shimmy_ucx *u, ucs_status_ptr_t request, op_t *op, int64_t until, op_t *out) {
  if (request == NULL || UCS_PTR_IS_ERR(request)) {
    free(op);
    return request == NULL ? UCS_OK : UCS_PTR_STATUS(request);
  }
  while (!op->done && now_ms() < until) progress_or_sleep(u, until);
  if (!op->done) {
    ucp_request_cancel(u->worker, request);
    int64_t grace = now_ms() + 1000;
    while (!op->done && now_ms() < grace) progress_or_sleep(u, grace);
  }
  ucp_request_free(request);
  if (!op->done) {
    op->orphaned = 1;
    return UCS_ERR_TIMED_OUT;
  }
  ucs_status_t st = op->status;
  if (out) *out = *op;
  free(op);
  return st;
}

int shimmy_ucx_close_peer(shimmy_ucx *u, int peer, int timeout_ms);

#define NEW_OP(op)                 \
  op_t *op = calloc(1, sizeof *op); \
  if (!op) return -ENOMEM

/* Connects to ip:port and waits until the endpoint is wired up (a flush); returns the peer index. */
int shimmy_ucx_connect(shimmy_ucx *u, const char *ip, int port, int timeout_ms) {
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  if (inet_pton(AF_INET, ip, &addr.sin_addr) != 1) return -EINVAL;
  ucp_ep_params_t ep = {
      .field_mask = UCP_EP_PARAM_FIELD_FLAGS | UCP_EP_PARAM_FIELD_SOCK_ADDR,
      .flags = UCP_EP_PARAMS_FLAGS_CLIENT_SERVER,
      .sockaddr = {.addr = (const struct sockaddr *)&addr, .addrlen = sizeof addr},
  };
  int index = add_peer(u, &ep);
  if (index < 0) return index;
  NEW_OP(op);
  ucp_request_param_t rp = {.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA, .cb.send = on_flushed, .user_data = op};
  u->connecting = 1;
  ucs_status_t st = finish(u, ucp_ep_flush_nbx(u->peers[index].ep, &rp), op, now_ms() + timeout_ms, NULL);
  u->connecting = 0;
  if (st == UCS_OK && u->peers[index].failed != UCS_OK) st = u->peers[index].failed;
  if (st == UCS_OK) return index;
  /* A failed connect gives its index back, so a peer can be retried for as long as it takes. */
  u->peers[index].failed = st;
  char why[sizeof u->last_error];
  int rc = fail_status(u, "connect", st);
  memcpy(why, u->last_error, sizeof why);
  shimmy_ucx_close_peer(u, index, 1000);
  memcpy(u->last_error, why, sizeof why);
  return rc;
}

static void on_sent(void *request, ucs_status_t status, void *user_data) {
  (void)request;
  op_complete(user_data, status);
}

/*
 * Waits for a slot's send to finish (up to until_ms). A send that failed marks its peer
 * failed, so the next send to it says so. A send given up to UCX (not finished even after
 * its cancel) keeps its buffer: the slot gets a new one.
 */
static ucs_status_t settle(shimmy_ucx *u, send_slot_t *s, int64_t until) {
  if (!s->request) return UCS_OK;
  ucs_status_t st = finish(u, s->request, s->op, until, NULL);
  s->request = NULL;
  s->op = NULL;
  if (st == UCS_ERR_TIMED_OUT) {
    s->buf = NULL;
    s->cap = 0;
  }
  if (st != UCS_OK && u->peers[s->peer].failed == UCS_OK) u->peers[s->peer].failed = st;
  return st;
}

/*
 * Sends len bytes tagged `tag` to a peer: copies them and returns, up to SEND_WINDOW sends in
 * flight (the oldest must finish, within timeout_ms, before another starts); messages to one
 * peer keep their order. A failure shows on a later send to that peer, or on flush.
 */
int shimmy_ucx_send(shimmy_ucx *u, int peer, uint64_t tag, const void *buf, uint64_t len, int timeout_ms) {
  if (peer < 0 || peer >= u->npeers || u->peers[peer].ep == NULL) return -EINVAL;
  send_slot_t *s = &u->slots[u->next_slot];
  /* An earlier send that failed marks its own peer failed (settle); it fails this one only if it went to this peer. */
  settle(u, s, now_ms() + timeout_ms);
  if (u->peers[peer].failed != UCS_OK) return fail_status(u, "peer", u->peers[peer].failed);
  uint64_t total = len + (u->kdf ? SHIMMY_UCX_MAC_BYTES : 0);
  if (s->cap < total || !s->buf) {
    free(s->buf);
    s->buf = malloc(total ? total : 1);
    s->cap = s->buf ? total : 0;
    if (!s->buf) return -ENOMEM;
  }
  memcpy(s->buf, buf, len);
  if (u->kdf && seal(u, tag, buf, len, (unsigned char *)s->buf + len) != 0)
    return snprintf(u->last_error, sizeof u->last_error, "OpenSSL could not compute a MAC"), -EIO;
  NEW_OP(op);
  ucp_request_param_t rp = {.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA, .cb.send = on_sent, .user_data = op};
  ucs_status_ptr_t request = ucp_tag_send_nbx(u->peers[peer].ep, s->buf, total, tag, &rp);
  if (request == NULL || UCS_PTR_IS_ERR(request)) {
    free(op);
    return request == NULL ? 0 : fail_status(u, "ucp_tag_send_nbx", UCS_PTR_STATUS(request));
  }
  s->request = request;
  s->op = op;
  s->peer = peer;
  u->next_slot = (u->next_slot + 1) % SEND_WINDOW;
  return 0;
}

/* Waits (up to timeout_ms) until every send in flight has finished; returns the first failure. */
int shimmy_ucx_flush(shimmy_ucx *u, int timeout_ms) {
  int64_t until = now_ms() + timeout_ms;
  ucs_status_t first = UCS_OK;
  for (int i = 0; i < SEND_WINDOW; i++) {
    ucs_status_t st = settle(u, &u->slots[(u->next_slot + i) % SEND_WINDOW], until);
    if (first == UCS_OK) first = st;
  }
  return first == UCS_OK ? 0 : fail_status(u, "a send", first);
}

static void on_received(void *request, ucs_status_t status, const ucp_tag_recv_info_t *info, void *user_data) {
  (void)request;
  op_t *op = user_data;
  if (status == UCS_OK && !op->orphaned) {
    op->length = info->length;
    op->tag = info->sender_tag;
  }
  op_complete(op, status);
}

/*
 * A receive's parameters: it completes through on_received into op, never at once (a message
 * already there would complete without its length in UCX 1.13).
 */
static ucp_request_param_t recv_param(op_t *op) {
  return (ucp_request_param_t){
      .op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA | UCP_OP_ATTR_FLAG_NO_IMM_CMPL,
      .cb.recv = on_received,
      .user_data = op,
  };
}

/* Receives one message whose tag matches (tag & mask) into buf; returns its length and sets *sender_tag. */
int64_t shimmy_ucx_recv(shimmy_ucx *u, uint64_t tag, uint64_t mask, void *buf, uint64_t cap, int timeout_ms, uint64_t *sender_tag) {
  NEW_OP(op);
  op_t done = {0};
  ucp_request_param_t rp = recv_param(op);
  ucs_status_t st = finish(u, ucp_tag_recv_nbx(u->worker, buf, cap, tag, mask, &rp), op, now_ms() + timeout_ms, &done);
  if (st == UCS_ERR_MESSAGE_TRUNCATED) {
    snprintf(u->last_error, sizeof u->last_error, "a message longer than the %llu-byte buffer", (unsigned long long)cap);
    return -EMSGSIZE;
  }
  if (st != UCS_OK) return fail_status(u, "ucp_tag_recv_nbx", st);
  *sender_tag = done.tag;
  return checked(u, done.tag, buf, done.length);
}

/*
 * Receives one message whose tag matches, if one has arrived (one progress pass, then a
 * probe): its length, with *sender_tag set, or -EAGAIN when there is none. A message found
 * is then received in full (a large one may need its rendezvous: up to timeout_ms).
 */
int64_t shimmy_ucx_try_recv(shimmy_ucx *u, uint64_t tag, uint64_t mask, void *buf, uint64_t cap, int timeout_ms, uint64_t *sender_tag) {
  ucp_worker_progress(u->worker);
  ucp_tag_recv_info_t info;
  ucp_tag_message_h message = ucp_tag_probe_nb(u->worker, tag, mask, 1, &info);
  if (message == NULL) return -EAGAIN;
  if (info.length > cap) {
    snprintf(u->last_error, sizeof u->last_error, "a %llu-byte message, longer than the %llu-byte buffer", (unsigned long long)info.length,
             (unsigned long long)cap);
    /* Received into nothing would lose its place in the order: take it into a scratch buffer and report it. */
    void *scratch = malloc(info.length ? info.length : 1);
    if (scratch) {
      NEW_OP(op);
      ucp_request_param_t rp = recv_param(op);
      finish(u, ucp_tag_msg_recv_nbx(u->worker, scratch, info.length, message, &rp), op, now_ms() + timeout_ms, NULL);
      free(scratch);
    }
    return -EMSGSIZE;
  }
  NEW_OP(op);
  op_t done = {0};
  ucp_request_param_t rp = recv_param(op);
  ucs_status_t st = finish(u, ucp_tag_msg_recv_nbx(u->worker, buf, cap, message, &rp), op, now_ms() + timeout_ms, &done);
  if (st != UCS_OK) return fail_status(u, "ucp_tag_msg_recv_nbx", st);
  *sender_tag = info.sender_tag;
  return checked(u, info.sender_tag, buf, info.length);
}

/*
 * Closes one peer's endpoint (at once, without flushing, when it failed) and frees its index
 * for a later peer. Its sends in flight end first (up to timeout_ms), whatever their outcome.
 */
int shimmy_ucx_close_peer(shimmy_ucx *u, int peer, int timeout_ms) {
  if (peer < 0 || peer >= u->npeers || u->peers[peer].ep == NULL) return -EINVAL;
  int64_t until = now_ms() + timeout_ms;
  NEW_OP(op);
  ucp_request_param_t rp = {
      .op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS | UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA,
      .flags = u->peers[peer].failed == UCS_OK ? 0 : UCP_EP_CLOSE_FLAG_FORCE,
      .cb.send = on_flushed,
      .user_data = op,
  };
  ucs_status_t st = finish(u, ucp_ep_close_nbx(u->peers[peer].ep, &rp), op, until, NULL);
  for (int i = 0; i < SEND_WINDOW; i++) {
    send_slot_t *s = &u->slots[i];
    if (s->request && s->peer == peer) {
      ucs_status_t failed = u->peers[peer].failed;
      settle(u, s, now_ms() + 1000);
      u->peers[peer].failed = failed;
    }
  }
  u->peers[peer].ep = NULL;
  u->peers[peer].failed = UCS_ERR_NOT_CONNECTED;
  return st == UCS_OK || st == UCS_ERR_CANCELED || st == UCS_ERR_CONNECTION_RESET || st == UCS_ERR_ENDPOINT_TIMEOUT ? 0 : fail_status(u, "closing a peer", st);
}

/* The transports a peer's endpoint uses, as UCX prints them (ucp_ep_print_info), into out. */
int shimmy_ucx_describe(shimmy_ucx *u, int peer, char *out, int cap) {
  if (peer < 0 || peer >= u->npeers || u->peers[peer].ep == NULL || cap <= 0) return -EINVAL;
  char *text = NULL;
  size_t size = 0;
  FILE *stream = open_memstream(&text, &size);
  if (!stream) return -ENOMEM;
  ucp_ep_print_info(u->peers[peer].ep, stream);
  fclose(stream);
  snprintf(out, (size_t)cap, "%s", text ? text : "");
  free(text);
  return (int)(size < (size_t)cap ? size : (size_t)cap - 1);
}

/* Closes every endpoint (flushing what was sent), the listener, the worker and the context. */
void shimmy_ucx_destroy(shimmy_ucx *u, int timeout_ms) {
  if (!u) return;
  int64_t until = now_ms() + timeout_ms;
  for (int i = 0; i < SEND_WINDOW; i++) settle(u, &u->slots[i], until);
  for (int i = 0; i < u->npeers; i++) {
    if (u->peers[i].ep == NULL) continue;
    op_t *op = calloc(1, sizeof *op);
    if (!op) break;
    ucp_request_param_t rp = {
        .op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS | UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA,
        .flags = u->peers[i].failed == UCS_OK ? 0 : UCP_EP_CLOSE_FLAG_FORCE,
        .cb.send = on_flushed,
        .user_data = op,
    };
    finish(u, ucp_ep_close_nbx(u->peers[i].ep, &rp), op, until, NULL);
  }
  for (int i = 0; i < u->npending; i++) ucp_listener_reject(u->listener, u->pending[i]);
  if (u->listener) ucp_listener_destroy(u->listener);
  ucp_worker_destroy(u->worker);
  ucp_cleanup(u->context);
  for (int i = 0; i < SEND_WINDOW; i++) free(u->slots[i].buf);
  free_keys(u);
  free(u);
}
