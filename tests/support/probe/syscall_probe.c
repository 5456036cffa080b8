/* One syscall inside a container, for the confinement tests: prints "ok" or
 * the errno's name, and exits 0 either way (the test reads the word).
 * Built static at test time (tests/support/probe.py) and bind-mounted in,
 * because busybox has no applet for keyctl, swapon of a missing file, or
 * pidfd_getfd. */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int report(long rc) {
    if (rc < 0) {
        const char *name = strerrorname_np(errno);
        puts(name ? name : "E?");
    } else {
        puts("ok");
    }
    return 0;
}

/* A child that only waits, as the "other process" of the ptrace family. */
static pid_t sleeper(void) {
    pid_t pid = fork();
    if (pid == 0) {
        pause();
        _exit(0);
    }
    return pid;
}

int main(int argc, char **argv) {
    const char *op = argc > 1 ? argv[1] : "";
    if (!strcmp(op, "unshare-user"))
        return report(unshare(CLONE_NEWUSER));
    if (!strcmp(op, "keyctl")) /* KEYCTL_GET_KEYRING_ID of the session keyring, created if need be */
        return report(syscall(SYS_keyctl, 0, -3, 1));
    if (!strcmp(op, "mount")) {
        mkdir("/tmp/probe-mnt", 0755);
        return report(mount("none", "/tmp/probe-mnt", "tmpfs", 0, ""));
    }
    if (!strcmp(op, "swapon")) /* allowed, a missing file gives ENOENT */
        return report(syscall(SYS_swapon, "/nonexistent-swap", 0));
    if (!strcmp(op, "ptrace")) {
        pid_t pid = sleeper();
        long rc = ptrace(PTRACE_ATTACH, pid, 0, 0);
        int saved = errno;
        if (rc == 0)
            waitpid(pid, NULL, __WALL);
        kill(pid, SIGKILL);
        errno = saved;
        return report(rc);
    }
    if (!strcmp(op, "pidfd_getfd")) {
        pid_t pid = sleeper();
        long pidfd = syscall(SYS_pidfd_open, pid, 0);
        long rc = pidfd < 0 ? pidfd : syscall(SYS_pidfd_getfd, pidfd, 0, 0);
        int saved = errno;
        kill(pid, SIGKILL);
        errno = saved;
        return report(rc);
    }
    fprintf(stderr, "unknown probe %s\n", op);
    return 2;
}
