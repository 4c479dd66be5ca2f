/* The C ABI used from plain C (compiled as C11): records three events, flushes, checks the
 * counters and that NULL arguments are harmless. Exit code 0 on success; prints the counters. */
#include <stdio.h>
#include <string.h>

#include "telemetry_kit/telemetry_kit.h"

int main(void) {
    tk_config config;
    memset(&config, 0, sizeof config);
    config.tool = "c-tool";
    config.version = "0.3.0";
    config.endpoint = "https://telemetry.example.com";
    config.ingest_key = "key-c";

    if (tk_client_new(NULL) != NULL) return 10;
    tk_track_command(NULL, "x", TK_SUCCESS, 1, NULL, 0);
    tk_get_stats(NULL, NULL);

    tk_client* client = tk_client_new(&config);
    if (client == NULL) return 11;
    tk_attribute attributes[] = {
        TK_ATTR_STRING("target", "release"),
        TK_ATTR_INT("jobs", 8),
        TK_ATTR_DOUBLE("ratio", 0.5),
        TK_ATTR_BOOL("cached", 1),
    };
    tk_track_command(client, "build", TK_SUCCESS, 1234, attributes, sizeof attributes / sizeof attributes[0]);
    tk_track_command_exit(client, "test", 2, -1, NULL, 0);
    tk_track_feature(client, "cache.remote", NULL, 0);
    tk_track(client, NULL, NULL, 0); /* ignored */
    const int flushed = tk_flush(client, 5000);

    tk_stats stats;
    tk_get_stats(client, &stats);
    printf("sending=%d flushed=%d tracked=%llu delivered=%llu spooled=%llu dropped=%llu suppressed=%llu version=%s\n",
           tk_is_sending(client), flushed, (unsigned long long)stats.tracked, (unsigned long long)stats.delivered,
           (unsigned long long)stats.spooled, (unsigned long long)stats.dropped, (unsigned long long)stats.suppressed,
           tk_version());
    tk_client_free(client);
    tk_client_free(NULL);
    if (!flushed || stats.tracked != 3) return 1;
    return 0;
}
