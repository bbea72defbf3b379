/* Internal to libember: not installed. The Swift half of the C API (Sources/EmberC) stores the
 * calling thread's last error message here. */
#ifndef EMBER_API_INTERNAL_H
#define EMBER_API_INTERNAL_H

#include <stddef.h>

/* Copies `length` bytes of `message` (truncated to the buffer, at a UTF-8 boundary) as the calling
 * thread's ember_last_error(). */
void ember_api_set_error(const char *message, size_t length);

#endif
