// Standard-output buffering for the notebook channel. C's `stdout` is a mutable global, which
// Swift 6 will not read outside an unsafe context; these name it on the C side instead.

#include <stdio.h>

#include "CKernels.h"

void tessera_stdout_line_buffered(void) { setvbuf(stdout, NULL, _IOLBF, 0); }

void tessera_stdout_flush(void) { fflush(stdout); }
