#ifndef STOREBENCH_CJEMALLOC_SHIM_H
#define STOREBENCH_CJEMALLOC_SHIM_H
#include <jemalloc/jemalloc.h>
#endif
