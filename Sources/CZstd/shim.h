// The system zstd (Debian/Ubuntu: libzstd-dev). ZSTD_STATIC_LINKING_ONLY is not
// defined: Ember uses only the stable API.
#include <zstd.h>
