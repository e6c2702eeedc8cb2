/*
 * shoal-exec [--close-from=N] [--capture] FILE ARGV0 [ARG...]
 *
 * Runs FILE (with ARGV0 as its argv[0]) with every descriptor from N (default 3) up closed. The toolbox starts all user code through it: Node
 * cannot mark a descriptor close-on-exec, and the toolbox holds some that user code must never see (the listening
 * socket the runner passed it, which libuv keeps inheritable, and anything else opened without O_CLOEXEC).
 *
 * FILE is taken as given (execv, no PATH search): the toolbox resolves it first so that it can still report
 * "executable file not found" itself. If the exec fails, the reason goes to stderr and the exit status is 126
 * (found but not runnable) or 127 (not found), as a shell would report.
 *
 * --capture (the toolbox's executeCommand): FILE runs as a child whose stdout and stderr are ONE pipe (their
 * interleaving stays exactly as written, and /dev/stdout opens as on any pipe, which the socket Node would give does
 * not). shoal-exec copies the pipe to its own stdout and exits with FILE's status (128+N for signal N) as soon as FILE
 * has exited and what FILE left in the pipe is copied: a background job that keeps the pipe open cannot hold the
 * caller. Such a job keeps writing into the pipe, so a forked copy of shoal-exec stays to drain it to nowhere until
 * the last writer closes it (without a reader the job would die of SIGPIPE on its next line).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
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

static int chld_pipe[2] = {-1, -1};

static void on_chld(int sig) {
    (void)sig;
    int saved = errno;
    ssize_t ignored = write(chld_pipe[1], "c", 1);
    (void)ignored;
    errno = saved;
}

/* Copies what is readable now; returns 1 once every writer has closed the pipe. */
static int relay(int from, int to) {
    char buf[65536];
    for (;;) {
        ssize_t n = read(from, buf, sizeof buf);
        if (n == 0) return 1;
        if (n < 0) return errno == EINTR ? relay(from, to) : 0;
        for (ssize_t off = 0; off < n && to >= 0;) {
            ssize_t w = write(to, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR) continue;
            if (w < 0) break; /* Nobody reads any more: keep draining so the command is never blocked. */
            off += w;
        }
    }
}

static int capture(const char *file, char **argv) {
    int out[2];
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_chld;
    sa.sa_flags = SA_NOCLDSTOP;
    if (pipe2(out, O_CLOEXEC) != 0 || pipe2(chld_pipe, O_CLOEXEC | O_NONBLOCK) != 0 || sigaction(SIGCHLD, &sa, NULL) != 0) {
        fprintf(stderr, "shoal-exec: %s\n", strerror(errno));
        return 126;
    }
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "shoal-exec: fork: %s\n", strerror(errno));
        return 126;
    }
    if (pid == 0) {
        signal(SIGCHLD, SIG_DFL);
        if (dup2(out[1], 1) < 0 || dup2(out[1], 2) < 0) _exit(126);
        execv(file, argv);
        int err = errno;
        fprintf(stderr, "%s: %s\n", file, strerror(err));
        _exit(err == ENOENT || err == ENOTDIR ? 127 : 126);
    }
    close(out[1]);
    signal(SIGPIPE, SIG_IGN);
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    int status = 0;
    int closed = 0; /* Every writer (FILE and its background jobs) has closed the pipe. */
    for (;;) {
        pid_t done = waitpid(pid, &status, closed ? 0 : WNOHANG);
        if (done == pid) break;
        if (done < 0 && errno != EINTR) return 126;
        if (closed) continue;
        /* A SIGCHLD between waitpid and poll still wakes poll, through the handler's pipe. */
        struct pollfd fds[2] = {{out[0], POLLIN, 0}, {chld_pipe[0], POLLIN, 0}};
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            return 126;
        }
        if (fds[0].revents) closed = relay(out[0], 1);
        if (fds[1].revents) {
            char drain[64];
            while (read(chld_pipe[0], drain, sizeof drain) > 0) {
            }
        }
    }
    /* Everything FILE wrote is in the pipe by now. */
    if (!closed) closed = relay(out[0], 1);
    if (!closed && fork() == 0) {
        /* The drainer: off the caller's stdout and stderr, so the caller sees end-of-file now. */
        int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (null >= 0) {
            dup2(null, 1);
            dup2(null, 2);
        }
        fcntl(out[0], F_SETFL, 0);
        relay(out[0], -1);
        _exit(0);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
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
    int capturing = 0;
    if (argc > first && strcmp(argv[first], "--capture") == 0) {
        capturing = 1;
        first += 1;
    }
    if (first + 1 >= argc) {
        fprintf(stderr, "usage: shoal-exec [--close-from=N] [--capture] FILE ARGV0 [ARG...]\n");
        return 2;
    }
    if (syscall(SYS_close_range, (unsigned int)from, ~0U, 0) != 0) close_listed(from);
    if (capturing) return capture(argv[first], argv + first + 1);
    execv(argv[first], argv + first + 1);
    int err = errno;
    fprintf(stderr, "%s: %s\n", argv[first], strerror(err));
    return err == ENOENT || err == ENOTDIR ? 127 : 126;
}
