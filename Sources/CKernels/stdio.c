// Standard-output buffering for the notebook channel. C's `stdout` is a mutable global, which
// Swift 6 will not read outside an unsafe context; these name it on the C side instead.

#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "CKernels.h"

void tessera_stdout_line_buffered(void) { setvbuf(stdout, NULL, _IOLBF, 0); }

void tessera_stdout_flush(void) { fflush(stdout); }

// The crash signals whose earlier handlers (Swift's backtracer) run after stdout is flushed. All
// are faults that re-run the faulting instruction when the handler returns (SIGTRAP is not).
static const int crash_signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE};
enum { crash_signal_count = sizeof crash_signals / sizeof crash_signals[0] };
static struct sigaction previous_actions[crash_signal_count];

static void flush_then_crash(int signal, siginfo_t *info, void *context) {
    (void)context;
    // A crash inside stdio holds its lock: then the buffer is left alone rather than waited for.
    if (ftrylockfile(stdout) == 0) {
        fflush_unlocked(stdout);
        funlockfile(stdout);
    }
    for (int i = 0; i < crash_signal_count; i++) {
        if (crash_signals[i] == signal) sigaction(signal, &previous_actions[i], NULL);
    }
    // Returning re-runs the faulting instruction, which now reaches the earlier handler; a signal
    // sent by kill or raise is sent again.
    if (info == NULL || info->si_code <= 0) raise(signal);
}

void tessera_stdout_flush_on_crash(void) {
    // The handler must run even when the stack is exhausted: make sure this thread has an
    // alternate signal stack (Swift's backtracer usually installed one already).
    stack_t current;
    if (sigaltstack(NULL, &current) == 0 && (current.ss_flags & SS_DISABLE)) {
        static char alternate[1 << 16];
        stack_t stack = {.ss_sp = alternate, .ss_size = sizeof alternate, .ss_flags = 0};
        sigaltstack(&stack, NULL);
    }
    for (int i = 0; i < crash_signal_count; i++) {
        struct sigaction action;
        memset(&action, 0, sizeof action);
        action.sa_sigaction = flush_then_crash;
        action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
        sigemptyset(&action.sa_mask);
        sigaction(crash_signals[i], &action, &previous_actions[i]);
    }
}
