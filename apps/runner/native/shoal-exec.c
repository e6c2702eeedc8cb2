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
 *
 * shoal-exec --on-connect=FD FILE ARGV0 [ARG...] (a sandbox's first process, under tini): waits until the listening
 * socket FD has a connection waiting, then runs FILE with every descriptor kept (FD among them, the connection still
 * in its backlog). The runner binds the toolbox's socket and starts the container with this in front of the daemon, so
 * that a burst of creates is answered without paying each daemon's Node.js start first: the daemon starts when its
 * first request arrives, or when the runner connects because no other start is waiting.
 *
 * shoal-exec --serve PATH (the toolbox's executeCommand, from its second call on): listens on the unix socket PATH,
 * prints "ready" and forks one relay per connection until its stdin (a pipe from the toolbox) reaches end-of-file.
 * Why: Node forks before it execs, and a fork copies the page tables of the whole daemon (tens of MB) and makes every
 * page it writes afterwards fault once; forking this small process instead costs a fraction of that. A relay reads
 * one request, runs it as --capture does and answers in frames (see the protocol below).
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
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#define CLOSE_RANGE_CLOEXEC_FLAG (1U << 2)

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

/* In --serve, the relay's connection: output and status go there in frames instead of raw to stdout. */
static int frame_fd = -1;

/* Writes all of buf; returns -1 once the reader is gone. */
static int write_all(int to, const void *buf, size_t n) {
    const char *p = buf;
    for (size_t off = 0; off < n;) {
        ssize_t w = write(to, p + off, n - off);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return -1;
        off += (size_t)w;
    }
    return 0;
}

/*
 * A frame: one type byte, a little-endian u32 length, the data. 'P' the relay's pid (the process group to signal),
 * 'O' output, 'X' the exit status (i32: the code, or 128+N for signal N), 'E' an errno (i32) when the command could
 * not start at all (bad request, cwd, E2BIG).
 */
static int send_frame(int to, char type, const void *data, uint32_t len) {
    unsigned char head[5] = {(unsigned char)type, len & 0xff, (len >> 8) & 0xff, (len >> 16) & 0xff, len >> 24};
    if (write_all(to, head, sizeof head) != 0) return -1;
    return len ? write_all(to, data, len) : 0;
}

static void send_int(int to, char type, int32_t value) {
    unsigned char v[4] = {value & 0xff, (value >> 8) & 0xff, (value >> 16) & 0xff, ((uint32_t)value >> 24) & 0xff};
    send_frame(to, type, v, sizeof v);
}

static int emit(int to, const char *buf, size_t n) {
    return to == frame_fd ? send_frame(to, 'O', buf, (uint32_t)n) : write_all(to, buf, n);
}

/* A message of shoal-exec's own: on stderr, or as output when framed (the caller shows it with the command's). */
static void complain(const char *what, int err) {
    char msg[256];
    int n = snprintf(msg, sizeof msg, "shoal-exec: %s: %s\n", what, strerror(err));
    if (n < 0) return;
    if (frame_fd >= 0) send_frame(frame_fd, 'O', msg, (uint32_t)(n < (int)sizeof msg ? n : (int)sizeof msg - 1));
    else fputs(msg, stderr);
}

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
        /* Nobody reads any more: keep draining so the command is never blocked. */
        if (to >= 0 && emit(to, buf, (size_t)n) != 0) to = -1;
    }
}

/* What the command reads on stdin (--serve only): written as the pipe takes it, between reads of its output. */
struct feed {
    int fd;
    const char *data;
    size_t len, off;
};

static void pump(struct feed *in) {
    while (in->off < in->len) {
        size_t chunk = in->len - in->off > 65536 ? 65536 : in->len - in->off;
        ssize_t w = write(in->fd, in->data + in->off, chunk);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno == EAGAIN) return;
        if (w < 0) break; /* The command closed its stdin (EPIPE): as with `| sh`, not an error. */
        in->off += (size_t)w;
    }
    close(in->fd);
    in->fd = -1;
}

