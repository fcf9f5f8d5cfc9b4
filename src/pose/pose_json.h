/*
 * pose_json.h -- pose results in the chunk JSON format (DESIGN.md §4/§8; the
 * Cricksy chunk artifacts' `poses[]`; compat: never rename a field).
 *
 * One entry of `poses[]`:
 *   {"frame_num": k,            grid index of the sample (global, k / SAMPLE_FPS = t)
 *    "timestamp": t,            seconds
 *    "t": t,                    seconds (same value; both names are read downstream)
 *    "timestamp_ms": ms,        round(t * 1000)
 *    "frame_index": i,          index of the frame within this output (0, 1, ...)
 *    "detected": true|false,
 *    "score": s,                the pose flag (presence probability)
 *    "landmarks": [33 x {"x","y","z","visibility"}],  x, y normalized to the frame
 *    "keypoints": {"nose": {"x","y","z","visibility"}, ... "right_foot_index": {...}},
 *    "world_landmarks": [33 x {"x","y","z","visibility"}]}   metres
 * When detected is false, landmarks and world_landmarks are [] and keypoints {}.
 * Numbers are written with jansson's shortest round-trip form of the float.
 */
#ifndef CR_POSE_JSON_H
#define CR_POSE_JSON_H

#include "core/buf.h"
#include "core/status.h"
#include "pose/pose_tracker.h"

#include <jansson.h>
#include <stdint.h>

typedef struct pose_frame_meta {
    int64_t frame_num;   /* grid index k */
    double t;            /* seconds */
    int64_t frame_index; /* position in this output */
} pose_frame_meta;

/* One `poses[]` entry (a new reference), or NULL when out of memory. */
json_t *pose_json_pose(const pose_result *r, const pose_frame_meta *m);

/* Appends pose_json_pose(r, m) to the array `poses`.  CR_ERR_NOMEM on failure. */
cr_status pose_json_append(json_t *poses, const pose_result *r, const pose_frame_meta *m,
                           cr_err *err);

/* The significant digits of every real in chunk JSON (JSON_REAL_PRECISION). */
#define POSE_JSON_REAL_DIGITS 7

/* The json_dumps flags of a chunk artifact and of every pose the merge writes. */
#define POSE_JSON_DUMP_FLAGS                                                                       \
    (JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(POSE_JSON_REAL_DIGITS))

/* Appends pose_json_pose(r, m) to `b` as text, byte for byte what json_dumps writes
 * for it with JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(7) (the chunk
 * artifacts' flags), without building the tree.  CR_ERR_NOMEM when `b` cannot grow
 * (or an earlier call on `b` failed), CR_ERR_INVALID when m->t is not finite (which
 * pose_json_pose cannot represent either); on failure `b` holds what it held. */
cr_status pose_json_text_append(cr_buf *b, const pose_result *r, const pose_frame_meta *m,
                                cr_err *err);

/* Writes `doc` to `path` (indented, newline at the end).  CR_ERR_IO on failure. */
cr_status pose_json_write_file(const json_t *doc, const char *path, cr_err *err);

#endif
