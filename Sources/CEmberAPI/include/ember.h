/* ember.h — the C API of Ember (libember): open a .ember package, prepare a session on one of
 * its variants (or on its whole ladder under a power/thermal envelope), run it, read what the
 * budget scheduler decided.
 *
 *     ember_package *pkg; ember_session *s;
 *     if (ember_package_open("model.ember", NULL, &pkg) != EMBER_OK) { puts(ember_last_error()); ... }
 *     ember_session_options o; ember_session_options_init(&o);
 *     ember_session_create(pkg, &o, &s);
 *     ember_package_close(pkg);            // the session keeps what it needs
 *     void *in; size_t in_bytes; ember_session_input_buffer(s, 0, &in, &in_bytes);
 *     ... fill in ...
 *     ember_session_run(s, EMBER_PRIORITY_NORMAL);
 *     const void *out; size_t out_bytes; ember_session_output_buffer(s, 0, &out, &out_bytes);
 *     ember_session_destroy(s);
 *
 * Build: cc app.c $(pkg-config --cflags --libs ember)
 *
 * Threads: the library is thread-safe; one session is not. Use one session from one thread at a
 * time (or guard it with your own lock); packages may be shared by sessions on any thread.
 *
 * Errors: every function that can fail returns an ember_status. On failure,
 * ember_last_error() gives a one-line message saying what and where, for the calling thread, until
 * its next failing call. Every pointer argument is checked for NULL, every index and length
 * against the model, and every handle against the live handles of this process: a destroyed or
 * foreign handle is EMBER_ERROR_INVALID_ARGUMENT, never a crash.
 *
 * Memory: after ember_session_create, ember_session_run on a fixed variant allocates nothing.
 */
#ifndef EMBER_H
#define EMBER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped when a declaration below changes incompatibly. */
#define EMBER_API_VERSION 1
/* The most dims a tensor has. */
#define EMBER_MAX_RANK 8

typedef enum ember_status {
    EMBER_OK = 0,
    /* A NULL pointer, an unknown handle, an index out of range, a wrong length or option. */
    EMBER_ERROR_INVALID_ARGUMENT = 1,
    /* An input tensor does not match the model (dtype, shape, bytes). */
    EMBER_ERROR_INVALID_INPUT = 2,
    /* The package is not a valid .ember file (names the section and byte). */
    EMBER_ERROR_MALFORMED_PACKAGE = 3,
    /* The package needs a newer Ember. */
    EMBER_ERROR_INCOMPATIBLE_PACKAGE = 4,
    /* The graph is invalid or uses what this build cannot run. */
    EMBER_ERROR_INVALID_GRAPH = 5,
    EMBER_ERROR_UNSUPPORTED = 6,
    /* A file could not be read (names the path and errno). */
    EMBER_ERROR_IO = 7,
    /* A memory or size limit would be exceeded (nothing was allocated). */
    EMBER_ERROR_LIMIT_EXCEEDED = 8,
    /* The envelope's budget is spent: the request was shed (retry later). */
    EMBER_ERROR_OVER_BUDGET = 9,
    /* An envelope or device profile file is wrong (names the file and key). */
    EMBER_ERROR_INVALID_CONFIGURATION = 10,
    /* Trusted keys were given and the package is unsigned, signed by another key, or was changed
     * after signing. */
    EMBER_ERROR_UNTRUSTED_PACKAGE = 11,
    EMBER_ERROR_INTERNAL = 99
} ember_status;

/* Element types (the values of docs/FORMAT.md). */
typedef enum ember_dtype {
    EMBER_DTYPE_F32 = 1,
    EMBER_DTYPE_F16 = 2,
    EMBER_DTYPE_I8 = 3,
    EMBER_DTYPE_U8 = 4,
    EMBER_DTYPE_I32 = 5,
    EMBER_DTYPE_I64 = 6,
    EMBER_DTYPE_BOOL = 7,
    /* 8 is INT4 block-32, a weight encoding that never reaches an input or output. */
    EMBER_DTYPE_I16 = 9,
    EMBER_DTYPE_U16 = 10,
    EMBER_DTYPE_U32 = 11,
    EMBER_DTYPE_U64 = 12
} ember_dtype;

