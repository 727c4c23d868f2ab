// A program under a supervisor that outlives neither the program nor its own parent.
//
// posix_spawn cannot set Linux's parent-death signal, and the signal reaches only the direct child
// anyway: a compiler driver's frontends, or a subprocess a notebook cell started, would survive the
// runner. Nor does a process group hold everything: Foundation's `Process` starts each child in a
// group of its own. The supervisor is the direct child. It leads a new process group (so Ctrl-C at
// a terminal reaches the runner only), becomes a child subreaper (every orphaned descendant becomes
// its child), asks for SIGTERM when its parent dies, starts the program and waits; whatever ends
// the wait, it kills every descendant, reaping until none is left.

#define _GNU_SOURCE
#include "CProcess.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/// Resolves `name` through PATH the way execvp does (before fork: the child must not allocate).
static int resolve(const char *name, char *resolved, size_t size) {
    if (strchr(name, '/')) {
        if (strlen(name) >= size) return ENAMETOOLONG;
        strcpy(resolved, name);
        return 0;
    }
    const char *path = getenv("PATH");
    if (!path || !*path) path = "/usr/local/bin:/usr/bin:/bin";
    int found_error = ENOENT;
    for (const char *start = path;;) {
        const char *end = strchr(start, ':');
        size_t length = end ? (size_t)(end - start) : strlen(start);
        if (length == 0) {
            start = end ? end + 1 : start + length;
            if (!end) break;
            continue;
        }
        if (length + 1 + strlen(name) + 1 <= size) {
            memcpy(resolved, start, length);
            resolved[length] = '/';
            strcpy(resolved + length + 1, name);
            if (access(resolved, X_OK) == 0) return 0;
            if (errno == EACCES) found_error = EACCES;
        }
        if (!end) break;
        start = end + 1;
    }
    return found_error;
}

static void write_report(int fd, int kind, int value) {
    tessera_child_report report = {kind, value};
    const char *bytes = (const char *)&report;
    size_t left = sizeof report;
    while (left > 0) {
        ssize_t n = write(fd, bytes, left);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        bytes += n;
        left -= (size_t)n;
    }
}

/// Marks every descriptor from `first` on close-on-exec.
static void cloexec_from(int first) {
    if (syscall(SYS_close_range, (unsigned)first, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return;
    long limit = sysconf(_SC_OPEN_MAX);
    if (limit < 0 || limit > 65536) limit = 65536;
    for (int fd = first; fd < limit; fd++) {
        int flags = fcntl(fd, F_GETFD);
        if (flags >= 0) fcntl(fd, F_SETFD, flags | FD_CLOEXEC);
    }
}

/// Forks without running atfork handlers where the C library allows it: the parent has threads,
/// and the child calls nothing but system calls.
static pid_t fork_plain(void) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
    return _Fork();
#else
    return fork();
#endif
}

/// Closes every descriptor but those in `keep` (at most 32).
static void close_all_but(const int *keep, int count) {
    int sorted[32];
    int n = 0;
    for (int i = 0; i < count && n < 32; i++) {
        int fd = keep[i];
        if (fd < 0) continue;
        int j = n;
        while (j > 0 && sorted[j - 1] > fd) {
            sorted[j] = sorted[j - 1];
            j--;
        }
        sorted[j] = fd;
        n++;
    }
    int next = 0;  // the first descriptor not yet handled
    for (int i = 0; i <= n; i++) {
        int stop = i < n ? sorted[i] : -1;  // close [next, stop), or [next, ∞) after the last
        if (stop == next) {
            next = stop + 1;
            continue;
        }
        if (stop < 0) {
            if (syscall(SYS_close_range, (unsigned)next, ~0U, 0) != 0) {
                for (int fd = next; fd < 65536; fd++) close(fd);
            }
            break;
        }
        if (stop > next) {
            if (syscall(SYS_close_range, (unsigned)next, (unsigned)(stop - 1), 0) != 0) {
                for (int fd = next; fd < stop; fd++) close(fd);
            }
        }
        next = stop + 1;
    }
}

/// Parses the ppid out of /proc/<pid>/stat ("pid (comm) state ppid ..."; comm may hold spaces
/// and parentheses, so the last ')' is the anchor).
static pid_t parent_of(const char *pid_text) {
    char path[64] = "/proc/";
    size_t at = 6;
    for (const char *c = pid_text; *c && at < sizeof path - 6; c++) path[at++] = *c;
    memcpy(path + at, "/stat", 6);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    char text[1024];
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n <= 0) return -1;
    text[n] = 0;
    char *close_paren = NULL;
    for (char *c = text; *c; c++)
        if (*c == ')') close_paren = c;
    if (!close_paren || close_paren[1] != ' ' || !close_paren[2] || close_paren[3] != ' ') return -1;
    pid_t parent = 0;
    for (char *c = close_paren + 4; *c >= '0' && *c <= '9'; c++) parent = parent * 10 + (*c - '0');
    return parent;
}

/// Sends SIGKILL to every process whose parent is this one; how many there were.
static int kill_children(void) {
    pid_t self = getpid();
    int proc = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (proc < 0) return 0;
    char buffer[4096];
    int found = 0;
    for (;;) {
        long n = syscall(SYS_getdents64, proc, buffer, sizeof buffer);
        if (n <= 0) break;
        for (long offset = 0; offset < n;) {
            struct {
                unsigned long long ino;
                long long off;
                unsigned short reclen;
                unsigned char type;
                char name[];
            } *entry = (void *)(buffer + offset);
            offset += entry->reclen;
            if (entry->name[0] < '1' || entry->name[0] > '9') continue;
            pid_t pid = 0;
            for (const char *c = entry->name; *c >= '0' && *c <= '9'; c++) pid = pid * 10 + (*c - '0');
            if (pid != self && parent_of(entry->name) == self) {
                kill(pid, SIGKILL);
                found++;
            }
        }
    }
    close(proc);
    return found;
}

