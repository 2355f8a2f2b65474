/*
 * version.h - what this binary is: version, git revision, how it was
 * configured, and the libraries it runs with. `slinfer --version` prints it,
 * and the preflight compares the version across ranks.
 */
#ifndef SL_CORE_VERSION_H
#define SL_CORE_VERSION_H

#include <stdio.h>

/* "0.1.0" */
const char *sl_version(void);

/* "v0.1.0-12-gabc1234-dirty", or "unknown" outside a git checkout/tarball. */
const char *sl_git_revision(void);

/* The full report: version, revision, configure arguments, compiler, the
 * run-time versions of every dependency, CUDA/cuBLAS/NCCL when built with
 * them (and the driver, when one is present). */
void sl_version_report(FILE *out);

#endif /* SL_CORE_VERSION_H */
