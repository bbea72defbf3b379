/* ember-c-daemon — a small C program on libember: loads a package, prepares a session (on one
 * variant, or on the whole ladder under a power/thermal envelope), runs it in a loop and prints
 * each Decision, then writes the outputs as raw bytes.
 *
 *     cc -std=c11 -O2 main.c $(pkg-config --cflags --libs ember) -o ember-c-daemon
 *     ./ember-c-daemon model.ember --envelope envelope.toml --runs 20 --input x.raw --output y.raw
 *
 * Inputs are raw little-endian bytes, exactly each input's byte count (one --input per input, in
 * order; missing ones are zeros). --output FILE writes output 0 (FILE.1, FILE.2 … the others).
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep under -std=c11 */
#include <ember.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { MAX_INPUTS = 16 };

static const char *dtype_name(int32_t dtype) {
    switch (dtype) {
    case EMBER_DTYPE_F32: return "f32";
    case EMBER_DTYPE_F16: return "f16";
    case EMBER_DTYPE_I8: return "i8";
    case EMBER_DTYPE_U8: return "u8";
    case EMBER_DTYPE_I32: return "i32";
    case EMBER_DTYPE_I64: return "i64";
    case EMBER_DTYPE_BOOL: return "bool";
    }
    return "?";
}

static void print_tensor(const char *kind, const ember_tensor_info *t) {
    printf("%s %s: %s[", kind, t->name, dtype_name(t->dtype));
    for (int32_t d = 0; d < t->rank; d++) printf(d ? "x%lld" : "%lld", (long long)t->dims[d]);
    printf("] %zu bytes\n", t->byte_count);
}

static int fail(const char *what, ember_status status) {
    fprintf(stderr, "ember-c-daemon: %s: %s: %s\n", what, ember_status_name(status), ember_last_error());
    return 1;
}

static int read_exactly(const char *path, void *data, size_t bytes) {
    FILE *f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "ember-c-daemon: %s: %s\n", path, strerror(errno)); return 1; }
    size_t got = fread(data, 1, bytes, f);
    int extra = fgetc(f) != EOF;
    fclose(f);
    if (got != bytes || extra) {
        fprintf(stderr, "ember-c-daemon: %s: expected exactly %zu bytes\n", path, bytes);
        return 1;
    }
    return 0;
}

static int write_all(const char *path, const void *data, size_t bytes) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, bytes, f) != bytes || fclose(f) != 0) {
        fprintf(stderr, "ember-c-daemon: cannot write %s: %s\n", path, strerror(errno));
        return 1;
    }
    return 0;
}

static void usage(void) {
    fprintf(stderr, "usage: ember-c-daemon PACKAGE [--variant NAME | --envelope FILE [--target FILE]]\n"
                    "       [--priority critical|normal|best_effort] [--runs N] [--interval-ms MS]\n"
                    "       [--threads N] [--input FILE.raw]... [--output FILE.raw]\n");
}

