// The native addon: thin syscall wrappers (bpf, perf_event_open, ioctl, mmap/munmap, close,
// rlimits) and descriptor readiness through uv_poll on Node's own loop. All policy lives in TS.
//
// Errors on the syscall paths come back as a negative errno number, never as an exception:
// map lookups go through bpf() at high rates and a missing key (ENOENT) is an ordinary answer.
// Exceptions are thrown only for programming errors (wrong argument types).

#define NAPI_VERSION 8
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <node_api.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <uv.h>

#define CHECK(call)                                                                                \
  do {                                                                                             \
    if ((call) != napi_ok) return NULL;                                                            \
  } while (0)

static napi_value throw_type(napi_env env, const char *msg) {
  napi_throw_type_error(env, "ERR_EBPF_NATIVE_ARG", msg);
  return NULL;
}

static napi_value make_int(napi_env env, int64_t v) {
  napi_value r;
  if (napi_create_int64(env, v, &r) != napi_ok) return NULL;
  return r;
}

static napi_value errno_result(napi_env env) { return make_int(env, -(int64_t)errno); }

// Any of Uint8Array (or other typed array), DataView or ArrayBuffer, resolved to its bytes.
static int get_bytes(napi_env env, napi_value v, void **data, size_t *len) {
  napi_typedarray_type type;
  size_t count;
  if (napi_get_typedarray_info(env, v, &type, &count, data, NULL, NULL) == napi_ok) {
    size_t elem = 1;
    switch (type) {
    case napi_int16_array:
    case napi_uint16_array:
      elem = 2;
      break;
    case napi_int32_array:
    case napi_uint32_array:
    case napi_float32_array:
      elem = 4;
      break;
    case napi_float64_array:
    case napi_bigint64_array:
    case napi_biguint64_array:
      elem = 8;
      break;
    default:
      break;
    }
    *len = count * elem;
    return 1;
  }
  if (napi_get_dataview_info(env, v, len, data, NULL, NULL) == napi_ok) return 1;
  if (napi_get_arraybuffer_info(env, v, data, len) == napi_ok) return 1;
  return 0;
}

static int get_i64(napi_env env, napi_value v, int64_t *out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return 0;
  if (t == napi_number) return napi_get_value_int64(env, v, out) == napi_ok;
  if (t == napi_bigint) {
    bool lossless;
    return napi_get_value_bigint_int64(env, v, out, &lossless) == napi_ok;
  }
  return 0;
}

static int get_u64(napi_env env, napi_value v, uint64_t *out) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return 0;
  if (t == napi_bigint) {
    bool lossless;
    return napi_get_value_bigint_uint64(env, v, out, &lossless) == napi_ok;
  }
  int64_t s;
  if (t == napi_number && napi_get_value_int64(env, v, &s) == napi_ok) {
    *out = (uint64_t)s;
    return 1;
  }
  return 0;
}

// bpf(2), or -1 with errno. Two commands stop when the kernel finds a signal pending for the
// calling thread (signal_pending(), which also counts task work queued on it to run as if on a
// signal): the verifier of BPF_PROG_LOAD with EAGAIN (it starts over when retried), and
// BPF_PROG_TEST_RUN between repetitions with EINTR, after some of them ran (a retry would run
// those again). On Node 24, not on Node 20, a test run of 50 repetitions on the main thread right
// after another process changed that thread's CPU affinity (taskset -pc) stopped with EINTR in 2
// to 5 tries of 40; in the tests it did so with SIGCHLD, SIGPROF and SIGWINCH blocked for the
// call and no signal near it in strace's view. The same runs on a new thread that blocks every
// signal never stopped. What the kernel found pending is not known.
//
// So a test run of more than one repetition runs on a thread of its own (bpf_call_apart) that
// submits nothing and blocks every signal, and a program load the kernel cut short is tried
// once more there. Other calls stay on the calling thread, where SIGPROF (a sampling profiler:
// node --cpu-prof sends it every millisecond), SIGCHLD (a child process exiting) and SIGWINCH (a
// terminal resized) are held back for the length of a load or a single test run and arrive as
// it returns.
typedef struct {
  int cmd;
  void *attr;
  unsigned int size;
  long result;
  int err;
} bpf_apart;

static void *bpf_apart_run(void *p) {
  bpf_apart *a = p;
  a->result = syscall(__NR_bpf, a->cmd, a->attr, a->size);
  a->err = errno;
  return NULL;
}

// The command on a new thread, waited for: it inherits the caller's CPU affinity (a test run's
// per-CPU effects land where the caller is pinned) and, set here around its creation, a mask of
// every signal, so signals go to the process's other threads; their default actions (SIGINT
// ending the process) still apply. Returns 0 when no thread could be made: call it directly.
static int bpf_call_apart(int cmd, void *attr, unsigned int size, long *result) {
  sigset_t all, saved;
  sigfillset(&all);
  if (pthread_sigmask(SIG_SETMASK, &all, &saved) != 0) return 0;
  bpf_apart a = {cmd, attr, size, -1, 0};
  pthread_t t;
  int made = pthread_create(&t, NULL, bpf_apart_run, &a) == 0;
  pthread_sigmask(SIG_SETMASK, &saved, NULL);
  if (!made) return 0;
  pthread_join(t, NULL);
  *result = a.result;
  errno = a.err;
  return 1;
}

static long bpf_call(int cmd, void *attr, unsigned int size) {
  long r;
  if (cmd == BPF_PROG_TEST_RUN && size >= offsetof(union bpf_attr, test.repeat) + sizeof(__u32) &&
      ((union bpf_attr *)attr)->test.repeat > 1 && bpf_call_apart(cmd, attr, size, &r))
    return r;
  sigset_t routine, saved;
  int hold = cmd == BPF_PROG_LOAD || cmd == BPF_PROG_TEST_RUN;
  if (hold) {
    sigemptyset(&routine);
    sigaddset(&routine, SIGPROF);
    sigaddset(&routine, SIGCHLD);
    sigaddset(&routine, SIGWINCH);
    hold = pthread_sigmask(SIG_BLOCK, &routine, &saved) == 0;
  }
  r = syscall(__NR_bpf, cmd, attr, size);
  int err = errno;
  if (hold) pthread_sigmask(SIG_SETMASK, &saved, NULL);
  errno = err;
  if (cmd == BPF_PROG_LOAD && r < 0 && (err == EAGAIN || err == EINTR)) {
    long again;
    if (bpf_call_apart(cmd, attr, size, &again)) return again;
    errno = err;
  }
  return r;
}

// bpf(cmd, attr[, off0, buf0, off1, buf1, ...]) -> result or -errno.
// Each (offset, buffer) pair stores the buffer's address as a u64 into attr at offset first, so
// one call carries key/value pointers and the buffers stay alive as arguments across the syscall.
#define BPF_MAX_ARGS 18
static napi_value js_bpf(napi_env env, napi_callback_info info) {
  size_t argc = BPF_MAX_ARGS;
  napi_value argv[BPF_MAX_ARGS];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2 || argc % 2 != 0) return throw_type(env, "bpf(cmd, attr[, offset, buffer]...)");
  int32_t cmd;
  if (napi_get_value_int32(env, argv[0], &cmd) != napi_ok) return throw_type(env, "bpf: cmd must be a number");
  void *attr;
  size_t size;
  if (!get_bytes(env, argv[1], &attr, &size)) return throw_type(env, "bpf: attr must be a buffer");
  for (size_t i = 2; i < argc; i += 2) {
    uint32_t off;
    if (napi_get_value_uint32(env, argv[i], &off) != napi_ok || (size_t)off + 8 > size)
      return throw_type(env, "bpf: pointer offset outside attr");
    uint64_t addr = 0;
    napi_valuetype t;
    CHECK(napi_typeof(env, argv[i + 1], &t));
    if (t != napi_null && t != napi_undefined) {
      void *p;
      size_t n;
      if (!get_bytes(env, argv[i + 1], &p, &n)) return throw_type(env, "bpf: pointer argument must be a buffer");
      addr = (uint64_t)(uintptr_t)p;
    }
    memcpy((char *)attr + off, &addr, 8);
  }
  long r = bpf_call(cmd, attr, (unsigned int)size);
  return r < 0 ? errno_result(env) : make_int(env, r);
}

// bpfAsync(cmd, attr[, off0, buf0, ...]) -> Promise<result or -errno>: bpf() as bpf() above, on
// a libuv pool thread, for the slow commands (BPF_PROG_LOAD can verify for seconds). The attr
// and every buffer are referenced until the call completes; the caller must leave them alone.
typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref refs[BPF_MAX_ARGS / 2];
  size_t nrefs;
  int cmd;
  void *attr;
  unsigned int size;
  long result;
} bpf_job;

static void bpf_job_execute(napi_env env, void *data) {
  (void)env;
  bpf_job *j = data;
  long r = bpf_call(j->cmd, j->attr, j->size);
  j->result = r < 0 ? -(long)errno : r;
}

static void bpf_job_complete(napi_env env, napi_status status, void *data) {
  bpf_job *j = data;
  napi_value v;
  if (status == napi_ok && napi_create_int64(env, j->result, &v) == napi_ok) {
    napi_resolve_deferred(env, j->deferred, v);
  } else {
    napi_value msg, err;
    napi_create_string_utf8(env, "bpfAsync: the call was cancelled", NAPI_AUTO_LENGTH, &msg);
    napi_create_error(env, NULL, msg, &err);
    napi_reject_deferred(env, j->deferred, err);
  }
  for (size_t i = 0; i < j->nrefs; i++) napi_delete_reference(env, j->refs[i]);
  napi_delete_async_work(env, j->work);
  free(j);
}

static napi_value js_bpf_async(napi_env env, napi_callback_info info) {
  size_t argc = BPF_MAX_ARGS;
  napi_value argv[BPF_MAX_ARGS];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2 || argc % 2 != 0) return throw_type(env, "bpfAsync(cmd, attr[, offset, buffer]...)");
  int32_t cmd;
  if (napi_get_value_int32(env, argv[0], &cmd) != napi_ok) return throw_type(env, "bpfAsync: cmd must be a number");
  void *attr;
  size_t size;
  if (!get_bytes(env, argv[1], &attr, &size)) return throw_type(env, "bpfAsync: attr must be a buffer");
  // Check everything before anything is referenced, so a bad argument leaks nothing.
  for (size_t i = 2; i < argc; i += 2) {
    uint32_t off;
    napi_valuetype t;
    if (napi_get_value_uint32(env, argv[i], &off) != napi_ok || (size_t)off + 8 > size)
      return throw_type(env, "bpfAsync: pointer offset outside attr");
    CHECK(napi_typeof(env, argv[i + 1], &t));
    void *p;
    size_t n;
    if (t != napi_null && t != napi_undefined && !get_bytes(env, argv[i + 1], &p, &n))
      return throw_type(env, "bpfAsync: pointer argument must be a buffer");
  }
  bpf_job *j = calloc(1, sizeof(*j));
  if (!j) return throw_type(env, "bpfAsync: out of memory");
  j->cmd = cmd;
  j->attr = attr;
  j->size = (unsigned int)size;
  napi_value promise, name;
  if (napi_create_reference(env, argv[1], 1, &j->refs[j->nrefs]) == napi_ok) j->nrefs++;
  for (size_t i = 2; i < argc; i += 2) {
    uint32_t off;
    napi_get_value_uint32(env, argv[i], &off);
    uint64_t addr = 0;
    napi_valuetype t;
    napi_typeof(env, argv[i + 1], &t);
    if (t != napi_null && t != napi_undefined) {
      void *p;
      size_t n;
      get_bytes(env, argv[i + 1], &p, &n);
      addr = (uint64_t)(uintptr_t)p;
      if (napi_create_reference(env, argv[i + 1], 1, &j->refs[j->nrefs]) == napi_ok) j->nrefs++;
    }
    memcpy((char *)attr + off, &addr, 8);
  }
  if (napi_create_promise(env, &j->deferred, &promise) != napi_ok ||
      napi_create_string_utf8(env, "ebpf:bpf", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, bpf_job_execute, bpf_job_complete, j, &j->work) != napi_ok ||
      napi_queue_async_work(env, j->work) != napi_ok) {
    for (size_t i = 0; i < j->nrefs; i++) napi_delete_reference(env, j->refs[i]);
    if (j->work) napi_delete_async_work(env, j->work);
    free(j);
    return NULL;
  }
  return promise;
}

// bpfElem(cmd, mapFd, key, value[, flags]) -> result or -errno, for the map element commands
// (lookup, update, delete, next key, lookup-and-delete, freeze): key and value are buffers or
// null, flags a number or bigint. The attr is built here from the uapi union instead of being
// marshalled through bpf(): these calls run at high rates, and the generic path's extra N-API
// calls are a measurable part of each (bench/map-ops.ts).
static napi_value js_bpf_elem(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t cmd;
  uint32_t fd;
  uint64_t flags = 0;
  if (argc < 4 || napi_get_value_int32(env, argv[0], &cmd) != napi_ok ||
      napi_get_value_uint32(env, argv[1], &fd) != napi_ok || (argc > 4 && !get_u64(env, argv[4], &flags)))
    return throw_type(env, "bpfElem(cmd, mapFd, key, value[, flags])");
  void *ptr[2] = {NULL, NULL};
  for (int i = 0; i < 2; i++) {
    size_t n;
    if (get_bytes(env, argv[2 + i], &ptr[i], &n)) continue;
    napi_valuetype t;
    CHECK(napi_typeof(env, argv[2 + i], &t));
    if (t != napi_null && t != napi_undefined) return throw_type(env, "bpfElem: key and value must be buffers or null");
    ptr[i] = NULL;
  }
  // Only the element commands' part of the attr (map_fd to flags, 32 bytes) is passed, as libbpf
  // does: the kernel zeroes the rest, and copies and clears less than for the whole union.
  union bpf_attr attr;
  const size_t size = offsetof(union bpf_attr, flags) + sizeof(attr.flags);
  memset(&attr, 0, size);
  attr.map_fd = fd;
  attr.key = (uint64_t)(uintptr_t)ptr[0];
  attr.value = (uint64_t)(uintptr_t)ptr[1];
  attr.flags = flags;
  long r = syscall(__NR_bpf, cmd, &attr, (unsigned int)size);
  napi_value out;
  // Results here are 0 or -errno: an int32 is made without the double a general number takes.
  if (napi_create_int32(env, r < 0 ? -errno : (int32_t)r, &out) != napi_ok) return NULL;
  return out;
}

// bpfElemAt(cmd, block) -> result or -errno: the element commands with an attr the caller keeps
// prepared at the start of `block` (an ArrayBuffer: map_fd, key, value, flags; 32 bytes), whose
// key and value pointers usually point into the same block. One argument to resolve instead of
// bpfElem's four: a typed lookup or update spends a good part of its time on the way in.
#define ELEM_ATTR_SIZE (offsetof(union bpf_attr, flags) + sizeof(((union bpf_attr *)0)->flags))
static napi_value js_bpf_elem_at(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t cmd;
  void *attr;
  size_t size;
  if (argc < 2 || napi_get_value_int32(env, argv[0], &cmd) != napi_ok ||
      napi_get_arraybuffer_info(env, argv[1], &attr, &size) != napi_ok || size < ELEM_ATTR_SIZE ||
      ((uintptr_t)attr & 7) != 0)
    return throw_type(env, "bpfElemAt(cmd, block: an 8-aligned ArrayBuffer of at least 32 bytes)");
  long r = syscall(__NR_bpf, cmd, attr, (unsigned int)ELEM_ATTR_SIZE);
  napi_value out;
  if (napi_create_int32(env, r < 0 ? -errno : (int32_t)r, &out) != napi_ok) return NULL;
  return out;
}

// addressOf(buffer) -> bigint: the address of the first byte, for pointer fields in attrs
// and info structs. The caller keeps the buffer alive for as long as the kernel may use it.
static napi_value js_address_of(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *p;
  size_t n;
  if (argc < 1 || !get_bytes(env, argv[0], &p, &n)) return throw_type(env, "addressOf(buffer)");
  napi_value r;
  CHECK(napi_create_bigint_uint64(env, (uint64_t)(uintptr_t)p, &r));
  return r;
}

typedef struct instance instance;
static instance *get_instance(napi_env env);
static int own_fd(instance *inst, int fd);
static void disown_fd(instance *inst, int fd);

// close(fd): also forgets the descriptor as this environment's (see own()).
static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok) return throw_type(env, "close(fd)");
  disown_fd(get_instance(env), fd);
  return close(fd) < 0 ? errno_result(env) : make_int(env, 0);
}

// own(fd) / disown(fd): the descriptor is (no longer) this environment's to close at teardown.
static napi_value js_own(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  bool own;
  if (argc < 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0 ||
      napi_get_value_bool(env, argv[1], &own) != napi_ok)
    return throw_type(env, "own(fd, owned)");
  instance *inst = get_instance(env);
  if (!own) {
    disown_fd(inst, fd);
    return make_int(env, 0);
  }
  return make_int(env, own_fd(inst, fd));
}

// dup(fd) -> a new descriptor for the same open file, close-on-exec, or -errno.
static napi_value js_dup(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok) return throw_type(env, "dup(fd)");
  int r = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  return r < 0 ? errno_result(env) : make_int(env, r);
}

// epollCreate() -> a close-on-exec epoll descriptor, or -errno.
static napi_value js_epoll_create(napi_env env, napi_callback_info info) {
  (void)info;
  int r = epoll_create1(EPOLL_CLOEXEC);
  return r < 0 ? errno_result(env) : make_int(env, r);
}

// epollCtl(epfd, op, fd, events): op 1 add, 2 delete, 3 modify; the event's data is fd. 0 or -errno.
static napi_value js_epoll_ctl(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t epfd, op, fd;
  uint32_t events;
  if (argc < 4 || napi_get_value_int32(env, argv[0], &epfd) != napi_ok ||
      napi_get_value_int32(env, argv[1], &op) != napi_ok || napi_get_value_int32(env, argv[2], &fd) != napi_ok ||
      napi_get_value_uint32(env, argv[3], &events) != napi_ok)
    return throw_type(env, "epollCtl(epfd, op, fd, events)");
  struct epoll_event ev = {.events = events, .data.fd = fd};
  return epoll_ctl(epfd, op, fd, &ev) < 0 ? errno_result(env) : make_int(env, 0);
}

// ioctl(fd, request, arg): arg is an integer (number or bigint) or a buffer passed by address.
static napi_value js_ioctl(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  uint64_t req;
  if (argc < 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || !get_u64(env, argv[1], &req))
    return throw_type(env, "ioctl(fd, request, arg)");
  unsigned long arg = 0;
  if (argc >= 3) {
    void *p;
    size_t n;
    uint64_t v;
    if (get_u64(env, argv[2], &v))
      arg = (unsigned long)v;
    else if (get_bytes(env, argv[2], &p, &n))
      arg = (unsigned long)(uintptr_t)p;
    else {
      napi_valuetype t;
      CHECK(napi_typeof(env, argv[2], &t));
      if (t != napi_undefined && t != napi_null) return throw_type(env, "ioctl: arg must be an integer or buffer");
    }
  }
  int r = ioctl(fd, (unsigned long)req, arg);
  return r < 0 ? errno_result(env) : make_int(env, r);
}

// perfEventOpen(attr, pid, cpu, groupFd, flags) -> fd or -errno.
static napi_value js_perf_event_open(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *attr;
  size_t size;
  int32_t pid, cpu, group;
  uint32_t flags;
  if (argc < 5 || !get_bytes(env, argv[0], &attr, &size) || size < PERF_ATTR_SIZE_VER0 ||
      napi_get_value_int32(env, argv[1], &pid) != napi_ok || napi_get_value_int32(env, argv[2], &cpu) != napi_ok ||
      napi_get_value_int32(env, argv[3], &group) != napi_ok || napi_get_value_uint32(env, argv[4], &flags) != napi_ok)
    return throw_type(env, "perfEventOpen(attr, pid, cpu, groupFd, flags)");
  long r = syscall(__NR_perf_event_open, attr, pid, cpu, group, (unsigned long)flags);
  return r < 0 ? errno_result(env) : make_int(env, r);
}

