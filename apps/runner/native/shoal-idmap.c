/*
 * shoal-idmap: mounts a sandbox's overlay over an idmapped view of a shared image, so every sandbox can have its
 * own host uid range while the unpacked image stays one copy on disk. Node has no access to the new mount API and
 * util-linux 2.38 ignores X-mount.idmap, hence this helper.
 *
 *   shoal-idmap overlay <from>:<to>:<count> <lowerdir> <upperdir> <workdir> <stagedir> <target>
 *       Attaches an idmapped clone of <lowerdir> at <stagedir> (on-disk id from+k appears as to+k, for uids and
 *       gids), mounts overlayfs at <target> with that as its lower layer, then detaches <stagedir>: overlayfs keeps
 *       its own private clone of each layer, so nothing extra stays mounted.
 *   shoal-idmap bind <from>:<to>:<count> <source> <target>
 *       Only the idmapped clone of <source>, attached at <target> (left mounted).
 *   shoal-idmap subdir <from>:<to>:<count> <root> <subpath> <target>
 *       Like bind, for the directory <subpath> below <root> (a volume whose contents sandboxes write, so hostile):
 *       each component is resolved with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV) from the
 *       one before, so no symlink, ".." or mount point inside the volume can lead the bind elsewhere; missing
 *       components are created owned by <from> (the volume's root id on disk), mode 0777 like the volume's root.
 *       <subpath> "." is <root> itself.
 *
 * Exit status 0 on success; otherwise a one-line reason on stderr and status 1 (2 for usage errors).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/openat2.h>
#include <sys/stat.h>

static const char *step = "start";

static int fail(const char *what) {
  fprintf(stderr, "shoal-idmap: %s: %s: %s\n", step, what, strerror(errno));
  return 1;
}

static int parse_map(const char *s, uint32_t *from, uint32_t *to, uint32_t *count) {
  unsigned long long a, b, c;
  char tail;
  if (sscanf(s, "%llu:%llu:%llu%c", &a, &b, &c, &tail) != 3) return -1;
  if (c == 0 || a + c > UINT32_MAX || b + c > UINT32_MAX) return -1;
  *from = (uint32_t)a;
  *to = (uint32_t)b;
  *count = (uint32_t)c;
  return 0;
}

static int write_file(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t len = (ssize_t)strlen(text);
  ssize_t n = write(fd, text, (size_t)len);
  int saved = errno;
  close(fd);
  errno = saved;
  return n == len ? 0 : -1;
}

/*
 * Returns an fd of a user namespace whose uid_map and gid_map are "<from> <to> <count>": an idmapped mount made
 * with it shows on-disk id from+k as to+k. A child is cloned straight into a new user namespace and only waits on a
 * pipe while we write its maps and open its namespace; the fd keeps the namespace alive after the child exits.
 */
static int make_userns(uint32_t from, uint32_t to, uint32_t count) {
  int hold[2];
  if (pipe2(hold, O_CLOEXEC) < 0) return -fail("pipe");
  step = "clone user namespace";
  pid_t pid = (pid_t)syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, NULL);
  if (pid < 0) return -fail("clone(CLONE_NEWUSER)");
  if (pid == 0) {
    char c;
    close(hold[1]);
    while (read(hold[0], &c, 1) < 0 && errno == EINTR) {
    }
    _exit(0);
  }
  close(hold[0]);
  int ns = -1;
  char path[64], line[96];
  snprintf(line, sizeof line, "%" PRIu32 " %" PRIu32 " %" PRIu32 "\n", from, to, count);
  step = "write uid_map";
  snprintf(path, sizeof path, "/proc/%d/uid_map", (int)pid);
  if (write_file(path, line) < 0) {
    fail(path);
    goto out;
  }
  step = "write gid_map";
  snprintf(path, sizeof path, "/proc/%d/gid_map", (int)pid);
  if (write_file(path, line) < 0) {
    fail(path);
    goto out;
  }
  step = "open user namespace";
  snprintf(path, sizeof path, "/proc/%d/ns/user", (int)pid);
  ns = open(path, O_RDONLY | O_CLOEXEC);
  if (ns < 0) fail(path);
out:
  close(hold[1]);
  while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
  }
  return ns;
}

