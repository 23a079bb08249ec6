#ifndef STOREBENCH_CJEMALLOC_SHIM_H
#define STOREBENCH_CJEMALLOC_SHIM_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <stddef.h>
#include <jemalloc/jemalloc.h>

/// Path of the shared object that the process's `malloc` resolves to, or NULL. Used to confirm
/// that jemalloc, not glibc, serves the allocations that the reports measure.
static inline const char *cjemalloc_malloc_provider(void) {
    void *symbol = dlsym(RTLD_DEFAULT, "malloc");
    Dl_info info;
    if (symbol == NULL || dladdr(symbol, &info) == 0) return NULL;
    return info.dli_fname;
}
#endif
