#ifndef TESSERA_CPROCESS_H
#define TESSERA_CPROCESS_H

#include <sys/types.h>

/// What a supervisor reports about the program it ran, through its report pipe.
typedef struct {
    /// 0: `value` is the program's wait status; 1: `value` is the errno of a failed exec;
    /// 2: the supervisor received stop signal `value` (SIGTERM, SIGINT, SIGHUP) and stopped the run.
    int kind;
    int value;
} tessera_child_report;

/// Starts `path` (a path, or a name looked up in this process's PATH) with `argv` and `envp` under a
/// small supervisor process that leads a new process group, and returns the supervisor's pid
/// (or -errno when it cannot be started).
///
/// In the program, descriptor `i` is `fds[i]` for `i < count`; every other descriptor is closed
/// at exec, signal dispositions are the defaults and no signal is blocked.
///
/// The supervisor kills every descendant of its own (the program, processes the program started
/// in any process group or session, `swift-frontend` under a compiler driver) and exits when:
/// - the program exits: it first writes one `tessera_child_report` to `report_fd`;
/// - this process dies, however it dies (even by SIGKILL): Linux's parent-death signal;
/// - it receives SIGTERM, SIGINT or SIGHUP: `kill(pid, SIGTERM)` stops the whole run; it first
///   writes a report of kind 2 naming the signal.
pid_t tessera_spawn_group(const char *path, char *const argv[], char *const envp[], const int *fds, int count,
                          int report_fd);

/// `pipe2(fds, O_CLOEXEC)`: a pipe whose ends no exec'd program inherits by accident.
int tessera_pipe_cloexec(int fds[2]);

/// Makes SIGTERM, SIGINT and SIGHUP set a flag instead of ending this process; the first one
/// received is returned by `tessera_stop_signal`. The three are unblocked on the calling thread,
/// which should be the main thread. Repeats are absorbed (Slurm's scancel signals every process
/// of a job, and a parent may pass the same signal on); SIGKILL still ends the process at once,
/// and its children with it.
void tessera_catch_stop_signals(void);

/// The first SIGTERM, SIGINT or SIGHUP received since `tessera_catch_stop_signals`, or 0.
int tessera_stop_signal(void);

#endif
