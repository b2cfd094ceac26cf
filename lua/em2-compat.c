/*
 * Keeps the module's imports inside the set that AO's `wasm32-unknown-emscripten2` hosts provide
 * (ao-loader-abi.md 2.1). Debian's emscripten is 3.1.6; the em2 modules AO ships were built by a slightly later
 * 3.1.x, whose libc asks the host for the time through `_emscripten_date_now` and opens, unlinks and renames files
 * through the *at syscalls. 3.1.6 would instead import `time`, `clock`, `difftime`, `__clock_gettime`,
 * `__syscall_open`, `__syscall_unlink` and `__syscall_rename`, which an em2 host does not know. Defining those
 * symbols here makes the linker use these definitions instead of importing them; they forward to em2 imports.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <time.h>
#include <errno.h>
#include <stddef.h>

#include <emscripten.h>

/* em2 import: the wall clock in milliseconds (AO's em2 glue returns 0, so time() is the epoch). Declared in
   lua/em2-imports.js for emcc's own glue. */
extern double _emscripten_date_now(void);

/* em2 imports implemented by emscripten's JS library under these names. */
long __syscall_openat(long dirfd, long path, long flags, ...);
long __syscall_unlinkat(long dirfd, long path, long flags);
long __syscall_renameat(long olddirfd, long oldpath, long newdirfd, long newpath);

int __clock_gettime(clockid_t clk, struct timespec *ts) {
  double ms;
  if (clk == CLOCK_REALTIME) {
    ms = _emscripten_date_now();
  } else if (clk == CLOCK_MONOTONIC || clk == CLOCK_MONOTONIC_RAW || clk == CLOCK_PROCESS_CPUTIME_ID ||
             clk == CLOCK_THREAD_CPUTIME_ID) {
    ms = emscripten_get_now();
  } else {
    errno = EINVAL;
    return -1;
  }
  if (!(ms >= 0)) ms = 0; /* a host that returns NaN or a negative value reads as the epoch */
  long long ns = (long long)(ms * 1000000.0);
  ts->tv_sec = (time_t)(ns / 1000000000LL);
  ts->tv_nsec = (long)(ns % 1000000000LL);
  return 0;
}

int clock_gettime(clockid_t clk, struct timespec *ts) { return __clock_gettime(clk, ts); }

time_t time(time_t *t) {
  struct timespec ts;
  __clock_gettime(CLOCK_REALTIME, &ts);
  if (t) *t = ts.tv_sec;
  return ts.tv_sec;
}

clock_t clock(void) {
  struct timespec ts;
  __clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (clock_t)(ts.tv_sec * (long long)CLOCKS_PER_SEC + ts.tv_nsec / (1000000000LL / CLOCKS_PER_SEC));
}

double difftime(time_t t1, time_t t0) { return (double)t1 - (double)t0; }

long __syscall_open(long path, long flags, ...) {
  /* musl passes the mode whenever it may create the file (fopen always does); read it only then. */
  int mode = 0;
  if (flags & O_CREAT) {
    va_list ap;
    va_start(ap, flags);
    mode = va_arg(ap, int);
    va_end(ap);
  }
  return __syscall_openat(AT_FDCWD, path, flags, mode);
}

long __syscall_unlink(long path) { return __syscall_unlinkat(AT_FDCWD, path, 0); }

long __syscall_rename(long old_path, long new_path) {
  return __syscall_renameat(AT_FDCWD, old_path, AT_FDCWD, new_path);
}

/* libc's memcpy hands copies of 512 bytes and more to the host. In 3.1.6 the import returns the destination
   (i32); the em2 import returns nothing, so import it under its em2 signature and return dest here. */
__attribute__((import_module("env"), import_name("emscripten_memcpy_big")))
void aonode_host_memcpy_big(void *dest, const void *src, size_t n);

void *emscripten_memcpy_big(void *restrict dest, const void *restrict src, size_t n) {
  aonode_host_memcpy_big(dest, src, n);
  return dest;
}