// ---- mmap / munmap ----------------------------------------------------------------------------

// One live mapping. The list is per environment (worker threads each have their own) and is only
// touched on that environment's JS thread: by munmap() and by the ArrayBuffer finalizer.
typedef struct mapping {
  void *addr;
  size_t len;
  int unmapped;
  instance *owner; // NULL once the environment's instance data is gone
  struct mapping *next;
} mapping;

// A slab of copy memory (SLAB_BYTES) while it sits in its environment's pool; its first bytes
// hold the link.
typedef struct free_slab {
  struct free_slab *next;
} free_slab;

struct instance {
  mapping *mappings;
  // slab(): idle slabs, already touched, handed out again before any is allocated.
  free_slab *slabs;
  size_t idle_slabs;
  struct slab_owner *slab_owner;
  // The descriptors this environment's Fd objects own, one bit per descriptor number: closed at
  // teardown, so a worker thread terminated (or ended) with handles open leaves none behind.
  uint8_t *owned;
  size_t owned_bytes;
};

static instance *get_instance(napi_env env) {
  void *data = NULL;
  napi_get_instance_data(env, &data);
  return data;
}

// Past the kernel's ceiling on descriptor numbers (fs.nr_open is at most 2^30; 2^20 by default)
// nothing is tracked, so a bogus number cannot grow the bitmap without bound.
#define MAX_OWNED_FD (1 << 24)

static int own_fd(instance *inst, int fd) {
  if (fd < 0 || fd >= MAX_OWNED_FD) return 0;
  size_t byte = (size_t)fd >> 3;
  if (byte >= inst->owned_bytes) {
    size_t n = inst->owned_bytes ? inst->owned_bytes : 64;
    while (n <= byte) n *= 2;
    uint8_t *grown = realloc(inst->owned, n);
    if (!grown) return -ENOMEM;
    memset(grown + inst->owned_bytes, 0, n - inst->owned_bytes);
    inst->owned = grown;
    inst->owned_bytes = n;
  }
  inst->owned[byte] |= (uint8_t)(1u << (fd & 7));
  return 0;
}

static void disown_fd(instance *inst, int fd) {
  size_t byte = (size_t)fd >> 3;
  if (fd >= 0 && byte < inst->owned_bytes) inst->owned[byte] &= (uint8_t)~(1u << (fd & 7));
}

static void unlink_mapping(instance *inst, mapping *m) {
  for (mapping **p = &inst->mappings; *p; p = &(*p)->next) {
    if (*p == m) {
      *p = m->next;
      return;
    }
  }
}

// The ArrayBuffer was collected: unmap unless munmap() already did.
static void finalize_mapping(napi_env env, void *data, void *hint) {
  (void)data;
  mapping *m = hint;
  (void)env;
  if (!m->unmapped) munmap(m->addr, m->len);
  if (m->owner) unlink_mapping(m->owner, m);
  free(m);
}

// mmap(fd, length, prot, flags, offset[, addr]) -> ArrayBuffer over the mapping, or -errno.
// `addr` is the address hint (a BPF arena's user address goes with MAP_FIXED_NOREPLACE).
static napi_value js_mmap(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd, prot, flags;
  int64_t length, offset;
  if (argc < 5 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || !get_i64(env, argv[1], &length) ||
      napi_get_value_int32(env, argv[2], &prot) != napi_ok || napi_get_value_int32(env, argv[3], &flags) != napi_ok ||
      !get_i64(env, argv[4], &offset))
    return throw_type(env, "mmap(fd, length, prot, flags, offset[, addr])");
  uint64_t hint = 0;
  if (argc > 5 && !get_u64(env, argv[5], &hint)) return throw_type(env, "mmap: addr must be a bigint or number");
  if (length <= 0) return make_int(env, -EINVAL);
  mapping *m = calloc(1, sizeof(*m));
  if (!m) return make_int(env, -ENOMEM);
  void *addr = mmap((void *)(uintptr_t)hint, (size_t)length, prot, flags, fd, (off_t)offset);
  if (addr == MAP_FAILED) {
    int e = errno;
    free(m);
    return make_int(env, -e);
  }
  // Kernels before 4.17 take MAP_FIXED_NOREPLACE as a mere hint: elsewhere is a failure too.
  if ((flags & MAP_FIXED_NOREPLACE) && addr != (void *)(uintptr_t)hint) {
    munmap(addr, (size_t)length);
    free(m);
    return make_int(env, -EEXIST);
  }
  m->addr = addr;
  m->len = (size_t)length;
  napi_value ab;
  if (napi_create_external_arraybuffer(env, addr, (size_t)length, finalize_mapping, m, &ab) != napi_ok) {
    munmap(addr, (size_t)length);
    free(m);
    return NULL;
  }
  instance *inst = get_instance(env);
  m->owner = inst;
  m->next = inst->mappings;
  inst->mappings = m;
  return ab;
}

