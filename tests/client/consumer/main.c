#include <telemetry_kit/telemetry_kit.h>

int main(void) {
    tk_config config = {"consumer-c", "1.0.0", NULL, NULL, TK_CONSENT_MODE_OPT_IN, 0, 0};
    tk_client* client = tk_client_new(&config);
    tk_track_feature(client, "from-c", NULL, 0);
    tk_client_free(client);
    return 0;
}
