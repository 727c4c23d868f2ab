// The spin-wait hint used by TesseraCore's worker threads while they wait for work.

#include "CKernels.h"

void tessera_spin_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}
