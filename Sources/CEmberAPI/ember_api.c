// CEmberAPI — the C half of libember: the public header (include/ember.h), the thread-local
// last-error buffer, and the functions that need no Swift. The rest is Sources/EmberC (@_cdecl).
#include "ember.h"
#include "ember_api_internal.h"

#include <string.h>

enum { EMBER_ERROR_CAPACITY = 2048 };
static _Thread_local char last_error[EMBER_ERROR_CAPACITY];

void ember_api_copy_text(char *buffer, size_t capacity, const char *text, size_t length) {
    if (buffer == NULL || capacity == 0) return;
    if (text == NULL) length = 0;
    if (length >= capacity) {
        length = capacity - 1;
        // Do not cut a UTF-8 sequence: back up over continuation bytes.
        while (length > 0 && ((unsigned char)text[length] & 0xC0) == 0x80) length--;
    }
    if (length > 0) memcpy(buffer, text, length);
    buffer[length] = '\0';
}

void ember_api_set_error(const char *message, size_t length) {
    ember_api_copy_text(last_error, EMBER_ERROR_CAPACITY, message, length);
}

const char *ember_last_error(void) { return last_error; }

int32_t ember_api_version(void) { return EMBER_API_VERSION; }

const char *ember_status_name(ember_status status) {
    switch (status) {
    case EMBER_OK: return "EMBER_OK";
    case EMBER_ERROR_INVALID_ARGUMENT: return "EMBER_ERROR_INVALID_ARGUMENT";
    case EMBER_ERROR_INVALID_INPUT: return "EMBER_ERROR_INVALID_INPUT";
    case EMBER_ERROR_MALFORMED_PACKAGE: return "EMBER_ERROR_MALFORMED_PACKAGE";
    case EMBER_ERROR_INCOMPATIBLE_PACKAGE: return "EMBER_ERROR_INCOMPATIBLE_PACKAGE";
    case EMBER_ERROR_INVALID_GRAPH: return "EMBER_ERROR_INVALID_GRAPH";
    case EMBER_ERROR_UNSUPPORTED: return "EMBER_ERROR_UNSUPPORTED";
    case EMBER_ERROR_IO: return "EMBER_ERROR_IO";
    case EMBER_ERROR_LIMIT_EXCEEDED: return "EMBER_ERROR_LIMIT_EXCEEDED";
    case EMBER_ERROR_OVER_BUDGET: return "EMBER_ERROR_OVER_BUDGET";
    case EMBER_ERROR_INVALID_CONFIGURATION: return "EMBER_ERROR_INVALID_CONFIGURATION";
    case EMBER_ERROR_UNTRUSTED_PACKAGE: return "EMBER_ERROR_UNTRUSTED_PACKAGE";
    case EMBER_ERROR_INTERNAL: return "EMBER_ERROR_INTERNAL";
    }
    return "EMBER_ERROR_UNKNOWN";
}

void ember_package_options_init(ember_package_options *options) {
    if (options == NULL) return;
    memset(options, 0, sizeof *options);
    options->struct_size = sizeof *options;
    options->require_signature = 1;
}

void ember_session_options_init(ember_session_options *options) {
    if (options == NULL) return;
    memset(options, 0, sizeof *options);
    options->struct_size = sizeof *options;
}
