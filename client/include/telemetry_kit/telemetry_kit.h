/* telemetry-kit's C ABI: the same client as the C++ API, for C and for other languages' FFI.
 *
 *     tk_config config = {0};
 *     config.tool = "my-cli"; config.version = "1.2.0";
 *     config.endpoint = "https://telemetry.example.com"; config.ingest_key = "...";
 *     tk_client* client = tk_client_new(&config);
 *     tk_attribute attributes[] = {TK_ATTR_STRING("target", "release"), TK_ATTR_INT("jobs", 8)};
 *     tk_track_command(client, "build", TK_SUCCESS, 125000, attributes, 2);
 *     tk_client_free(client);   // hands over queued events, waiting at most 100 ms
 *
 * No function blocks except tk_flush (up to its timeout), tk_client_free (up to 100 ms) and
 * tk_consent_prompt (while the person answers). No function aborts or raises a signal; every
 * pointer may be NULL. Strings are UTF-8 and copied: they need only live for the call. */
#ifndef TELEMETRY_KIT_H
#define TELEMETRY_KIT_H

#include <stddef.h>
#include <stdint.h>

#if defined(_WIN32)
#define TK_API
#else
#define TK_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* An opaque client. */
typedef struct tk_client tk_client;

enum { TK_CONSENT_MODE_OPT_IN = 0, TK_CONSENT_MODE_OPT_OUT = 1 };

typedef struct tk_config {
    const char* tool;       /* required, e.g. "my-cli" */
    const char* version;    /* e.g. "1.2.0" */
    const char* endpoint;   /* collector base URL; NULL or "" keeps events on this machine */
    const char* ingest_key; /* the tool's ingest key */
    int consent_mode;       /* TK_CONSENT_MODE_OPT_IN (default) or TK_CONSENT_MODE_OPT_OUT */
    int allow_ci;           /* non-zero: keep (tagged) events from CI runs */
    int local_only;         /* non-zero: never forward */
} tk_config;

enum { TK_ATTR_TYPE_STRING = 0, TK_ATTR_TYPE_INT = 1, TK_ATTR_TYPE_DOUBLE = 2, TK_ATTR_TYPE_BOOL = 3 };

/* One attribute: `type` says which value field counts (bool uses int_value). */
typedef struct tk_attribute {
    const char* key;
    int type;
    const char* string_value;
    int64_t int_value;
    double double_value;
} tk_attribute;

#define TK_ATTR_STRING(k, v) \
    { (k), TK_ATTR_TYPE_STRING, (v), 0, 0.0 }
#define TK_ATTR_INT(k, v) \
    { (k), TK_ATTR_TYPE_INT, NULL, (int64_t)(v), 0.0 }
#define TK_ATTR_DOUBLE(k, v) \
    { (k), TK_ATTR_TYPE_DOUBLE, NULL, 0, (double)(v) }
#define TK_ATTR_BOOL(k, v) \
    { (k), TK_ATTR_TYPE_BOOL, NULL, (v) ? 1 : 0, 0.0 }

/* Outcome of a command for tk_track_command. */
enum { TK_UNKNOWN = -1, TK_FAILURE = 0, TK_SUCCESS = 1 };

/* What became of the events so far (see telemetry_kit::Stats). */
typedef struct tk_stats {
    uint64_t tracked;
    uint64_t delivered;
    uint64_t spooled;
    uint64_t dropped;
    uint64_t suppressed;
    uint64_t reconnects;
} tk_stats;

/* Starts a client; NULL only if `config` is NULL or out of memory. Never blocks. */
TK_API tk_client* tk_client_new(const tk_config* config);
/* Hands over queued events (waiting at most 100 ms; the rest goes to the spool) and frees. */
TK_API void tk_client_free(tk_client* client);

/* A command ran. success: TK_SUCCESS, TK_FAILURE or TK_UNKNOWN; duration_us < 0: unknown. */
TK_API void tk_track_command(tk_client* client, const char* name, int success, int64_t duration_us,
                             const tk_attribute* attributes, size_t attribute_count);
/* Like tk_track_command, with the process exit code (success is inferred when TK_UNKNOWN). */
TK_API void tk_track_command_exit(tk_client* client, const char* name, int exit_code, int64_t duration_us,
                                  const tk_attribute* attributes, size_t attribute_count);
/* A feature was used. */
TK_API void tk_track_feature(tk_client* client, const char* name, const tk_attribute* attributes,
                             size_t attribute_count);
/* Anything else the tool defines. */
TK_API void tk_track(tk_client* client, const char* name, const tk_attribute* attributes, size_t attribute_count);

/* Waits up to timeout_ms until every earlier event is durable (agent or spool). 1 if so, else 0. */
TK_API int tk_flush(tk_client* client, uint32_t timeout_ms);

/* Fills `stats`. */
TK_API void tk_get_stats(const tk_client* client, tk_stats* stats);

/* 1 if events are being sent, 0 if disabled (DO_NOT_TRACK, <TOOL>_TELEMETRY_DISABLED) or in debug mode. */
TK_API int tk_is_sending(const tk_client* client);

/* First-run consent (opt-in tools): asks once on a terminal, never in CI, and records the answer
 * with the agent. Returns 1 if consent is granted (now or before), 0 otherwise. */
TK_API int tk_consent_prompt(const tk_config* config);

/* The library's version, e.g. "0.1.0". */
TK_API const char* tk_version(void);

#ifdef __cplusplus
}
#endif

#endif /* TELEMETRY_KIT_H */
