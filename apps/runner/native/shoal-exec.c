/*
 * shoal-exec [--close-from=N] FILE ARGV0 [ARG...]
 *
 * Runs FILE (with ARGV0 as its argv[0]) with every descriptor from N (default 3) up closed. The toolbox starts all user code through it: Node
 * cannot mark a descriptor close-on-exec, and the toolbox holds some that user code must never see (the listening
 * socket the runner passed it, which libuv keeps inheritable, and anything else opened without O_CLOEXEC).
 *
 * FILE is taken as given (execv, no PATH search): the toolbox resolves it first so that it can still report
 * "executable file not found" itself. If the exec fails, the reason goes to stderr and the exit status is 126
 * (found but not runnable) or 127 (not found), as a shell would report.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_close_range
#define SYS_close_range 436
#endif

/* Without close_range (kernels before 5.9, or a seccomp profile refusing it), close what /proc lists. */
static void close_listed(int from) {
    DIR *dir = opendir("/proc/self/fd");
    if (dir == NULL) {
        long max = sysconf(_SC_OPEN_MAX);
        for (long fd = from; fd < (max > 0 ? max : 65536); fd++) close((int)fd);
        return;
    }
    int own = dirfd(dir);
    struct dirent *entry;
    /* Collect first: closing while reading the directory would skip entries. */
    int fds[4096];
    size_t count = 0;
    while ((entry = readdir(dir)) != NULL && count < sizeof fds / sizeof fds[0]) {
        char *end;
        long fd = strtol(entry->d_name, &end, 10);
        if (*end == '\0' && end != entry->d_name && fd >= from && fd != own && fd <= INT_MAX) fds[count++] = (int)fd;
    }
    closedir(dir);
    for (size_t i = 0; i < count; i++) close(fds[i]);
    if (count == sizeof fds / sizeof fds[0]) close_listed(from);
}

int main(int argc, char **argv) {
    int from = 3;
    int first = 1;
    if (argc > 1 && strncmp(argv[1], "--close-from=", 13) == 0) {
        char *end;
        long n = strtol(argv[1] + 13, &end, 10);
        if (*end != '\0' || n < 0 || n > INT_MAX) {
            fprintf(stderr, "shoal-exec: bad %s\n", argv[1]);
            return 2;
        }
        from = (int)n;
        first = 2;
    }
    if (first + 1 >= argc) {
        fprintf(stderr, "usage: shoal-exec [--close-from=N] FILE ARGV0 [ARG...]\n");
        return 2;
    }
    if (syscall(SYS_close_range, (unsigned int)from, ~0U, 0) != 0) close_listed(from);
    execv(argv[first], argv + first + 1);
    int err = errno;
    fprintf(stderr, "%s: %s\n", argv[first], strerror(err));
    return err == ENOENT || err == ENOTDIR ? 127 : 126;
}