/* capture()'s answer when a spare's command never got its stdin: nothing of the caller's ran (see handle()). */
#define NOT_STARTED (-1)

#define REQUEST_MAX (1u << 30)

static uint32_t le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int read_all(int from, void *buf, size_t n) {
    char *p = buf;
    for (size_t off = 0; off < n;) {
        ssize_t r = read(from, p + off, n - off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        off += (size_t)r;
    }
    return 0;
}

/* A spare's connection and the directory it was asked to run in. */
struct later {
    int conn;
    const char *cwd;
};

/* Whether `path` names the file `have` describes (same device and inode), and that file was not removed since. */
static int still_named(const char *have, const char *path) {
    struct stat was, now;
    return stat(have, &was) == 0 && was.st_nlink > 0 && stat(path, &now) == 0 && now.st_dev == was.st_dev &&
           now.st_ino == was.st_ino;
}

/*
 * A spare (FLAG_STDIN_LATER): FILE runs already, blocked on its empty stdin, until the toolbox has a command for it
 * and sends that command's stdin on the connection (a u32 LE length, then the bytes). 0 once it came while FILE still
 * runs, as the program FILE names now, in the directory the cwd path names now (a spare started before /bin/sh was
 * replaced, or before its directory was removed and made again, must not run the command); -1 otherwise, or when
 * the toolbox hung up, with FILE still to kill; -2 when FILE exited first (killed from inside the sandbox, or its
 * exec failed) and was reaped here: its pid may be another process's by now, so nothing must signal it. A FILE that
 * dies between this check and its first read gets the stdin all the same and reports its death as a command would.
 */
static int await_stdin(const struct later *later, pid_t pid, const char *file, int exec_fd, struct feed *in) {
    int conn = later->conn;
    for (;;) {
        struct pollfd fds[2] = {{conn, POLLIN, 0}, {chld_pipe[0], POLLIN, 0}};
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (fds[1].revents) {
            char drain[64];
            while (read(chld_pipe[0], drain, sizeof drain) > 0) {
            }
            if (waitpid(pid, NULL, WNOHANG) == pid) return -2;
        }
        if (fds[0].revents) break;
    }
    unsigned char head[4];
    if (read_all(conn, head, sizeof head) != 0) return -1;
    uint32_t len = le32(head);
    char *data = len <= REQUEST_MAX ? malloc((size_t)len + 1) : NULL;
    if (data == NULL || read_all(conn, data, len) != 0) return -1;
    /* A command that follows the previous one closely can come while its spare is still between fork and exec, when
     * /proc/PID/exe names this program and not FILE: wait for the exec (the errno pipe closes on it, or carries the
     * exec's errno), else that spare counts as replaced and, a few times in a row, spares stop for good. */
    int exec_err = 0;
    ssize_t got;
    do got = read(exec_fd, &exec_err, sizeof exec_err);
    while (got < 0 && errno == EINTR);
    if (got != 0) return -1;
    if (waitpid(pid, NULL, WNOHANG) == pid) return -2;
    char exe[64];
    snprintf(exe, sizeof exe, "/proc/%d/exe", (int)pid);
    if (!still_named(exe, file) || !still_named(".", later->cwd)) return -1;
    in->data = data;
    in->len = len;
    in->off = 0;
    return 0;
}

/*
 * Runs FILE with stdout and stderr on one pipe copied to `to`. `envp` NULL: this process's environment. `in` NULL:
 * stdin is inherited. `exec_errno` (if not NULL) gets the errno of a failed exec, else 0. `later` (not NULL): a
 * spare, whose stdin comes later (await_stdin) and whose pid frame goes out only then; NOT_STARTED if it never does.
 */
static int capture(const char *file, char **argv, char **envp, struct feed *in, int to, int *exec_errno,
                   const struct later *later) {
    int out[2], errp[2];
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_chld;
    sa.sa_flags = SA_NOCLDSTOP;
    if (exec_errno) *exec_errno = 0;
    if (pipe2(out, O_CLOEXEC) != 0 || pipe2(errp, O_CLOEXEC) != 0 || pipe2(chld_pipe, O_CLOEXEC | O_NONBLOCK) != 0 ||
        sigaction(SIGCHLD, &sa, NULL) != 0) {
        complain("pipe", errno);
        return 126;
    }
    int in_pipe[2] = {-1, -1};
    if (in && pipe2(in_pipe, O_CLOEXEC) != 0) {
        complain("pipe", errno);
        return 126;
    }
    pid_t pid = fork();
    if (pid < 0) {
        complain("fork", errno);
        return 126;
    }
    if (pid == 0) {
        signal(SIGCHLD, SIG_DFL);
        if (dup2(out[1], 1) < 0 || dup2(out[1], 2) < 0) _exit(126);
        if (in && dup2(in_pipe[0], 0) < 0) _exit(126);
        /* Every other descriptor is close-on-exec already; in --serve, make sure of it all the same (marked, not
         * closed: the errno pipe must outlive a failed exec). */
        if (frame_fd >= 0) syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC_FLAG);
        if (envp) execve(file, argv, envp);
        else execv(file, argv);
        int err = errno;
        ssize_t ignored = write(errp[1], &err, sizeof err);
        (void)ignored;
        fprintf(stderr, "%s: %s\n", file, strerror(err));
        _exit(err == ENOENT || err == ENOTDIR ? 127 : 126);
    }
    close(out[1]);
    close(errp[1]);
    signal(SIGPIPE, SIG_IGN);
    if (later) {
        int waited = await_stdin(later, pid, file, errp[0], in);
        if (waited != 0) {
            if (waited == -1) kill(pid, SIGKILL);
            return NOT_STARTED;
        }
        send_int(later->conn, 'P', (int32_t)getpid());
    }
    fcntl(out[0], F_SETFL, O_NONBLOCK);
    if (in) {
        close(in_pipe[0]);
        in->fd = in_pipe[1];
        fcntl(in->fd, F_SETFL, O_NONBLOCK);
        if (in->len == 0) pump(in);
    }
    int status = 0;
    int closed = 0; /* Every writer (FILE and its background jobs) has closed the pipe. */
    for (;;) {
        pid_t done = waitpid(pid, &status, WNOHANG);
        if (done == pid) break;
        if (done < 0 && errno != EINTR) return 126;
        /* A SIGCHLD between waitpid and poll still wakes poll, through the handler's pipe. */
        struct pollfd fds[3] = {{chld_pipe[0], POLLIN, 0}};
        nfds_t n = 1;
        int at_out = -1, at_in = -1;
        if (!closed) {
            at_out = (int)n;
            fds[n++] = (struct pollfd){out[0], POLLIN, 0};
        }
        if (in && in->fd >= 0) {
            at_in = (int)n;
            fds[n++] = (struct pollfd){in->fd, POLLOUT, 0};
        }
        if (poll(fds, n, -1) < 0) {
            if (errno == EINTR) continue;
            return 126;
        }
        if (at_out >= 0 && fds[at_out].revents) closed = relay(out[0], to);
        if (at_in >= 0 && fds[at_in].revents) pump(in);
        if (fds[0].revents) {
            char drain[64];
            while (read(chld_pipe[0], drain, sizeof drain) > 0) {
            }
        }
    }
    if (in && in->fd >= 0) {
        close(in->fd);
        in->fd = -1;
    }
    if (exec_errno && read(errp[0], exec_errno, sizeof *exec_errno) != (ssize_t)sizeof *exec_errno) *exec_errno = 0;
    /* Everything FILE wrote is in the pipe by now. */
    if (!closed) closed = relay(out[0], to);
    if (!closed && fork() == 0) {
        /* The drainer: off the caller's stdout, stderr and connection, so the caller sees end-of-file now. */
        int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
        if (null >= 0) {
            dup2(null, 1);
            dup2(null, 2);
        }
        if (frame_fd >= 0) close(frame_fd);
        fcntl(out[0], F_SETFL, 0);
        relay(out[0], -1);
        _exit(0);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/*
 * The request on a --serve connection: a 20-byte header of little-endian u32s (magic "SXQ1", payload length, argc,
 * envc, flags) and the payload: cwd, FILE, argc argv strings, envc "K=V" strings, each NUL-terminated, then (flag 1)
 * the command's stdin to its end; without flag 1 stdin is /dev/null.
 *
 * Flag 2 asks for a spare: FILE is started at once and waits for its stdin, which the toolbox sends on the same
 * connection when a command of exactly this shape arrives (await_stdin). Starting a process costs about 5 ms on a
 * machine whose page faults are slow (nested virtualization); a spare pays it between commands instead of during one.
 */
#define REQUEST_MAGIC 0x31515853u /* "SXQ1" */
#define FLAG_STDIN 1u
#define FLAG_STDIN_LATER 2u

/* Splits `count` NUL-terminated strings off [*at, end) into out (NULL-terminated); -1 if they do not fit. */
static int take_strings(char **at, char *end, uint32_t count, char **out) {
    for (uint32_t i = 0; i < count; i++) {
        char *nul = memchr(*at, '\0', (size_t)(end - *at));
        if (nul == NULL) return -1;
        out[i] = *at;
        *at = nul + 1;
    }
    out[count] = NULL;
    return 0;
}

/* One connection, in its own process: read the request, start the command in a session of its own, answer. */
static int handle(int conn) {
    frame_fd = conn;
    unsigned char head[20];
    if (read_all(conn, head, sizeof head) != 0) return 1;
    uint32_t len = le32(head + 4), argc = le32(head + 8), envc = le32(head + 12), flags = le32(head + 16);
    if (le32(head) != REQUEST_MAGIC || len > REQUEST_MAX || argc == 0 || argc > len || envc > len) {
        send_int(conn, 'E', EINVAL);
        return 1;
    }
    char *payload = malloc((size_t)len + 1);
    char **argv = calloc((size_t)argc + 1, sizeof *argv);
    char **envp = calloc((size_t)envc + 1, sizeof *envp);
    if (payload == NULL || argv == NULL || envp == NULL) {
        send_int(conn, 'E', ENOMEM);
        return 1;
    }
    if (read_all(conn, payload, len) != 0) return 1;
    payload[len] = '\0';
    char *at = payload, *end = payload + len;
    char *fixed[3];
    if (take_strings(&at, end, 2, fixed) != 0 || take_strings(&at, end, argc, argv) != 0 ||
        take_strings(&at, end, envc, envp) != 0) {
        send_int(conn, 'E', EINVAL);
        return 1;
    }
    struct feed in = {-1, at, (size_t)(end - at), 0};
    /* Off the server's stdin and stdout (pipes of the toolbox): the command gets /dev/null or its own stdin pipe. */
    int null = open("/dev/null", O_RDWR);
    if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0) {
        send_int(conn, 'E', errno);
        return 1;
    }
    if (null > 2) close(null);
    /* Its own session, so that a timeout can kill everything the command started. */
    if (setsid() < 0 || chdir(fixed[0]) != 0) {
        send_int(conn, 'E', errno);
        return 1;
    }
    struct later spare = {conn, fixed[0]};
    int later = (flags & FLAG_STDIN_LATER) != 0;
    if (!later) send_int(conn, 'P', (int32_t)getpid());
    int exec_errno = 0;
    int status = capture(fixed[1], argv, envp, (flags & (FLAG_STDIN | FLAG_STDIN_LATER)) ? &in : NULL, conn, &exec_errno,
                         later ? &spare : NULL);
    /* A spare that is over before it was used: the connection closes without a pid frame, the toolbox knows. */
    if (status == NOT_STARTED) return 0;
    if (exec_errno == E2BIG) send_int(conn, 'E', E2BIG);
    else send_int(conn, 'X', status);
    return 0;
}

static int serve(const char *path) {
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof addr.sun_path) {
        fprintf(stderr, "shoal-exec: socket path too long: %s\n", path);
        return 2;
    }
    strcpy(addr.sun_path, path);
    int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    unlink(path);
    /* The socket is the toolbox's alone (its directory is private too); commands keep the toolbox's umask. */
    mode_t umask_was = umask(077);
    int bound = listener >= 0 ? bind(listener, (struct sockaddr *)&addr, sizeof addr) : -1;
    umask(umask_was);
    if (bound != 0 || listen(listener, 128) != 0) {
        fprintf(stderr, "shoal-exec: listen on %s: %s\n", path, strerror(errno));
        return 1;
    }
    /* Relays are reaped by the kernel; each runs in a session of its own. */
    signal(SIGCHLD, SIG_IGN);
    if (write_all(1, "ready\n", 6) != 0) return 1;
    for (;;) {
        struct pollfd fds[2] = {{listener, POLLIN, 0}, {0, POLLIN, 0}};
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            return 1;
        }
        if (fds[1].revents) {
            /* The toolbox is gone (or closed our stdin): nothing will connect any more. */
            char byte;
            if (read(0, &byte, 1) <= 0) {
                unlink(path);
                return 0;
            }
        }
        if (!(fds[0].revents & POLLIN)) continue;
        int conn = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
        if (conn < 0) continue;
        pid_t pid = fork();
        if (pid == 0) {
            close(listener);
            signal(SIGCHLD, SIG_DFL);
            _exit(handle(conn));
        }
        if (pid < 0) send_int(conn, 'E', errno);
        close(conn);
    }
}

