/* cyem_openmp.h -- the few OpenMP run-time calls cyem needs, with serial
 * stand-ins when the extension is built without OpenMP (for instance with a
 * compiler that lacks it). The build then still succeeds and runs on one thread. */
#ifndef CYEM_OPENMP_H
#define CYEM_OPENMP_H
#ifdef _OPENMP
#include <omp.h>
static int cyem_openmp_enabled(void) { return 1; }
static int cyem_omp_max_threads(void) { return omp_get_max_threads(); }
static int cyem_openmp_version(void) { return _OPENMP; }
#else
static int cyem_openmp_enabled(void) { return 0; }
static int cyem_omp_max_threads(void) { return 1; }
static int cyem_openmp_version(void) { return 0; }
#endif
#endif
