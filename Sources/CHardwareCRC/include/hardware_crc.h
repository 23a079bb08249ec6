#ifndef STOREBENCH_HARDWARE_CRC_H
#define STOREBENCH_HARDWARE_CRC_H

#include <stddef.h>
#include <stdint.h>

/// 1 when the CPU has a CRC-32C instruction (x86-64 SSE4.2), else 0.
int storebench_crc32c_hardware_available(void);

/// Updates the raw (not inverted) CRC-32C register `state` with `length` bytes at `bytes`, using
/// the CPU's instruction. Call only when storebench_crc32c_hardware_available() returned 1.
uint32_t storebench_crc32c_hardware_update(uint32_t state, const void *bytes, size_t length);

#endif