// munmap(arrayBuffer) -> 0 or -errno. Detaches the ArrayBuffer first so that no view of it can
// read the memory after it is gone (byteLength becomes 0, access throws or reads nothing).
static napi_value js_munmap(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  void *data;
  size_t len;
  if (argc < 1 || napi_get_arraybuffer_info(env, argv[0], &data, &len) != napi_ok)
    return throw_type(env, "munmap(arrayBuffer)");
  bool detached = false;
  CHECK(napi_is_detached_arraybuffer(env, argv[0], &detached));
  if (detached) return make_int(env, -EBADF);
  instance *inst = get_instance(env);
  mapping *m = inst->mappings;
  while (m && !(m->addr == data && m->len == len && !m->unmapped)) m = m->next;
  if (!m) return make_int(env, -EINVAL);
  // Marked before detaching: the finalizer may run as soon as the backing store is released.
  m->unmapped = 1;
  CHECK(napi_detach_arraybuffer(env, argv[0]));
  return munmap(data, len) < 0 ? errno_result(env) : make_int(env, 0);
}

// ---- copy slabs ---------------------------------------------------------------------------------

// Event readers copy records out of a ring into 64 KiB slabs. A slab freed to malloc (and a
// fresh one taken) costs its pages' faults again on every batch, which at 1 KiB records cost
// more than the copy itself; so a collected slab goes back to its environment's pool instead,
// up to POOL_SLABS of them (4 MiB), and the next slab() reuses it, its pages still mapped.
#define SLAB_BYTES (64 * 1024)
#define POOL_SLABS 64

// What a live slab's finalizer refers to: outlives the instance data while slabs are alive
// (a worker's environment torn down with records still referenced frees them as they go).
typedef struct slab_owner {
  instance *inst; // NULL once the environment's instance data is gone
  size_t live;    // slabs handed out and not yet finalized
} slab_owner;

// The slab's ArrayBuffer was collected (called on the JS thread): back to the pool, or freed.
static void finalize_slab(napi_env env, void *data, void *hint) {
  (void)env;
  slab_owner *o = hint;
  instance *inst = o->inst;
  o->live--;
  if (inst && inst->idle_slabs < POOL_SLABS) {
    free_slab *f = data;
    f->next = inst->slabs;
    inst->slabs = f;
    inst->idle_slabs++;
  } else {
    free(data);
  }
  if (!inst && o->live == 0) free(o);
}

// slab() -> an ArrayBuffer of SLAB_BYTES (contents unspecified: every byte read must be written
// first), from the pool when it has one; -ENOMEM.
static napi_value js_slab(napi_env env, napi_callback_info info) {
  (void)info;
  instance *inst = get_instance(env);
  if (!inst->slab_owner) {
    inst->slab_owner = calloc(1, sizeof(slab_owner));
    if (!inst->slab_owner) return make_int(env, -ENOMEM);
    inst->slab_owner->inst = inst;
  }
  void *mem;
  if (inst->slabs) {
    free_slab *f = inst->slabs;
    inst->slabs = f->next;
    inst->idle_slabs--;
    mem = f;
  } else {
    mem = aligned_alloc(64, SLAB_BYTES);
    if (!mem) return make_int(env, -ENOMEM);
  }
  napi_value ab;
  if (napi_create_external_arraybuffer(env, mem, SLAB_BYTES, finalize_slab, inst->slab_owner, &ab) != napi_ok) {
    free(mem);
    return NULL;
  }
  inst->slab_owner->live++;
  return ab;
}

// ---- rlimits ------------------------------------------------------------------------------------

static napi_value limit_value(napi_env env, rlim_t v) {
  napi_value r;
  if (napi_create_bigint_uint64(env, (uint64_t)v, &r) != napi_ok) return NULL;
  return r;
}

// getrlimit(resource) -> [soft, hard] as bigints (RLIM_INFINITY is 2^64-1), or -errno.
static napi_value js_getrlimit(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t res;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &res) != napi_ok) return throw_type(env, "getrlimit(resource)");
  struct rlimit rl;
  if (getrlimit(res, &rl) < 0) return errno_result(env);
  napi_value arr;
  CHECK(napi_create_array_with_length(env, 2, &arr));
  CHECK(napi_set_element(env, arr, 0, limit_value(env, rl.rlim_cur)));
  CHECK(napi_set_element(env, arr, 1, limit_value(env, rl.rlim_max)));
  return arr;
}

// setrlimit(resource, soft, hard) -> 0 or -errno.
static napi_value js_setrlimit(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t res;
  uint64_t soft, hard;
  if (argc < 3 || napi_get_value_int32(env, argv[0], &res) != napi_ok || !get_u64(env, argv[1], &soft) ||
      !get_u64(env, argv[2], &hard))
    return throw_type(env, "setrlimit(resource, soft, hard)");
  struct rlimit rl = {.rlim_cur = (rlim_t)soft, .rlim_max = (rlim_t)hard};
  return setrlimit(res, &rl) < 0 ? errno_result(env) : make_int(env, 0);
}

