/*
 * fault.h - fault injection for the tests of "a dead rank stops the job".
 *
 * SLINFER_FAULT=kill@STEP:RANK makes rank RANK SIGKILL itself when it reaches
 * the named step: "init" (launcher joined, peers not yet connected),
 * "preflight", "placement". Never set it outside tests.
 */
#ifndef SL_CORE_FAULT_H
#define SL_CORE_FAULT_H

/* Kills this process when SLINFER_FAULT names this step and rank. */
void sl_fault_point(const char *step, int rank);

#endif /* SL_CORE_FAULT_H */