/* --on-connect: the descriptor must be a listening socket; a pending connection makes it readable. */
static int exec_on_connect(const char *fd_arg, char **argv) {
    char *end;
    long fd = strtol(fd_arg, &end, 10);
    if (*fd_arg == '\0' || *end != '\0' || fd < 0 || fd > INT_MAX) {
        fprintf(stderr, "shoal-exec: bad --on-connect=%s\n", fd_arg);
        return 2;
    }
    int listening = 0;
    socklen_t len = sizeof listening;
    if (getsockopt((int)fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening) {
        fprintf(stderr, "shoal-exec: descriptor %ld is not a listening socket\n", fd);
        return 2;
    }
    struct pollfd p = { .fd = (int)fd, .events = POLLIN };
    for (;;) {
        int n = poll(&p, 1, -1);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            perror("shoal-exec: poll");
            return 1;
        }
        if (p.revents & (POLLERR | POLLNVAL)) {
            fprintf(stderr, "shoal-exec: listening socket %ld failed\n", fd);
            return 1;
        }
        if (p.revents & POLLIN) break;
    }
    execv(argv[0], argv + 1);
    int err = errno;
    fprintf(stderr, "%s: %s\n", argv[0], strerror(err));
    return err == ENOENT || err == ENOTDIR ? 127 : 126;
}