// ---- readiness through uv_poll ------------------------------------------------------------------

// A poller is owned by libuv from start to close; its JS handle (an external) holds a strong
// reference to itself until the close callback, so it cannot be collected while libuv uses it.
typedef struct {
  uv_poll_t handle;
  napi_env env;
  napi_ref callback;
  napi_ref self;
  napi_async_context async;
  napi_async_cleanup_hook_handle cleanup;
  int closing;
} poller;

static void poll_cb(uv_poll_t *h, int status, int events) {
  poller *p = h->data;
  if (p->closing) return;
  napi_env env = p->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, recv, args[2], result;
  if (napi_get_reference_value(env, p->callback, &cb) == napi_ok && cb != NULL &&
      napi_get_global(env, &recv) == napi_ok && napi_create_int32(env, status, &args[0]) == napi_ok &&
      napi_create_int32(env, events, &args[1]) == napi_ok) {
    // make_callback runs microtasks afterwards, as any libuv-driven callback in Node does.
    if (napi_make_callback(env, p->async, recv, cb, 2, args, &result) == napi_pending_exception) {
      napi_value err;
      if (napi_get_and_clear_last_exception(env, &err) == napi_ok) napi_fatal_exception(env, err);
    }
  }
  napi_close_handle_scope(env, scope);
}

static void release_refs(poller *p) {
  if (p->callback) napi_delete_reference(p->env, p->callback);
  if (p->self) napi_delete_reference(p->env, p->self);
  if (p->async) napi_async_destroy(p->env, p->async);
  p->callback = p->self = NULL;
  p->async = NULL;
}

static void on_poll_closed(uv_handle_t *h) {
  poller *p = h->data;
  napi_async_cleanup_hook_handle hook = p->cleanup;
  p->cleanup = NULL;
  release_refs(p);
  // From here only the JS external refers to p; its finalizer frees it.
  if (hook) napi_remove_async_cleanup_hook(hook);
}

static void begin_close(poller *p) {
  if (p->closing) return;
  p->closing = 1;
  uv_poll_stop(&p->handle);
  uv_close((uv_handle_t *)&p->handle, on_poll_closed);
}

// The environment is going away (worker exit) with the poller still open.
static void poll_env_cleanup(napi_async_cleanup_hook_handle hook, void *arg) {
  (void)hook;
  begin_close(arg);
}

static void finalize_poller(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  free(data);
}

static poller *get_poller(napi_env env, napi_value v) {
  void *data = NULL;
  if (napi_get_value_external(env, v, &data) != napi_ok) return NULL;
  return data;
}

// pollStart(fd, events, callback(status, events)) -> handle. events: UV_READABLE=1, UV_WRITABLE=2,
// UV_DISCONNECT=4, UV_PRIORITIZED=8. Returns -errno (number) when libuv refuses the descriptor.
static napi_value js_poll_start(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd, events;
  napi_valuetype t = napi_undefined;
  if (argc >= 3) CHECK(napi_typeof(env, argv[2], &t));
  if (argc < 3 || napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      napi_get_value_int32(env, argv[1], &events) != napi_ok || t != napi_function)
    return throw_type(env, "pollStart(fd, events, callback)");
  uv_loop_t *loop;
  CHECK(napi_get_uv_event_loop(env, &loop));
  poller *p = calloc(1, sizeof(*p));
  if (!p) return make_int(env, -ENOMEM);
  p->env = env;
  int r = uv_poll_init(loop, &p->handle, fd);
  if (r < 0) {
    free(p);
    return make_int(env, r); // libuv errors are negative errno values on Linux
  }
  p->handle.data = p;
  napi_value ext, name;
  if (napi_create_external(env, p, finalize_poller, NULL, &ext) != napi_ok) {
    // Nothing refers to p yet, so the close callback may free it.
    p->closing = 1;
    uv_close((uv_handle_t *)&p->handle, (uv_close_cb)free);
    return NULL;
  }
  CHECK(napi_create_reference(env, ext, 1, &p->self));
  CHECK(napi_create_reference(env, argv[2], 1, &p->callback));
  CHECK(napi_create_string_utf8(env, "ebpf:poll", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_async_init(env, NULL, name, &p->async));
  napi_add_async_cleanup_hook(env, poll_env_cleanup, p, &p->cleanup);
  r = uv_poll_start(&p->handle, events, poll_cb);
  if (r < 0) {
    begin_close(p);
    return make_int(env, r);
  }
  return ext;
}

// pollUpdate(handle, events) restarts a stopped or running poller with a new event mask.
static napi_value js_poll_update(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  poller *p = argc >= 2 ? get_poller(env, argv[0]) : NULL;
  int32_t events;
  if (!p || napi_get_value_int32(env, argv[1], &events) != napi_ok) return throw_type(env, "pollUpdate(handle, events)");
  if (p->closing) return make_int(env, -EBADF);
  return make_int(env, uv_poll_start(&p->handle, events, poll_cb));
}

static napi_value js_poll_stop(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  poller *p = argc >= 1 ? get_poller(env, argv[0]) : NULL;
  if (!p) return throw_type(env, "pollStop(handle)");
  if (p->closing) return make_int(env, 0);
  return make_int(env, uv_poll_stop(&p->handle));
}

// pollClose(handle): idempotent. The callback is never called after this returns.
static napi_value js_poll_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  poller *p = argc >= 1 ? get_poller(env, argv[0]) : NULL;
  if (!p) return throw_type(env, "pollClose(handle)");
  begin_close(p);
  return make_int(env, 0);
}

