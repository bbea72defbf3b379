/* Internal to libember: not installed. The Swift half of the C API (Sources/EmberC) stores the
 * calling thread's last error message here. */
#ifndef EMBER_API_INTERNAL_H
#define EMBER_API_INTERNAL_H

#include <stddef.h>

/* Copies `length` bytes of `text` into `buffer` as a NUL-terminated string of at most `capacity` bytes
 * in all, truncated at a UTF-8 boundary. */
void ember_api_copy_text(char *buffer, size_t capacity, const char *text, size_t length);

/* Copies `length` bytes of `message` (truncated like ember_api_copy_text) as the calling thread's
 * ember_last_error(). */
void ember_api_set_error(const char *message, size_t length);

#endif