int main(int argc, char **argv) {
    if (argc > 1 && strncmp(argv[1], "--on-connect=", 13) == 0) {
        if (argc < 4) {
            fprintf(stderr, "usage: shoal-exec --on-connect=FD FILE ARGV0 [ARG...]\n");
            return 2;
        }
        return exec_on_connect(argv[1] + 13, argv + 2);
    }
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
    if (argc == first + 2 && strcmp(argv[first], "--serve") == 0) {
        if (syscall(SYS_close_range, (unsigned int)from, ~0U, 0) != 0) close_listed(from);
        return serve(argv[first + 1]);
    }
    int capturing = 0;
    if (argc > first && strcmp(argv[first], "--capture") == 0) {
        capturing = 1;
        first += 1;
    }
    if (first + 1 >= argc) {
        fprintf(stderr, "usage: shoal-exec [--close-from=N] [--capture] FILE ARGV0 [ARG...] | shoal-exec --serve PATH | shoal-exec --on-connect=FD FILE ARGV0 [ARG...]\n");
        return 2;
    }
    if (syscall(SYS_close_range, (unsigned int)from, ~0U, 0) != 0) close_listed(from);
    if (capturing) return capture(argv[first], argv + first + 1, NULL, NULL, 1, NULL, NULL);
    execv(argv[first], argv + first + 1);
    int err = errno;
    fprintf(stderr, "%s: %s\n", argv[first], strerror(err));
    return err == ENOENT || err == ENOTDIR ? 127 : 126;
}
