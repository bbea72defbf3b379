/* capi_rss — resident memory of N sessions on one package through the C API (libember):
 *
 *     cc -O2 tools/capi_rss.c $(pkg-config --cflags --libs ember) -o capi_rss && ./capi_rss model.ember 10
 */
#define _POSIX_C_SOURCE 200809L
#include <ember.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static long rss_kib(void) {
    FILE *f = fopen("/proc/self/status", "r"); char line[256]; long kib = -1;
    while (f && fgets(line, sizeof line, f)) if (strncmp(line, "VmRSS:", 6) == 0) kib = atol(line + 6);
    if (f) fclose(f);
    return kib;
}
int main(int argc, char **argv) {
    if (argc != 3 || atoi(argv[2]) < 1 || atoi(argv[2]) > 64) { fprintf(stderr, "usage: capi_rss PACKAGE SESSIONS(1-64)\n"); return 2; }
    int n = atoi(argv[2]);
    long before = rss_kib();
    ember_package *p; if (ember_package_open(argv[1], NULL, &p)) { puts(ember_last_error()); return 1; }
    long opened = rss_kib();
    ember_session *s[64];
    for (int i = 0; i < n; i++) {
        if (ember_session_create(p, NULL, &s[i])) { puts(ember_last_error()); return 1; }
        ember_session_run(s[i], EMBER_PRIORITY_NORMAL);
    }
    ember_telemetry t; ember_session_telemetry(s[0], &t);
    printf("%d session(s): RSS %ld KiB at start, %ld KiB with the package open, %ld KiB with the sessions (arena %llu B each, package %llu B, charged %llu B)\n",
           n, before, opened, rss_kib(), (unsigned long long)t.arena_bytes, (unsigned long long)t.mapped_bytes, (unsigned long long)t.memory_used_bytes);
    return 0;
}
