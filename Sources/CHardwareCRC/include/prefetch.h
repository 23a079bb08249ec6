#ifndef STOREBENCH_PREFETCH_H
#define STOREBENCH_PREFETCH_H

/// Asks the CPU to bring the cache line holding `address` in, without waiting for it: a scan that
/// knows its next entries' addresses overlaps their memory latencies instead of paying them one
/// after another. A hint only: it never faults, whatever the address.
static inline void storebench_prefetch(const void *address) {
    __builtin_prefetch(address, 0, 3);
}

/// The same hint for data wanted a little later: brought into the second-level cache, whose
/// miss buffers are more than the first level's.
static inline void storebench_prefetch_near(const void *address) {
    __builtin_prefetch(address, 0, 2);
}

#endif