/// Kills everything the program started, wherever it went: this process is a child subreaper,
/// so a process whose parent dies becomes a child of this one (even one a library put in a
/// process group or session of its own, as Foundation's `Process` does). Kill the children,
/// reap one, repeat until there are none.
static void end_group(void) {
    for (;;) {
        kill_children();
        int status;
        pid_t done = waitpid(-1, &status, 0);
        if (done < 0 && errno == ECHILD) break;
    }
    _exit(137);
}

/// The supervisor: runs in the forked child; only async-signal-safe calls from here on.
static void supervise(const char *path, char *const argv[], char *const envp[], const int *fds, int count,
                      int report_fd, pid_t parent) {
    setpgid(0, 0);
    prctl(PR_SET_NAME, "tessera-group");
    // A report written after the parent died meets a pipe with no reader: that must fail with
    // EPIPE, not end the supervisor before it has stopped the program (the program gets the
    // default disposition back before exec).
    signal(SIGPIPE, SIG_IGN);
    // Keep only this group's descriptors: a concurrent spawn's pipes must not stay open here.
    int keep[17];
    for (int i = 0; i < count; i++) keep[i] = fds[i];
    keep[count] = report_fd;
    close_all_but(keep, count + 1);
    sigset_t watched, none;
    sigemptyset(&watched);
    sigaddset(&watched, SIGCHLD);
    sigaddset(&watched, SIGTERM);
    sigaddset(&watched, SIGINT);
    sigaddset(&watched, SIGHUP);
    sigprocmask(SIG_BLOCK, &watched, NULL);
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) end_group();  // the parent died before the request took effect

    int exec_error[2];
    if (pipe2(exec_error, O_CLOEXEC) != 0) {
        write_report(report_fd, 1, errno);
        _exit(127);
    }
    pid_t program = fork_plain();
    if (program < 0) {
        write_report(report_fd, 1, errno);
        _exit(127);
    }
    if (program == 0) {
        // The program: descriptors 0..count-1 from fds (moved above count first, so that one
        // dup2 cannot overwrite a source another still needs), defaults for every signal.
        int moved[16];
        for (int i = 0; i < count && i < 16; i++) {
            moved[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 64);
        }
        for (int i = 0; i < count && i < 16; i++) {
            if (moved[i] < 0 || dup2(moved[i], i) < 0) {
                int e = errno;
                write(exec_error[1], &e, sizeof e);
                _exit(127);
            }
        }
        cloexec_from(count);
        struct sigaction defaults;
        memset(&defaults, 0, sizeof defaults);
        defaults.sa_handler = SIG_DFL;
        for (int s = 1; s < NSIG; s++) {
            if (s != SIGKILL && s != SIGSTOP) sigaction(s, &defaults, NULL);
        }
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execve(path, argv, envp);
        int e = errno;
        write(exec_error[1], &e, sizeof e);
        _exit(127);
    }
    close(exec_error[1]);
    int e = 0;
    ssize_t n;
    do {
        n = read(exec_error[0], &e, sizeof e);
    } while (n < 0 && errno == EINTR);
    if (n == (ssize_t)sizeof e) {
        int status;
        while (waitpid(program, &status, 0) < 0 && errno == EINTR) {
        }
        write_report(report_fd, 1, e);
        _exit(127);
    }
    for (;;) {
        int signal = 0;
        if (sigwait(&watched, &signal) != 0) continue;
        if (signal != SIGCHLD) {
            write_report(report_fd, 2, signal);
            end_group();
        }
        int status;
        pid_t done = waitpid(program, &status, WNOHANG);
        if (done == program && (WIFEXITED(status) || WIFSIGNALED(status))) {
            write_report(report_fd, 0, status);
            end_group();
        }
    }
}

pid_t tessera_spawn_group(const char *path, char *const argv[], char *const envp[], const int *fds, int count,
                          int report_fd) {
    if (count > 16) return -EINVAL;
    char resolved[PATH_MAX];
    int error = resolve(path, resolved, sizeof resolved);
    if (error) return -error;
    pid_t parent = getpid();
    pid_t supervisor = fork_plain();
    if (supervisor < 0) return -errno;
    if (supervisor == 0) {
        supervise(resolved, argv, envp, fds, count, report_fd, parent);
        _exit(127);
    }
    // Also here, so that killing the group works even before the supervisor has run.
    setpgid(supervisor, supervisor);
    return supervisor;
}

static volatile sig_atomic_t received_stop_signal = 0;

static void record_stop_signal(int signal) {
    if (received_stop_signal == 0) received_stop_signal = signal;
}

void tessera_catch_stop_signals(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = record_stop_signal;
    action.sa_flags = SA_RESTART;  // repeats are absorbed: scancel and a forwarding parent may both send one
    sigemptyset(&action.sa_mask);
    sigaction(SIGTERM, &action, NULL);
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGHUP, &action, NULL);
    // A process may start with signals blocked (a test runner's worker thread, some launchers);
    // these three must reach this thread.
    sigset_t stops;
    sigemptyset(&stops);
    sigaddset(&stops, SIGTERM);
    sigaddset(&stops, SIGINT);
    sigaddset(&stops, SIGHUP);
    pthread_sigmask(SIG_UNBLOCK, &stops, NULL);
}

int tessera_stop_signal(void) { return received_stop_signal; }

int tessera_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }
