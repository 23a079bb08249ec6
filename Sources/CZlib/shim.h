// Debian's zlib1g-dev: streaming inflate of `.gz` traces.
#include <zlib.h>