/* Priority of a request under an envelope (ignored on a fixed variant). */
typedef enum ember_priority {
    EMBER_PRIORITY_CRITICAL = 0,   /* always served, on the cheapest variant if need be */
    EMBER_PRIORITY_NORMAL = 1,
    EMBER_PRIORITY_BEST_EFFORT = 2 /* shed first when the budget is spent */
} ember_priority;

typedef struct ember_package ember_package;
typedef struct ember_session ember_session;

/* One variant (rung) of a package's ladder. Strings stay valid while the package handle lives. */
typedef struct ember_variant_info {
    const char *name;
    float quality;              /* against the reference model; NaN when not measured */
    const char *quality_metric; /* e.g. "sqnr_db"; "" when not measured */
    uint64_t macs;
    uint64_t weight_bytes;
    uint64_t arena_bytes;
} ember_variant_info;

/* A graph input or output. `name` stays valid while the session lives; dims change only with
 * ember_session_reshape. */
typedef struct ember_tensor_info {
    const char *name;
    int32_t dtype;      /* an ember_dtype */
    int32_t rank;
    int64_t dims[EMBER_MAX_RANK];
    /* Bounds of a model's dynamic dims (ember pack --dim seq<=128): equal to dims when fixed. */
    int64_t max_dims[EMBER_MAX_RANK];
    size_t byte_count;  /* at the current dims */
} ember_tensor_info;

typedef struct ember_session_options {
    /* sizeof(ember_session_options); ember_session_options_init sets it. */
    uint32_t struct_size;
    /* The variant to run (NULL: the first, best rung). Excludes envelope_path. */
    const char *variant;
    /* A power/thermal envelope (TOML, as for `ember run --envelope`): every variant is prepared and
     * the budget scheduler picks one per run. NULL: a fixed variant. */
    const char *envelope_path;
    /* A device profile (TOML, as for `ember run --target`) for the scheduler's cost predictions;
     * NULL: one timed run per variant. Only with envelope_path. */
    const char *device_profile_path;
    /* Threads per run (1…64; 0 means 1). Under an envelope, the most one run may get. */
    int32_t threads;
    /* Most memory this session may use (arena, prepared parameters); 0: the package's limit. */
    uint64_t memory_limit_bytes;
} ember_session_options;

/* What the last ember_session_run decided. Strings stay valid until the next run. */
typedef struct ember_decision {
    int32_t variant_index;
    const char *variant;
    int32_t threads;
    double predicted_latency_ms;
    double predicted_energy_mj;
    double allowed_mw;          /* power the scheduler allowed; 0 on a fixed variant */
    int32_t throttled;          /* 1 when the thermal controller holds the ladder down */
    const char *reason;
} ember_decision;

/* Counters and the latest readings of a session. Unknown readings are NaN. */
typedef struct ember_telemetry {
    uint64_t runs;              /* runs that ran */
    uint64_t shed;              /* runs refused with EMBER_ERROR_OVER_BUDGET */
    uint64_t variant_switches;  /* times the chosen variant changed */
    int32_t current_variant;
    int32_t throttled;
    double last_latency_ms;
    double temperature_c;       /* hottest thermal zone at the last run (envelope only) */
    double allowed_mw;
    double energy_left_mj;      /* in the envelope's power window */
    uint64_t arena_bytes;       /* all prepared variants */
    uint64_t mapped_bytes;      /* the package file held in memory */
    uint64_t memory_used_bytes; /* charged to the session's memory account */
} ember_telemetry;

/* The library's version, e.g. "0.10.0". */
const char *ember_version(void);
/* EMBER_API_VERSION of the library (compare with the header's). */
int32_t ember_api_version(void);
/* The message of the calling thread's last failure ("" if none). */
const char *ember_last_error(void);
/* "EMBER_OK", "EMBER_ERROR_IO", … */
const char *ember_status_name(ember_status status);