/* Attaches an idmapped clone of `source` (and any mounts below it) at `target`. */
static int idmapped_bind(int userns, const char *source, const char *target) {
  step = "open_tree";
  int tree = open_tree(AT_FDCWD, source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
  if (tree < 0) return fail(source);
  struct mount_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.attr_set = MOUNT_ATTR_IDMAP;
  attr.userns_fd = (uint64_t)userns;
  step = "mount_setattr(MOUNT_ATTR_IDMAP)";
  if (mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) < 0) {
    int rc = fail(source);
    close(tree);
    return rc;
  }
  step = "move_mount";
  if (move_mount(tree, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0) {
    int rc = fail(target);
    close(tree);
    return rc;
  }
  close(tree);
  return 0;
}

/* The directory `sub` below the directory fd `root`, never leaving it; created (owned by `owner`) when missing. */
static int open_beneath(int root, char *sub, uint32_t owner) {
  int dir = fcntl(root, F_DUPFD_CLOEXEC, 0);
  if (dir < 0) return -fail("dup");
  if (strcmp(sub, ".") == 0) return dir;
  for (char *save = NULL, *c = strtok_r(sub, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
    if (strcmp(c, ".") == 0 || strcmp(c, "..") == 0) {
      errno = EINVAL;
      close(dir);
      return -fail("subpath component . or ..");
    }
    step = "mkdirat";
    if (mkdirat(dir, c, 0777) == 0) {
      if (fchownat(dir, c, owner, owner, AT_SYMLINK_NOFOLLOW) < 0) {
        close(dir);
        return -fail(c);
      }
    } else if (errno != EEXIST) {
      close(dir);
      return -fail(c);
    }
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
    step = "openat2 subpath";
    int next = (int)syscall(SYS_openat2, dir, c, &how, sizeof how);
    close(dir);
    if (next < 0) return -fail(c);
    dir = next;
  }
  return dir;
}

/* Attaches an idmapped clone of the directory fd `src` (that directory alone, no submounts) at `target`. */
static int idmapped_bind_fd(int userns, int src, const char *target) {
  step = "open_tree";
  int tree = open_tree(src, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
  if (tree < 0) return fail("subpath");
  struct mount_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.attr_set = MOUNT_ATTR_IDMAP | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
  attr.userns_fd = (uint64_t)userns;
  step = "mount_setattr(MOUNT_ATTR_IDMAP)";
  if (mount_setattr(tree, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0) {
    int rc = fail("subpath");
    close(tree);
    return rc;
  }
  step = "move_mount";
  if (move_mount(tree, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0) {
    int rc = fail(target);
    close(tree);
    return rc;
  }
  close(tree);
  return 0;
}

static int usage(void) {
  fprintf(stderr,
          "usage: shoal-idmap overlay <from>:<to>:<count> <lowerdir> <upperdir> <workdir> <stagedir> <target>\n"
          "       shoal-idmap bind <from>:<to>:<count> <source> <target>\n"
          "       shoal-idmap subdir <from>:<to>:<count> <root> <subpath> <target>\n");
  return 2;
}

/* Overlay parses ',' and ':' in its options and would misread paths holding them (or '\\'); we never generate such. */
static int plain_path(const char *p) {
  return p[0] == '/' && strpbrk(p, ",:\\") == NULL;
}

int main(int argc, char **argv) {
  uint32_t from, to, count;
  int overlay = argc == 8 && strcmp(argv[1], "overlay") == 0;
  int bind = argc == 5 && strcmp(argv[1], "bind") == 0;
  int subdir = argc == 6 && strcmp(argv[1], "subdir") == 0;
  if (!overlay && !bind && !subdir) return usage();
  if (parse_map(argv[2], &from, &to, &count) < 0) {
    fprintf(stderr, "shoal-idmap: bad map \"%s\" (want <from>:<to>:<count> within 32 bits)\n", argv[2]);
    return 2;
  }
  int userns = make_userns(from, to, count);
  if (userns < 0) return 1;
  if (bind) return idmapped_bind(userns, argv[3], argv[4]);
  if (subdir) {
    umask(0);
    step = "open root";
    int root = open(argv[3], O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root < 0) return fail(argv[3]);
    int dir = open_beneath(root, argv[4], from);
    close(root);
    if (dir < 0) return 1;
    int rc = idmapped_bind_fd(userns, dir, argv[5]);
    close(dir);
    return rc;
  }

  const char *lower = argv[3], *upper = argv[4], *work = argv[5], *stage = argv[6], *target = argv[7];
  if (!plain_path(stage) || !plain_path(upper) || !plain_path(work)) {
    fprintf(stderr, "shoal-idmap: overlay paths must be absolute and free of ',', ':' and '\\'\n");
    return 2;
  }
  if (idmapped_bind(userns, lower, stage) != 0) return 1;
  close(userns);
  char opts[3 * PATH_MAX + 64];
  int n = snprintf(opts, sizeof opts, "lowerdir=%s,upperdir=%s,workdir=%s", stage, upper, work);
  int rc = 0;
  step = "mount overlay";
  if (n < 0 || (size_t)n >= sizeof opts) {
    errno = ENAMETOOLONG;
    rc = fail(target);
  } else if (mount("overlay", target, "overlay", 0, opts) < 0) {
    rc = fail(target);
  }
  step = "detach stage";
  if (umount2(stage, MNT_DETACH) < 0 && rc == 0) rc = fail(stage);
  return rc;
}
