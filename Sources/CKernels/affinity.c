// The number of CPUs this process may run on: `taskset`, `numactl`, a container's cpuset and
// Slurm's CPU binding all narrow it below the machine's count.

#define _GNU_SOURCE
#include <sched.h>

#include "CKernels.h"

int tessera_affinity_cpu_count(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return 0;
    return CPU_COUNT(&set);
}