int main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0) { usage(); return argc < 2 ? 2 : 0; }
    const char *path = argv[1], *output = NULL, *inputs[MAX_INPUTS];
    size_t input_files = 0;
    long runs = 1, interval_ms = 0;
    ember_priority priority = EMBER_PRIORITY_NORMAL;
    ember_session_options options;
    ember_session_options_init(&options);
    for (int i = 2; i < argc; i++) {
        const char *flag = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (!value) { usage(); return 2; }
        i++;
        if (strcmp(flag, "--variant") == 0) options.variant = value;
        else if (strcmp(flag, "--envelope") == 0) options.envelope_path = value;
        else if (strcmp(flag, "--target") == 0) options.device_profile_path = value;
        else if (strcmp(flag, "--threads") == 0) options.threads = atoi(value);
        else if (strcmp(flag, "--runs") == 0) runs = atol(value);
        else if (strcmp(flag, "--interval-ms") == 0) interval_ms = atol(value);
        else if (strcmp(flag, "--output") == 0) output = value;
        else if (strcmp(flag, "--input") == 0 && input_files < MAX_INPUTS) inputs[input_files++] = value;
        else if (strcmp(flag, "--priority") == 0) {
            if (strcmp(value, "critical") == 0) priority = EMBER_PRIORITY_CRITICAL;
            else if (strcmp(value, "normal") == 0) priority = EMBER_PRIORITY_NORMAL;
            else if (strcmp(value, "best_effort") == 0) priority = EMBER_PRIORITY_BEST_EFFORT;
            else { usage(); return 2; }
        } else { usage(); return 2; }
    }
    if (runs < 1) { usage(); return 2; }

    printf("libember %s (API %d)\n", ember_version(), ember_api_version());
    ember_package *package = NULL;
    ember_status status = ember_package_open(path, NULL, &package);
    if (status != EMBER_OK) return fail("open", status);
    size_t variants = 0;
    ember_package_variant_count(package, &variants);
    for (size_t v = 0; v < variants; v++) {
        ember_variant_info info;
        if (ember_package_variant(package, v, &info) == EMBER_OK)
            printf("variant %zu: %s, %llu MACs, %llu weight bytes\n", v, info.name, (unsigned long long)info.macs,
                   (unsigned long long)info.weight_bytes);
    }
    ember_session *session = NULL;
    status = ember_session_create(package, &options, &session);
    ember_package_close(package); /* the session keeps the package */
    if (status != EMBER_OK) return fail("session", status);

    size_t input_count = 0, output_count = 0;
    ember_session_input_count(session, &input_count);
    ember_session_output_count(session, &output_count);
    for (size_t i = 0; i < input_count; i++) {
        ember_tensor_info info;
        ember_session_input_info(session, i, &info);
        print_tensor("input", &info);
        void *data;
        size_t bytes;
        if ((status = ember_session_input_buffer(session, i, &data, &bytes)) != EMBER_OK) return fail("input", status);
        if (i < input_files) {
            if (read_exactly(inputs[i], data, bytes)) return 1;
        } else {
            memset(data, 0, bytes);
        }
    }
    for (size_t i = 0; i < output_count; i++) {
        ember_tensor_info info;
        ember_session_output_info(session, i, &info);
        print_tensor("output", &info);
    }

    for (long r = 1; r <= runs; r++) {
        status = ember_session_run(session, priority);
        if (status == EMBER_ERROR_OVER_BUDGET) {
            printf("run %ld: shed: %s\n", r, ember_last_error());
        } else if (status != EMBER_OK) {
            return fail("run", status);
        } else {
            ember_decision d;
            ember_session_last_decision(session, &d);
            printf("run %ld: variant %s, %d thread(s), predicted %.3f ms %.3f mJ, allowed %.0f mW%s: %s\n", r,
                   d.variant, d.threads, d.predicted_latency_ms, d.predicted_energy_mj, d.allowed_mw,
                   d.throttled ? ", throttled" : "", d.reason);
        }
        if (interval_ms > 0 && r < runs) {
            struct timespec pause = {interval_ms / 1000, (interval_ms % 1000) * 1000000L};
            nanosleep(&pause, NULL);
        }
    }

    ember_telemetry t;
    ember_session_telemetry(session, &t);
    printf("telemetry: %llu runs, %llu shed, %llu switches, last %.3f ms, arena %llu bytes, mapped %llu bytes\n",
           (unsigned long long)t.runs, (unsigned long long)t.shed, (unsigned long long)t.variant_switches,
           t.last_latency_ms, (unsigned long long)t.arena_bytes, (unsigned long long)t.mapped_bytes);
    for (size_t i = 0; output && i < output_count; i++) {
        const void *data;
        size_t bytes;
        if ((status = ember_session_output_buffer(session, i, &data, &bytes)) != EMBER_OK) return fail("output", status);
        char name[4096];
        if (i == 0) snprintf(name, sizeof name, "%s", output);
        else snprintf(name, sizeof name, "%s.%zu", output, i);
        if (write_all(name, data, bytes)) return 1;
    }
    ember_session_destroy(session);
    return 0;
}
