// Debian's libzstd-dev: streaming decompression of `.zst` traces.
#include <zstd.h>