/* How a package is opened. Fields may be added at the end; struct_size tells them apart. */
typedef struct ember_package_options {
    /* sizeof(ember_package_options); ember_package_options_init sets it. */
    uint32_t struct_size;
    /* Caps decompressed weights, arenas and prepared parameters of all sessions on the package
     * (0: 1 GiB). A package that needs more is refused before anything is allocated. */
    uint64_t memory_limit_bytes;
    /* How the file is held: 0 automatic (a read lease, else a private copy), 1 lease only,
     * 2 private copy. Either way replacing or truncating the file cannot disturb a session. */
    int32_t file_protection;
    /* A directory of trusted public keys (NAME.pub from `ember keygen`). When set, the package
     * must be signed (`ember sign`) by one of them and unchanged since: else
     * EMBER_ERROR_UNTRUSTED_PACKAGE. NULL: signatures are not checked. */
    const char *trusted_keys_dir;
    /* With trusted_keys_dir: 1 (the default) refuses unsigned packages; 0 accepts them unverified
     * (a signed package must still verify). */
    int32_t require_signature;
} ember_package_options;

void ember_package_options_init(ember_package_options *options);
/* Opens and validates a package file (options NULL: the defaults). */
ember_status ember_package_open(const char *path, const ember_package_options *options, ember_package **out);
/* The same from bytes in memory, which are copied (the caller may free them on return). */
ember_status ember_package_open_memory(const void *data, size_t size, const ember_package_options *options,
                                       ember_package **out);
/* Releases the handle; sessions created from it keep working. NULL is ignored. */
ember_status ember_package_close(ember_package *package);
ember_status ember_package_variant_count(const ember_package *package, size_t *count);
ember_status ember_package_variant(const ember_package *package, size_t index, ember_variant_info *info);

/* Fills options with the defaults (best variant, no envelope, 1 thread, the package's limit). */
void ember_session_options_init(ember_session_options *options);
/* Prepares a session (options NULL: the defaults). Plans its arena and prepares every kernel. */
ember_status ember_session_create(ember_package *package, const ember_session_options *options,
                                  ember_session **out);
/* NULL is ignored. */
ember_status ember_session_destroy(ember_session *session);

ember_status ember_session_input_count(const ember_session *session, size_t *count);
ember_status ember_session_output_count(const ember_session *session, size_t *count);
ember_status ember_session_input_info(const ember_session *session, size_t index, ember_tensor_info *info);
ember_status ember_session_output_info(const ember_session *session, size_t index, ember_tensor_info *info);

/* Session-owned buffers: write inputs in place, run, read outputs in place. The pointers stay
 * valid until ember_session_reshape or ember_session_destroy. */
ember_status ember_session_input_buffer(ember_session *session, size_t index, void **data, size_t *bytes);
ember_status ember_session_output_buffer(const ember_session *session, size_t index, const void **data,
                                         size_t *bytes);
/* One inference on the input buffers as they are. Under an envelope the scheduler picks the
 * variant (or sheds the run: EMBER_ERROR_OVER_BUDGET, outputs unchanged). */
ember_status ember_session_run(ember_session *session, ember_priority priority);

/* Caller-owned buffers: inputs[i] holds input_bytes[i] bytes of input i (exactly its byte_count),
 * outputs[i] receives output i (output_bytes[i] at least its byte_count). The counts must be the
 * model's. The data is copied in and out. */
ember_status ember_session_run_with(ember_session *session, ember_priority priority,
                                    const void *const *inputs, const size_t *input_bytes, size_t input_count,
                                    void *const *outputs, const size_t *output_bytes, size_t output_count);

/* For a model with dynamic dims: prepares for inputs of these dims, within the bounds. dims holds
 * every input's dims one after another, ranks[i] of them for input i. Re-plans once per new
 * shape (into the same arena); the same shape again does nothing. */
ember_status ember_session_reshape(ember_session *session, const int64_t *dims, const size_t *ranks,
                                   size_t input_count);

ember_status ember_session_last_decision(const ember_session *session, ember_decision *decision);
ember_status ember_session_telemetry(const ember_session *session, ember_telemetry *telemetry);

#ifdef __cplusplus
}
#endif
#endif /* EMBER_H */
