#ifndef STOREBENCH_SPIN_H
#define STOREBENCH_SPIN_H

/// Tells the CPU this thread is spinning on a lock (x86 `pause`, Arm `yield`): the spin yields
/// the core's resources to its sibling and does not flood the memory system with reads.
static inline void storebench_spin_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

#endif
