/* Fault injection for the write-failure tests (tests/cli/write_failure_test.py):
 * an LD_PRELOAD library that makes writes to one file fail with EIO once a
 * number of bytes has been written to it, as a failing disk would. The real
 * taskrel binary runs unchanged; only write(2)/pwrite(2) on the file named
 * by TASKREL_FAIL_WRITES_PATH are affected, after
 * TASKREL_FAIL_WRITES_AFTER bytes (0: the first write fails). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

static long long written;

static int targeted(int fd) {
  const char* target = getenv("TASKREL_FAIL_WRITES_PATH");
  if (target == NULL) return 0;
  char link[64], path[PATH_MAX];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  const ssize_t n = readlink(link, path, sizeof path - 1);
  if (n <= 0) return 0;
  path[n] = '\0';
  return strcmp(path, target) == 0;
}

/* Whether this write of `count` bytes to `fd` must fail. */
static int fails(int fd, size_t count) {
  if (!targeted(fd)) return 0;
  const char* after = getenv("TASKREL_FAIL_WRITES_AFTER");
  const long long limit = after != NULL ? atoll(after) : 0;
  if (written + (long long)count > limit) return 1;
  written += (long long)count;
  return 0;
}

ssize_t write(int fd, const void* buffer, size_t count) {
  static ssize_t (*real)(int, const void*, size_t);
  if (real == NULL) real = (ssize_t(*)(int, const void*, size_t))dlsym(RTLD_NEXT, "write");
  if (fails(fd, count)) {
    errno = EIO;
    return -1;
  }
  return real(fd, buffer, count);
}

ssize_t pwrite(int fd, const void* buffer, size_t count, off_t offset) {
  static ssize_t (*real)(int, const void*, size_t, off_t);
  if (real == NULL) real = (ssize_t(*)(int, const void*, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
  if (fails(fd, count)) {
    errno = EIO;
    return -1;
  }
  return real(fd, buffer, count, offset);
}

ssize_t pwrite64(int fd, const void* buffer, size_t count, off_t offset) {
  static ssize_t (*real)(int, const void*, size_t, off_t);
  if (real == NULL) real = (ssize_t(*)(int, const void*, size_t, off_t))dlsym(RTLD_NEXT, "pwrite64");
  if (fails(fd, count)) {
    errno = EIO;
    return -1;
  }
  return real(fd, buffer, count, offset);
}
