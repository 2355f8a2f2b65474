/* fault.c - see fault.h. */
#include "config.h"

#include "core/fault.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

void sl_fault_point(const char *step, int rank)
{
    const char *spec = getenv("SLINFER_FAULT");
    char want[32];
    int want_rank;

    if (spec == NULL || sscanf(spec, "kill@%31[a-z]:%d", want, &want_rank) != 2)
        return;
    if (strcmp(want, step) == 0 && want_rank == rank) {
        sl_warn("SLINFER_FAULT=%s: killing this rank at %s", spec, step);
        raise(SIGKILL);
    }
}
