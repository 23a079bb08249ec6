// The CPU's CRC-32C instruction, compiled for SSE4.2 (and PCLMUL) in these functions only and
// chosen at run time, so the binary still runs on CPUs without it (the Swift table-driven code
// is used there).
#include "hardware_crc.h"
#include <string.h>

#if defined(__x86_64__)
#include <nmmintrin.h>
#include <wmmintrin.h>

static int has_carryless_multiply = 0;

int storebench_crc32c_hardware_available(void) {
    __builtin_cpu_init();
    has_carryless_multiply = __builtin_cpu_supports("pclmul") ? 1 : 0;
    return __builtin_cpu_supports("sse4.2") ? 1 : 0;
}

// One stream: eight bytes per instruction, but each instruction waits for the previous one's
// result (three cycles), so about 2.7 bytes per cycle.
__attribute__((target("sse4.2")))
static uint64_t crc_one_stream(uint64_t crc, const unsigned char **cursor, size_t words) {
    const unsigned char *p = *cursor;
    for (size_t i = 0; i < words; i++) {
        uint64_t word;
        memcpy(&word, p + 8 * i, 8);
        crc = _mm_crc32_u64(crc, word);
    }
    *cursor = p + 8 * words;
    return crc;
}

// The register after `crc` is followed by the zero bytes that `shift` stands for: a carry-less
// product with shift = x^(8n − 33) mod P (reflected), reduced by one CRC instruction (which
// multiplies by x^32 mod P; the reflected product supplies the remaining x).
__attribute__((target("sse4.2,pclmul")))
static inline uint64_t crc_shift(uint64_t crc, uint32_t shift) {
    __m128i product = _mm_clmulepi64_si128(_mm_cvtsi64_si128((long long)(uint32_t)crc),
                                           _mm_cvtsi32_si128((int)shift), 0x00);
    return _mm_crc32_u64(0, (uint64_t)_mm_cvtsi128_si64(product));
}

// Three interleaved streams over consecutive blocks of `block` bytes: the CPU runs three
// independent instructions at once, so nearly three times one stream's rate. The register is
// linear in its input, so the three partial registers combine as
// crc(A‖B‖C) = shift(crcA, 2·block) ⊕ shift(crcB, block) ⊕ crcC.
// Block sizes: 1360 bytes (three fill a 4 KiB chunk but 16 bytes) and 168 (a 512-byte chunk
// but 8); the shifts are x^(8·1360−33), x^(16·1360−33), x^(8·168−33), x^(16·168−33) mod P,
// reflected (a unit test compares the result with the table-driven code at many lengths).
__attribute__((target("sse4.2,pclmul")))
static uint64_t crc_three_streams(uint64_t crc, const unsigned char **cursor, size_t *length,
                                  size_t block, uint32_t shift_one, uint32_t shift_two) {
    const unsigned char *p = *cursor;
    size_t words = block / 8;
    while (*length >= 3 * block) {
        uint64_t a = crc, b = 0, c = 0;
        for (size_t i = 0; i < words; i++) {
            uint64_t wa, wb, wc;
            memcpy(&wa, p + 8 * i, 8);
            memcpy(&wb, p + block + 8 * i, 8);
            memcpy(&wc, p + 2 * block + 8 * i, 8);
            a = _mm_crc32_u64(a, wa);
            b = _mm_crc32_u64(b, wb);
            c = _mm_crc32_u64(c, wc);
        }
        crc = crc_shift(a, shift_two) ^ crc_shift(b, shift_one) ^ c;
        p += 3 * block;
        *length -= 3 * block;
    }
    *cursor = p;
    return crc;
}

__attribute__((target("sse4.2")))
uint32_t storebench_crc32c_hardware_update(uint32_t state, const void *bytes, size_t length) {
    const unsigned char *p = (const unsigned char *)bytes;
    uint64_t crc = state;
    if (has_carryless_multiply) {
        crc = crc_three_streams(crc, &p, &length, 1360, 0x3f70cc6fu, 0x5aa1f3cfu);
        crc = crc_three_streams(crc, &p, &length, 168, 0x1b3d8f29u, 0xa60ce07bu);
    }
    crc = crc_one_stream(crc, &p, length / 8);
    length %= 8;
    uint32_t crc32 = (uint32_t)crc;
    while (length > 0) {
        crc32 = _mm_crc32_u8(crc32, *p);
        p++;
        length--;
    }
    return crc32;
}
#else
int storebench_crc32c_hardware_available(void) { return 0; }

uint32_t storebench_crc32c_hardware_update(uint32_t state, const void *bytes, size_t length) {
    (void)bytes;
    (void)length;
    return state;
}
#endif