// pollRef(handle, keepAlive): whether an active poller keeps the process running.
static napi_value js_poll_ref(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  poller *p = argc >= 2 ? get_poller(env, argv[0]) : NULL;
  bool keep;
  if (!p || napi_get_value_bool(env, argv[1], &keep) != napi_ok) return throw_type(env, "pollRef(handle, keepAlive)");
  if (!p->closing) {
    if (keep)
      uv_ref((uv_handle_t *)&p->handle);
    else
      uv_unref((uv_handle_t *)&p->handle);
  }
  return make_int(env, 0);
}

// ---- module -------------------------------------------------------------------------------------

static void finalize_instance(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  // Mappings still alive at teardown are unmapped by their own finalizers, which may run after
  // this one: detach them from the list head first so none touches freed memory.
  instance *inst = data;
  for (mapping *m = inst->mappings; m; m = m->next) m->owner = NULL;
  for (free_slab *f = inst->slabs, *next; f; f = next) {
    next = f->next;
    free(f);
  }
  if (inst->slab_owner) {
    if (inst->slab_owner->live == 0)
      free(inst->slab_owner);
    else
      inst->slab_owner->inst = NULL;
  }
  // Descriptors still owned: their Fd objects die with this environment, nothing else closes them.
  for (size_t byte = 0; byte < inst->owned_bytes; byte++)
    for (int bit = 0; inst->owned[byte] && bit < 8; bit++)
      if (inst->owned[byte] & (1u << bit)) {
        close((int)(byte * 8 + (size_t)bit));
        inst->owned[byte] &= (uint8_t)~(1u << bit);
      }
  free(inst->owned);
  free(inst);
}

#define EXPORT(name, fn)                                                                           \
  do {                                                                                             \
    napi_value f;                                                                                  \
    CHECK(napi_create_function(env, name, NAPI_AUTO_LENGTH, fn, NULL, &f));                        \
    CHECK(napi_set_named_property(env, exports, name, f));                                         \
  } while (0)

#define EXPORT_INT(name, value)                                                                    \
  do {                                                                                             \
    napi_value v;                                                                                  \
    CHECK(napi_create_int64(env, value, &v));                                                      \
    CHECK(napi_set_named_property(env, exports, name, v));                                         \
  } while (0)

NAPI_MODULE_INIT() {
  instance *inst = calloc(1, sizeof(*inst));
  if (!inst || napi_set_instance_data(env, inst, finalize_instance, NULL) != napi_ok) return NULL;
  EXPORT("bpf", js_bpf);
  EXPORT("bpfElem", js_bpf_elem);
  EXPORT("bpfElemAt", js_bpf_elem_at);
  EXPORT("bpfAsync", js_bpf_async);
  EXPORT("addressOf", js_address_of);
  EXPORT("close", js_close);
  EXPORT("own", js_own);
  EXPORT("dup", js_dup);
  EXPORT("epollCreate", js_epoll_create);
  EXPORT("epollCtl", js_epoll_ctl);
  EXPORT("ioctl", js_ioctl);
  EXPORT("perfEventOpen", js_perf_event_open);
  EXPORT("mmap", js_mmap);
  EXPORT("munmap", js_munmap);
  EXPORT("slab", js_slab);
  EXPORT_INT("SLAB_BYTES", SLAB_BYTES);
  EXPORT("getrlimit", js_getrlimit);
  EXPORT("setrlimit", js_setrlimit);
  EXPORT("pollStart", js_poll_start);
  EXPORT("pollUpdate", js_poll_update);
  EXPORT("pollStop", js_poll_stop);
  EXPORT("pollClose", js_poll_close);
  EXPORT("pollRef", js_poll_ref);
  // Values the TS side must not guess: they differ between architectures.
  EXPORT_INT("PAGE_SIZE", sysconf(_SC_PAGESIZE));
  EXPORT_INT("RLIMIT_MEMLOCK", RLIMIT_MEMLOCK);
  EXPORT_INT("PROT_READ", PROT_READ);
  EXPORT_INT("PROT_WRITE", PROT_WRITE);
  EXPORT_INT("MAP_SHARED", MAP_SHARED);
  EXPORT_INT("MAP_FIXED_NOREPLACE", MAP_FIXED_NOREPLACE);
  EXPORT_INT("MAP_PRIVATE", MAP_PRIVATE);
  EXPORT_INT("UV_READABLE", UV_READABLE);
  EXPORT_INT("UV_WRITABLE", UV_WRITABLE);
  EXPORT_INT("UV_DISCONNECT", UV_DISCONNECT);
  EXPORT_INT("UV_PRIORITIZED", UV_PRIORITIZED);
  return exports;
}
