// token_userns — runs a command as root of a new, unprivileged user namespace (and mount
// namespace) with a BPF filesystem whose delegation options let it create a BPF token
// (Linux 6.9). Test harness for test/token.test.ts.
//
//   token_userns MOUNTPOINT CMDS MAPS PROGS ATTACHS -- COMMAND [ARG...]
//
// The bpffs must belong to the new user namespace, so the child opens it (fsopen) after
// unsharing; only the privileged parent may set delegate_* options, so the child hands the
// filesystem context over (SCM_RIGHTS), the parent sets them, creates the superblock and makes a
// detached mount (fsmount), and hands that back; the child attaches it at MOUNTPOINT in its own
// mount namespace and runs COMMAND there. The namespace's root maps to uid/gid 65534 (nobody).
// Exit status: COMMAND's, or 100+ for a setup step that failed (message on stderr).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef FSCONFIG_SET_STRING
#define FSCONFIG_SET_STRING 1
#define FSCONFIG_CMD_CREATE 6
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif

static int fail(int code, const char *what) {
  fprintf(stderr, "token_userns: %s: %s\n", what, strerror(errno));
  return code;
}

static int send_fd(int sock, int fd) {
  char byte = 0;
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  char ctl[CMSG_SPACE(sizeof(int))];
  memset(ctl, 0, sizeof(ctl));
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl)};
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof(int));
  return sendmsg(sock, &msg, 0) == 1 ? 0 : -1;
}

static int recv_fd(int sock) {
  char byte;
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  char ctl[CMSG_SPACE(sizeof(int))];
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl)};
  if (recvmsg(sock, &msg, 0) != 1) return -1;
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  if (!c || c->cmsg_type != SCM_RIGHTS) {
    errno = EPROTO;
    return -1;
  }
  int fd;
  memcpy(&fd, CMSG_DATA(c), sizeof(int));
  return fd;
}

static int write_file(const char *path, const char *text) {
  int fd = open(path, O_WRONLY);
  if (fd < 0) return -1;
  ssize_t n = write(fd, text, strlen(text));
  close(fd);
  return n == (ssize_t)strlen(text) ? 0 : -1;
}

static int child(int sock, const char *mountpoint, char **argv) {
  char byte = 0;
  if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0) return fail(101, "unshare(CLONE_NEWUSER | CLONE_NEWNS)");
  // Tell the parent to write our uid/gid maps, then wait until it has.
  if (write(sock, &byte, 1) != 1 || read(sock, &byte, 1) != 1 || byte != 1) return fail(102, "waiting for id maps");
  if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0) return fail(103, "becoming the namespace's root");
  int fs_fd = syscall(SYS_fsopen, "bpf", 0);
  if (fs_fd < 0) return fail(104, "fsopen(\"bpf\")");
  if (send_fd(sock, fs_fd) < 0) return fail(105, "sending the bpffs context");
  close(fs_fd);
  int mnt_fd = recv_fd(sock);
  if (mnt_fd < 0) return fail(106, "receiving the bpffs mount (see the parent's message)");
  if (syscall(SYS_move_mount, mnt_fd, "", AT_FDCWD, mountpoint, MOVE_MOUNT_F_EMPTY_PATH) < 0)
    return fail(107, "move_mount to the mount point");
  close(mnt_fd);
  close(sock);
  execvp(argv[0], argv);
  return fail(108, "exec");
}

int main(int argc, char **argv) {
  if (argc < 8 || strcmp(argv[6], "--") != 0) {
    fprintf(stderr, "usage: token_userns MOUNTPOINT CMDS MAPS PROGS ATTACHS -- COMMAND [ARG...]\n");
    return 100;
  }
  const char *opts[4][2] = {
      {"delegate_cmds", argv[2]}, {"delegate_maps", argv[3]}, {"delegate_progs", argv[4]}, {"delegate_attachs", argv[5]}};
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) return fail(100, "socketpair");
  pid_t pid = fork();
  if (pid < 0) return fail(100, "fork");
  if (pid == 0) {
    close(sv[0]);
    _exit(child(sv[1], argv[1], argv + 7));
  }
  close(sv[1]);
  int sock = sv[0];
  char byte;
  char path[64];
  int status = 0, rc = 0;
  if (read(sock, &byte, 1) != 1) goto wait_child;
  snprintf(path, sizeof(path), "/proc/%d/setgroups", pid);
  if (write_file(path, "deny") < 0) {
    rc = fail(110, "setgroups deny");
    goto kill_child;
  }
  snprintf(path, sizeof(path), "/proc/%d/uid_map", pid);
  if (write_file(path, "0 65534 1") < 0) {
    rc = fail(110, "uid_map");
    goto kill_child;
  }
  snprintf(path, sizeof(path), "/proc/%d/gid_map", pid);
  if (write_file(path, "0 65534 1") < 0) {
    rc = fail(110, "gid_map");
    goto kill_child;
  }
  byte = 1;
  if (write(sock, &byte, 1) != 1) goto wait_child;
  int fs_fd = recv_fd(sock);
  if (fs_fd < 0) goto wait_child;
  for (int i = 0; i < 4; i++) {
    if (syscall(SYS_fsconfig, fs_fd, FSCONFIG_SET_STRING, opts[i][0], opts[i][1], 0) < 0) {
      rc = fail(111, opts[i][0]);
      goto kill_child;
    }
  }
  if (syscall(SYS_fsconfig, fs_fd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
    rc = fail(112, "fsconfig(FSCONFIG_CMD_CREATE)");
    goto kill_child;
  }
  int mnt_fd = syscall(SYS_fsmount, fs_fd, 0, 0);
  if (mnt_fd < 0) {
    rc = fail(113, "fsmount");
    goto kill_child;
  }
  if (send_fd(sock, mnt_fd) < 0) {
    rc = fail(114, "sending the mount");
    goto kill_child;
  }
  close(mnt_fd);
  close(fs_fd);
  goto wait_child;
kill_child:
  kill(pid, SIGKILL);
wait_child:
  close(sock);
  if (waitpid(pid, &status, 0) < 0) return fail(115, "waitpid");
  if (rc) return rc;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}
