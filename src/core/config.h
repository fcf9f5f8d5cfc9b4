/*
 * config.h -- crease's configuration, read from the environment once at start.
 *
 * Names and defaults are those of the Cricksy workers (DESIGN.md §2; compat:
 * never rename).  main() parses the environment into one cr_config and passes it
 * down; no module reads getenv() for these values itself.
 *
 * A bad value is a CR_ERR_INVALID whose message names the variable and the
 * problem, e.g. "CHUNK_SECONDS: must be an integer from 1 to 3600, got '0'".
 * Messages never contain a secret or a password.
 */
#ifndef CR_CORE_CONFIG_H
#define CR_CORE_CONFIG_H

#include "core/log.h"
#include "core/status.h"

typedef enum cr_store_kind { CR_STORE_SQLITE = 0, CR_STORE_POSTGRES = 1 } cr_store_kind;
typedef enum cr_blob_kind { CR_BLOB_LOCAL = 0, CR_BLOB_S3 = 1 } cr_blob_kind;

#define CR_CONFIG_STR 1024

typedef struct cr_config {
    int chunk_seconds; /* CHUNK_SECONDS, 1..3600, default 30 */
    double sample_fps; /* SAMPLE_FPS, (0, 240], default 10.0 */
    int max_width;     /* MAX_WIDTH, 16..8192, default 640 */

    char database_url[CR_CONFIG_STR]; /* DATABASE_URL as given (may hold a password) */
    cr_store_kind store;
    /* SQLite: the file path; PostgreSQL: a libpq URI (postgresql://..., driver part removed) */
    char db_target[CR_CONFIG_STR];

    char app_secret_key[CR_CONFIG_STR]; /* APP_SECRET_KEY, "" when unset (serve requires it) */

    cr_blob_kind blob;
    char bucket[256];                      /* S3_COACH_VIDEOS_BUCKET, "" = local folder */
    char blob_dir[CR_CONFIG_STR];          /* CREASE_BLOB_DIR, default ./crease-data/blobs */
    char region[64];                       /* AWS_REGION, default us-east-1 */
    char access_key_id[256];               /* AWS_ACCESS_KEY_ID */
    char secret_access_key[256];           /* AWS_SECRET_ACCESS_KEY */
    char session_token[CR_CONFIG_STR * 2]; /* AWS_SESSION_TOKEN */
    char s3_endpoint[CR_CONFIG_STR];       /* S3_ENDPOINT_URL, "" = AWS (virtual-hosted style) */

    int gpu_processing_enabled; /* GPU_PROCESSING_ENABLED, default false */

    cr_log_level log_level; /* LOG_LEVEL, default info */
    int log_json;           /* LOG_FORMAT=json */

    char models_dir[CR_CONFIG_STR]; /* CREASE_MODELS_DIR, "" = search ./models, then share dir */

    /* Limits on what one upload can cost (DESIGN.md §10), checked by upload-complete
     * before any chunk is queued.  A video beyond one is rejected, naming the variable. */
    int max_duration_seconds; /* CREASE_MAX_DURATION_SECONDS, 1..35996400, default 10800 (3 h) */
    int max_chunks;           /* CREASE_MAX_CHUNKS, 1..CR_CONFIG_MAX_CHUNKS, default 9999 */
    long long max_pixels;     /* CREASE_MAX_PIXELS, 1..67108864, default 3840*2160 (width*height) */
    long long max_upload_bytes; /* CREASE_MAX_UPLOAD_BYTES, 1..5 TiB, default 4 GiB */

    /* CREASE_SKIP_DEBLOCK: none (default, 0), unshown (1: frames no sample shows are
     * decoded without H.264's deblocking filter), all (2: every frame) -- the values of
     * video.h's VIDEO_SKIP_DEBLOCK_*.  Cheaper decoding; the frames drift slightly from
     * the exact pictures (README, "Decoding"). */
    int skip_deblock;
    /* Lifetime of the presigned PUT URL that upload initiate hands out
     * (CREASE_UPLOAD_URL_SECONDS, 60..604800, default 900).  It only has to last until
     * the upload starts: S3 and crease's /blobs/ check the signature when a request
     * arrives.  Shorter narrows the window in which the URL can write over a video
     * after upload-complete (on S3, where nothing else can refuse that PUT; the workers
     * then refuse the changed object, see pipeline.h). */
    int upload_url_seconds;
    /* CREASE_CHUNKS_PER_WORKER, 1..16, default 1: chunks a chunk worker claims at once and
     * steps together, their landmark crops run as one batch (pipeline.h,
     * pipeline_chunks_process), so the model's weights are read once for that many
     * frames.  On a 2-core Xeon with AMX, 2 took 0.89x the model's time a frame but as
     * much CPU in all (two decoders share a core's caches) and 1.5x the memory, hence
     * the default: it is for engines that need batches to be busy (a GPU). */
    int chunks_per_worker;
} cr_config;

/* The most chunks one job can have: chunk artifacts are chunk_0000 .. chunk_9999
 * (blob_key_chunk, 4 digits; compat: Cricksy's names), and 9999 keeps one index free as
 * a margin.  The hard cap of CREASE_MAX_CHUNKS. */
#define CR_CONFIG_MAX_CHUNKS 9999

/* Looks up one variable; returns NULL when unset. */
typedef const char *(*cr_config_lookup)(const char *name, void *ctx);

/* Fills `out` from `lookup` (defaults for unset or empty variables).  On error
 * `out` holds unspecified values and `err` names the variable. */
cr_status cr_config_parse(cr_config *out, cr_config_lookup lookup, void *ctx, cr_err *err);

/* cr_config_parse over getenv(). */
cr_status cr_config_from_env(cr_config *out, cr_err *err);

/* The effective configuration as one line of JSON, secrets and the database
 * password shown as "***".  Caller frees with cr_free.  NULL on allocation failure. */
char *cr_config_to_json(const cr_config *cfg);

/* Writes `url` with its password (if any) replaced by "***" into `out`. */
void cr_config_redact_url(const char *url, char *out, size_t cap);

/* Parses a DATABASE_URL alone (used by cr_config_parse and by tools).  Fills
 * `store` and `target` (see cr_config.db_target). */
cr_status cr_config_parse_database_url(const char *url, cr_store_kind *store, char *target,
                                       size_t cap, cr_err *err);

#endif
