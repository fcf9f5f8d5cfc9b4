/*
 * test_analysis.c -- the analysis module on synthetic series with known answers:
 * metrics (still and drifting head, known knee angle, known 3D and 2D elbow
 * extension, hip-shoulder lag across the +-180 degree wrap, non-square frames,
 * invisible landmarks, empty and undetected series), findings per mode and
 * threshold, the HTML report's sections and escaping, allocation failures.
 */
#include "analysis/analysis.h"
#include "check.h"
#include "core/mem.h"

#include <math.h>
#include <string.h>

#define FPS 10.0

static const char *sev(const json_t *f, const char *code);
static json_t *findings(const char *metrics_text, const char *mode, int64_t frames, int64_t det);
#define PI 3.14159265358979323846

/* A standing player, frame k: torso length 140 px (shoulders y 160, hips y 300). */
static void base_frame(analysis_frame *f, int64_t k)
{
    memset(f, 0, sizeof *f);
    f->frame_num = k;
    f->t = (double)k / FPS;
    f->detected = 1;
    static const float pts[][3] = {
        {ALM_NOSE, 300, 100},    {ALM_L_SHOULDER, 330, 160}, {ALM_R_SHOULDER, 270, 160},
        {ALM_L_ELBOW, 335, 240}, {ALM_R_ELBOW, 265, 240},    {ALM_L_WRIST, 338, 310},
        {ALM_R_WRIST, 262, 310}, {ALM_L_HIP, 320, 300},      {ALM_R_HIP, 280, 300},
        {ALM_L_KNEE, 322, 400},  {ALM_R_KNEE, 278, 400},     {ALM_L_ANKLE, 324, 500},
        {ALM_R_ANKLE, 276, 500},
    };
    for (int i = 0; i < ANALYSIS_LM; i++) {
        f->x[i] = 300;
        f->y[i] = 120;
        f->vis[i] = 0.9f;
    }
    for (size_t i = 0; i < sizeof pts / sizeof *pts; i++) {
        int j = (int)pts[i][0];
        f->x[j] = pts[i][1];
        f->y[j] = pts[i][2];
    }
}

static int has_string(const json_t *a, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
            return 1;
    }
    return 0;
}

static double score_of(const json_t *m, const char *name)
{
    const json_t *v = json_object_get(json_object_get(m, name), "score");
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static double value_of(const json_t *m, const char *name, const char *field)
{
    const json_t *v = json_object_get(json_object_get(m, name), field);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

static json_t *metrics_of(const analysis_series *s)
{
    json_t *m = NULL;
    cr_err e = {0};
    CHECK_MSG(analysis_metrics(s, &m, &e) == CR_OK, "%s", cr_err_msg(&e));
    return m;
}

static void test_head(void)
{
    analysis_series s = {0};
    s.width = 640;
    s.height = 640;
    analysis_frame f;
    for (int k = 0; k < 20; k++) {
        base_frame(&f, k);
        CHECK(analysis_series_push(&s, &f, NULL) == CR_OK);
    }
    CHECK(analysis_series_find(&s, 7) == &s.frames[7]);
    CHECK(analysis_series_find(&s, 0) == &s.frames[0] && analysis_series_find(&s, 19) != NULL);
    CHECK(analysis_series_find(&s, 20) == NULL && analysis_series_find(&s, -1) == NULL);
    json_t *m = metrics_of(&s);
    CHECK_NEAR(score_of(m, "head_stability_score"), 1.0, 1e-12);
    CHECK_INT_EQ(json_integer_value(
                     json_object_get(json_object_get(m, "head_stability_score"), "num_frames")),
                 19);
    CHECK_NEAR(value_of(m, "meta", "body_scale_px"), 140.0, 1e-9);
    /* shoulders 60 px apart over a 140 px torso: 0.43, an oblique view */
    CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(m, "meta"), "camera_view")),
                 "oblique");
    json_decref(m);

    /* drifting 7 px per sample = 0.05 torso lengths; 0 at 0.3 * 0.259/0.288 */
    for (int k = 0; k < 20; k++)
        s.frames[k].x[ALM_NOSE] = 300.0f + 7.0f * (float)k;
    m = metrics_of(&s);
    double zero = 0.3 * 0.259 / 0.288;
    CHECK_NEAR(value_of(m, "head_stability_score", "avg_movement"), 0.05, 1e-6);
    CHECK_NEAR(score_of(m, "head_stability_score"), 1.0 - 0.05 / zero, 1e-6);
    json_t *ev = json_object_get(json_object_get(m, "head_stability_score"), "evidence");
    CHECK(json_array_size(json_object_get(ev, "worst_frames")) == 5);
    CHECK(json_array_size(json_object_get(json_object_get(m, "head_stability_score"),
                                          "per_frame_scores")) == 20);
    json_decref(m);

    /* every other nose invisible: still 0.05 torso lengths per sample */
    for (int k = 1; k < 20; k += 2)
        s.frames[k].vis[ALM_NOSE] = 0.1f;
    m = metrics_of(&s);
    CHECK_NEAR(value_of(m, "head_stability_score", "avg_movement"), 0.05, 1e-6);
    json_decref(m);
    for (int k = 1; k < 20; k += 2)
        s.frames[k].vis[ALM_NOSE] = 0.9f;

    /* invisible noses (far away, visibility 0.2) are ignored: still head again */
    for (int k = 0; k < 20; k++) {
        s.frames[k].x[ALM_NOSE] = 300;
        if (k % 2) {
            s.frames[k].x[ALM_NOSE] = 900;
            s.frames[k].y[ALM_NOSE] = 900;
            s.frames[k].vis[ALM_NOSE] = 0.2f;
        }
    }
    m = metrics_of(&s);
    CHECK_NEAR(score_of(m, "head_stability_score"), 1.0, 1e-12);
    CHECK_INT_EQ(json_integer_value(
                     json_object_get(json_object_get(m, "head_stability_score"), "num_frames")),
                 9);
    json_decref(m);
    analysis_series_free(&s);
}

/* One pose entry in the chunk JSON format, x, y normalized to w x h. */
static json_t *pose_json(const analysis_frame *f, int w, int h)
{
    json_t *lms = json_array();
    for (int i = 0; i < ANALYSIS_LM; i++)
        json_array_append_new(lms, json_pack("{s:f,s:f,s:f,s:f}", "x", f->x[i] / w, "y",
                                             f->y[i] / h, "z", 0.0, "visibility", f->vis[i]));
    return json_pack("{s:I,s:f,s:b,s:o,s:[]}", "frame_num", (json_int_t)f->frame_num, "t", f->t,
                     "detected", f->detected, "landmarks", lms, "world_landmarks");
}

static void test_non_square(void)
{
    /* The same pixel motion on a 640x640 and a 1280x480 frame gives the same
     * metrics (normalized coordinates would not). */
    const int sizes[2][2] = {{640, 640}, {1280, 480}};
    double head[2], bal[2], elbow[2], knee[2];
    for (int v = 0; v < 2; v++) {
        analysis_series s = {0};
        s.width = sizes[v][0];
        s.height = sizes[v][1];
        for (int k = 0; k < 15; k++) {
            analysis_frame f;
            base_frame(&f, k);
            f.x[ALM_NOSE] += 3.0f * (float)k; /* sideways */
            f.y[ALM_NOSE] += 2.0f * (float)k; /* and down */
            f.x[ALM_L_HIP] += 10;             /* some drift */
            f.x[ALM_R_HIP] += 10;
            json_t *p = pose_json(&f, s.width, s.height);
            cr_err e = {0};
            CHECK_MSG(analysis_series_add_pose_json(&s, p, &e) == CR_OK, "%s", cr_err_msg(&e));
            json_decref(p);
        }
        CHECK_NEAR(s.frames[3].x[ALM_NOSE], 309.0, 1e-3);
        json_t *m = metrics_of(&s);
        head[v] = score_of(m, "head_stability_score");
        bal[v] = score_of(m, "balance_drift_score");
        elbow[v] = score_of(m, "elbow_drop_score");
        knee[v] = score_of(m, "front_knee_brace_score");
        CHECK_NEAR(value_of(m, "head_stability_score", "avg_movement"),
                   sqrt(13.0) / hypot(140.0, 10.0), 1e-6);
        CHECK_NEAR(value_of(m, "balance_drift_score", "avg_drift"), 10.0 / hypot(140.0, 10.0),
                   1e-4);
        json_decref(m);
        analysis_series_free(&s);
    }
    CHECK_NEAR(head[0], head[1], 1e-5);
    CHECK_NEAR(bal[0], bal[1], 1e-5);
    CHECK_NEAR(elbow[0], elbow[1], 1e-5);
    CHECK_NEAR(knee[0], knee[1], 1e-5);

    /* a bad entry is a format error, and the series is unchanged */
    analysis_series s = {0};
    s.width = s.height = 100;
    json_t *bad = json_pack("{s:i,s:f,s:b,s:[{s:f}]}", "frame_num", 1, "t", 0.1, "detected", 1,
                            "landmarks", "x", 0.5);
    cr_err e = {0};
    CHECK(analysis_series_add_pose_json(&s, bad, &e) == CR_ERR_FORMAT);
    CHECK_INT_EQ(s.n, 0);
    json_decref(bad);
    analysis_series_free(&s);
}

static void test_knee(void)
{
    analysis_series s = {0};
    s.width = 640;
    s.height = 480;
    /* shank 60 deg off the thigh: 86.6 px sideways, 50 px down */
    const double sx = 100.0 * sin(60 * PI / 180), sy = 100.0 * cos(60 * PI / 180);
    for (int k = 0; k < 10; k++) {
        analysis_frame f;
        base_frame(&f, k);
        /* both legs: thigh straight down, shank 60 deg off -> knee angle 120 deg; from
         * frame 5 on the legs open (a stride: the left shank out to image right, the
         * right to image left) */
        for (int side = 0; side < 2; side++) {
            int hip = side ? ALM_R_HIP : ALM_L_HIP, knee = side ? ALM_R_KNEE : ALM_L_KNEE,
                ank = side ? ALM_R_ANKLE : ALM_L_ANKLE;
            f.x[knee] = f.x[hip];
            f.y[knee] = f.y[hip] + 100;
            f.x[ank] = f.x[knee] + (float)(k >= 5 && side ? -sx : sx);
            f.y[ank] = f.y[knee] + (float)sy;
        }
        CHECK(analysis_series_push(&s, &f, NULL) == CR_OK);
    }
    json_t *m = metrics_of(&s);
    CHECK_NEAR(value_of(m, "front_knee_brace_score", "min_knee_angle"), 120.0, 1e-3);
    CHECK_NEAR(score_of(m, "front_knee_brace_score"), 0.4, 1e-5);
    CHECK_NEAR(value_of(m, "front_knee_angle_at_ffc", "value"), 120.0, 1e-3);
    CHECK_INT_EQ(json_integer_value(
                     json_object_get(json_object_get(m, "front_knee_angle_at_ffc"), "frame_num")),
                 5);
    /* ankles 40 px apart, then 40 + 2 * 86.6 px, over a 140 px torso */
    CHECK_NEAR(value_of(m, "stride_length", "value"), (40.0 + 2 * sx) / 140.0, 1e-5);
    CHECK_NEAR(value_of(m, "stride_length", "value_px"), 40.0 + 2 * sx, 1e-3);
    CHECK(json_is_true(json_object_get(json_object_get(m, "stride_length"), "measured")));
    json_decref(m);
    /* the feet never move (the first pose throughout): no stride, no front-foot
     * contact, neither measured, and why */
    for (size_t k = 5; k < s.n; k++) {
        memcpy(s.frames[k].x, s.frames[0].x, sizeof s.frames[k].x);
        memcpy(s.frames[k].y, s.frames[0].y, sizeof s.frames[k].y);
    }
    m = metrics_of(&s);
    const char *no_stride[] = {"stride_length", "front_knee_angle_at_ffc"};
    for (int i = 0; i < 2; i++) {
        const json_t *x = json_object_get(m, no_stride[i]);
        CHECK_MSG(json_is_false(json_object_get(x, "measured")), "%s", no_stride[i]);
        CHECK_MSG(json_is_null(json_object_get(x, "value")), "%s", no_stride[i]);
        const char *why = json_string_value(json_object_get(x, "reason"));
        CHECK_MSG(why != NULL && strstr(why, "no stride") != NULL, "%s: %s", no_stride[i], why);
    }
    CHECK_NEAR(value_of(m, "stride_length", "max_ankle_separation"), 40.0 / 140.0, 1e-5);
    CHECK_NEAR(score_of(m, "front_knee_brace_score"), 0.4, 1e-5); /* still measured */
    json_decref(m);
    /* trunk leaning 20 degrees to image right in every frame (shoulders shifted) */
    for (size_t k = 0; k < s.n; k++) {
        float dx = 140.0f * (float)tan(20 * PI / 180);
        s.frames[k].x[ALM_L_SHOULDER] += dx;
        s.frames[k].x[ALM_R_SHOULDER] += dx;
    }
    m = metrics_of(&s);
    CHECK_NEAR(value_of(m, "trunk_lateral_flexion", "value"), 20.0, 1e-3);
    CHECK_NEAR(value_of(m, "trunk_lateral_flexion", "signed_deg"), 20.0, 1e-3);
    json_decref(m);
    analysis_series_free(&s);
}

/* A right bowling arm: shoulder at pixel (300,160); `up` = elbow above the shoulder;
 * elbow flexion `flex` degrees, in 3D (forearm bent out of the image plane, towards
 * the camera) when world, else in the image. */
static void arm_frame(analysis_frame *f, int64_t k, int up, double flex, int world, int release)
{
    base_frame(f, k);
    f->x[ALM_R_SHOULDER] = 300;
    f->y[ALM_R_SHOULDER] = 160;
    /* upper arm: horizontal (UAH) or pointing up */
    double ux = up ? 0 : -1, uy = up ? -1 : 0;
    f->x[ALM_R_ELBOW] = (float)(300 + 80 * ux);
    f->y[ALM_R_ELBOW] = (float)(160 + 80 * uy);
    double c = cos(flex * PI / 180), s = sin(flex * PI / 180);
    if (world) {
        /* image shows a straight arm; the bend is along z */
        f->x[ALM_R_WRIST] = (float)(f->x[ALM_R_ELBOW] + 70 * ux);
        f->y[ALM_R_WRIST] = (float)(f->y[ALM_R_ELBOW] + 70 * uy);
        f->has_world = 1;
        f->wx[ALM_R_SHOULDER] = 0, f->wy[ALM_R_SHOULDER] = 0, f->wz[ALM_R_SHOULDER] = 0;
        f->wx[ALM_R_ELBOW] = (float)(0.3 * ux), f->wy[ALM_R_ELBOW] = (float)(0.3 * uy);
        f->wz[ALM_R_ELBOW] = 0;
        f->wx[ALM_R_WRIST] = (float)(f->wx[ALM_R_ELBOW] + 0.25 * c * ux);
        f->wy[ALM_R_WRIST] = (float)(f->wy[ALM_R_ELBOW] + 0.25 * c * uy);
        f->wz[ALM_R_WRIST] = (float)(-0.25 * s);
    } else {
        /* perpendicular in the image: (-uy, ux) */
        f->x[ALM_R_WRIST] = (float)(f->x[ALM_R_ELBOW] + 70 * (c * ux - s * uy));
        f->y[ALM_R_WRIST] = (float)(f->y[ALM_R_ELBOW] + 70 * (c * uy + s * ux));
    }
    if (release)
        f->y[ALM_R_WRIST] = fminf(f->y[ALM_R_WRIST], 20); /* highest point */
    /* other frames' wrist must not be highest: keep the left arm down */
}

static void test_elbow_extension(void)
{
    for (int world = 1; world >= 0; world--) {
        analysis_series s = {0};
        s.width = 640;
        s.height = 480;
        analysis_frame f;
        base_frame(&f, 0); /* arm down */
        analysis_series_push(&s, &f, NULL);
        arm_frame(&f, 1, 0, 30, world, 0); /* UAH, 30 deg flexion */
        analysis_series_push(&s, &f, NULL);
        arm_frame(&f, 2, 1, 35, world, 0); /* max flexion */
        analysis_series_push(&s, &f, NULL);
        arm_frame(&f, 3, 1, 10, world, !world); /* release: 10 deg */
        if (world)
            f.y[ALM_R_WRIST] = 5; /* straight in the image, highest point */
        analysis_series_push(&s, &f, NULL);
        base_frame(&f, 4);
        analysis_series_push(&s, &f, NULL);
        json_t *m = metrics_of(&s);
        const json_t *e = json_object_get(m, "bowling_elbow_extension");
        if (!world) {
            /* 2D: the release frame's wrist was moved up; recompute its flexion */
            double fr = value_of(m, "bowling_elbow_extension", "flexion_at_release_deg");
            CHECK_NEAR(value_of(m, "bowling_elbow_extension", "value"), 35.0 - fr, 1e-3);
            CHECK_NEAR(value_of(m, "bowling_elbow_extension", "flexion_at_uah_deg"), 30.0, 1e-3);
            CHECK_STR_EQ(json_string_value(json_object_get(e, "space")), "image_2d");
        } else {
            CHECK_NEAR(value_of(m, "bowling_elbow_extension", "value"), 25.0, 1e-3);
            CHECK_NEAR(value_of(m, "bowling_elbow_extension", "flexion_at_uah_deg"), 30.0, 1e-3);
            CHECK_NEAR(value_of(m, "bowling_elbow_extension", "max_flexion_deg"), 35.0, 1e-3);
            CHECK_STR_EQ(json_string_value(json_object_get(e, "space")), "world_3d");
            CHECK(json_is_true(json_object_get(e, "exceeds_limit")));
        }
        CHECK(json_is_true(json_object_get(e, "screening_only")));
        CHECK_STR_EQ(json_string_value(json_object_get(e, "side")), "right");
        CHECK_INT_EQ(json_integer_value(json_object_get(e, "release_frame_num")), 3);
        CHECK_INT_EQ(json_integer_value(json_object_get(e, "uah_frame_num")), 1);
        CHECK(strstr(json_string_value(json_object_get(e, "note")), "SCREENING ONLY") != NULL);
        json_decref(m);
        analysis_series_free(&s);
    }
    /* 2D arm with a known in-plane bend and no raised wrist tweak */
    analysis_series s = {0};
    s.width = s.height = 640;
    analysis_frame f;
    arm_frame(&f, 0, 0, 20, 0, 0);
    analysis_series_push(&s, &f, NULL);
    arm_frame(&f, 1, 1, 8, 0, 0);
    analysis_series_push(&s, &f, NULL);
    json_t *m = metrics_of(&s);
    CHECK_NEAR(value_of(m, "bowling_elbow_extension", "value"), 12.0, 1e-3);
    CHECK_INT_EQ(json_array_size(
                     json_object_get(json_object_get(m, "bowling_elbow_extension"), "deliveries")),
                 1);
    CHECK(json_is_false(
        json_object_get(json_object_get(m, "bowling_elbow_extension"), "exceeds_limit")));
    json_decref(m);
    analysis_series_free(&s);
}

/* Two deliveries 1.5 s apart (5 and 20 degrees of extension): both screened, the
 * value is the larger. */
static void test_two_deliveries(void)
{
    analysis_series s = {0};
    s.width = s.height = 640;
    analysis_frame f;
    for (int k = 0; k < 30; k++) {
        if (k == 3 || k == 18)
            arm_frame(&f, k, 0, 25, 0, 0); /* UAH */
        else if (k == 4)
            arm_frame(&f, k, 1, 20, 0, 0); /* release: 25 -> 20 */
        else if (k == 19)
            arm_frame(&f, k, 1, 5, 0, 0); /* release: 25 -> 5 */
        else
            base_frame(&f, k);
        analysis_series_push(&s, &f, NULL);
    }
    json_t *m = metrics_of(&s);
    const json_t *e = json_object_get(m, "bowling_elbow_extension");
    CHECK_INT_EQ(json_array_size(json_object_get(e, "deliveries")), 2);
    CHECK_NEAR(value_of(m, "bowling_elbow_extension", "value"), 20.0, 1e-3);
    CHECK_INT_EQ(json_integer_value(json_object_get(e, "release_frame_num")), 19);
    const json_t *d0 = json_array_get(json_object_get(e, "deliveries"), 0);
    CHECK_NEAR(json_number_value(json_object_get(d0, "extension_deg")), 5.0, 1e-3);
    CHECK_INT_EQ(json_integer_value(json_object_get(d0, "uah_frame_num")), 3);
    CHECK(json_is_true(json_object_get(e, "exceeds_limit")));
    json_t *fd = NULL;
    char *html = NULL;
    CHECK(analysis_findings(m, "bowling", 30, 30, &fd, NULL) == CR_OK);
    CHECK(sev(fd, "ELBOW_EXTENSION_SCREEN") != NULL);
    CHECK(analysis_report_html(m, fd, NULL, &s, NULL, &html, NULL, NULL) == CR_OK);
    CHECK(html != NULL && strstr(html, "Deliveries screened") != NULL &&
          strstr(html, "20.0 deg (over 15)") != NULL);
    cr_free(html);
    json_decref(fd);
    json_decref(m);
    analysis_series_free(&s);
}

/* Hip line jumps at frame 5, shoulder line at frame 7: lag 0.2 s.  The hip line
 * points left (angle ~180 deg) and jitters across +-180 every frame. */
static void test_separation(void)
{
    analysis_series s = {0};
    s.width = 640;
    s.height = 480;
    for (int k = 0; k < 12; k++) {
        analysis_frame f;
        base_frame(&f, k);
        double ha = 180 + (k % 2 ? 1 : -1) + (k >= 5 ? 20 : 0);
        double sa = 180 + (k >= 7 ? 30 : 0);
        f.x[ALM_L_HIP] = (float)(300 - 20 * cos(ha * PI / 180));
        f.y[ALM_L_HIP] = (float)(300 - 20 * sin(ha * PI / 180));
        f.x[ALM_R_HIP] = (float)(300 + 20 * cos(ha * PI / 180));
        f.y[ALM_R_HIP] = (float)(300 + 20 * sin(ha * PI / 180));
        f.x[ALM_L_SHOULDER] = (float)(300 - 30 * cos(sa * PI / 180));
        f.y[ALM_L_SHOULDER] = (float)(160 - 30 * sin(sa * PI / 180));
        f.x[ALM_R_SHOULDER] = (float)(300 + 30 * cos(sa * PI / 180));
        f.y[ALM_R_SHOULDER] = (float)(160 + 30 * sin(sa * PI / 180));
        analysis_series_push(&s, &f, NULL);
    }
    json_t *m = metrics_of(&s);
    CHECK_NEAR(value_of(m, "hip_shoulder_separation_timing", "hip_peak_time"), 0.5, 1e-9);
    CHECK_NEAR(value_of(m, "hip_shoulder_separation_timing", "shoulder_peak_time"), 0.7, 1e-9);
    CHECK_NEAR(score_of(m, "hip_shoulder_separation_timing"), 0.2, 1e-9);
    CHECK(json_is_true(json_object_get(json_object_get(m, "hip_shoulder_separation_timing"),
                                       "rotation_detected")));
    /* a real rotation is measured, judged and plotted */
    CHECK(json_is_true(
        json_object_get(json_object_get(m, "hip_shoulder_separation_timing"), "measured")));
    json_t *fd = NULL;
    CHECK(analysis_findings(m, "bowling", 12, 12, &fd, NULL) == CR_OK);
    CHECK(has_string(json_object_get(fd, "metrics_measured"), "hip_shoulder_separation_timing"));
    char *html = NULL;
    CHECK(analysis_report_html(m, fd, NULL, &s, NULL, &html, NULL, NULL) == CR_OK);
    CHECK(html != NULL && strstr(html, "<h3>Hip-shoulder separation timing (score") != NULL);
    CHECK(html != NULL && strstr(html, "0.20 s lag") != NULL);
    cr_free(html);
    json_decref(fd);
    json_decref(m);
    analysis_series_free(&s);
}

/* A player standing still (landmarks jitter by a pixel), analysed in bowling mode:
 * no rotation, no stride, no delivery.  Those metrics are not measured, with their
 * reasons, and nothing says otherwise: no lag, no finding, no plot, no evidence;
 * the level rests on the four metrics that were measured. */
static void test_still(void)
{
    analysis_series s = {0};
    s.width = 640;
    s.height = 480;
    for (int k = 0; k < 40; k++) {
        analysis_frame f;
        base_frame(&f, k);
        for (int i = 0; i < ANALYSIS_LM; i++) {
            f.x[i] += (float)((k * 7 + i * 3) % 3 - 1);
            f.y[i] += (float)((k * 5 + i) % 3 - 1);
        }
        analysis_series_push(&s, &f, NULL);
    }
    json_t *m = metrics_of(&s);
    const json_t *sep = json_object_get(m, "hip_shoulder_separation_timing");
    CHECK(json_is_false(json_object_get(sep, "rotation_detected")));
    CHECK(json_is_false(json_object_get(sep, "measured")));
    CHECK(json_is_null(json_object_get(sep, "score")));
    const char *why = json_string_value(json_object_get(sep, "reason"));
    CHECK_MSG(why != NULL && strstr(why, "no rotation seen") != NULL, "%s", why);
    CHECK(json_array_size(json_object_get(json_object_get(sep, "evidence"), "worst_frames")) == 0);
    CHECK(json_array_size(json_object_get(json_object_get(sep, "evidence"), "bad_segments")) == 0);
    CHECK(json_array_size(json_object_get(sep, "per_frame_scores")) == 40); /* what was seen */
    const char *unmeasured[] = {"stride_length", "front_knee_angle_at_ffc",
                                "bowling_elbow_extension"};
    for (int i = 0; i < 3; i++) {
        const json_t *x = json_object_get(m, unmeasured[i]);
        CHECK_MSG(json_is_false(json_object_get(x, "measured")), "%s", unmeasured[i]);
        CHECK_MSG(json_is_string(json_object_get(x, "reason")), "%s", unmeasured[i]);
    }
    CHECK(json_is_true(json_object_get(json_object_get(m, "head_stability_score"), "measured")));

    json_t *fd = NULL, *rep = NULL;
    CHECK(analysis_findings(m, "bowling", 40, 40, &fd, NULL) == CR_OK);
    CHECK_INT_EQ(json_array_size(json_object_get(fd, "findings")), 0);
    CHECK(sev(fd, "ROTATION_TIMING") == NULL);
    const json_t *done = json_object_get(fd, "metrics_measured");
    CHECK_INT_EQ(json_array_size(done), 4);
    CHECK(!has_string(done, "hip_shoulder_separation_timing"));
    const json_t *undone = json_object_get(fd, "metrics_not_measured");
    int seen_sep = 0;
    size_t i;
    json_t *u;
    json_array_foreach(undone, i, u)
    {
        const char *name = json_string_value(json_object_get(u, "metric"));
        seen_sep += name != NULL && strcmp(name, "hip_shoulder_separation_timing") == 0;
        CHECK(json_is_string(json_object_get(u, "reason")));
    }
    CHECK_INT_EQ(seen_sep, 1);
    /* separation, elbow extension, front knee at FFC, trunk (oblique camera) */
    CHECK_INT_EQ(json_array_size(undone), 4);
    CHECK_STR_EQ(json_string_value(json_object_get(fd, "overall_level")), "high");

    CHECK(analysis_report_json(fd, "bowling", &rep, NULL) == CR_OK);
    const char *sum = json_string_value(json_object_get(rep, "summary"));
    CHECK_MSG(sum != NULL && strstr(sum, "could not be measured") != NULL, "%s", sum);
    CHECK_INT_EQ(json_array_size(json_object_get(rep, "not_measured")), 4);

    char *html = NULL;
    CHECK(analysis_report_html(m, fd, NULL, &s, NULL, &html, NULL, NULL) == CR_OK);
    if (html != NULL) {
        CHECK(strstr(html, "s lag") == NULL); /* no lag value anywhere */
        CHECK(strstr(html, "<h3>Hip-shoulder separation timing") == NULL); /* no plot */
        CHECK(strstr(html, "<h3>Stride length") == NULL);
        const char *row = strstr(html, "<tr><td>Hip-shoulder separation timing</td>");
        const char *end = row ? strstr(row, "</tr>") : NULL;
        CHECK(row != NULL && end != NULL);
        if (row != NULL && end != NULL) {
            char *r = cr_strndup(row, (size_t)(end - row));
            CHECK(r != NULL && strstr(r, "not measured") != NULL && strstr(r, "no rotation seen"));
            cr_free(r);
        }
        CHECK(strstr(html, "No issue crossed its threshold in the 4 metrics measured") != NULL);
        CHECK(strstr(html, "<tr><th>Not measured</th>") != NULL);
        CHECK(strstr(html, "high (from the 4 metrics measured)") != NULL);
    }
    cr_free(html);
    json_decref(rep);
    json_decref(fd);
    json_decref(m);
    analysis_series_free(&s);
}

/* Three detected frames: too few for any metric.  Nothing is measured, so nothing
 * is rated "high": the level is "low" and every text says nothing was measured. */
static void test_nothing_measured(void)
{
    analysis_series s = {0};
    s.width = 640;
    s.height = 480;
    for (int k = 0; k < 3; k++) {
        analysis_frame f;
        base_frame(&f, k);
        analysis_series_push(&s, &f, NULL);
    }
    json_t *m = metrics_of(&s), *fd = NULL, *rep = NULL;
    const json_t *head = json_object_get(m, "head_stability_score");
    CHECK(json_is_false(json_object_get(head, "measured")));
    const char *why = json_string_value(json_object_get(head, "reason"));
    CHECK_MSG(why != NULL && strstr(why, "only 2 frames") != NULL, "%s", why);
    /* too few frames comes before "no rotation" */
    why = json_string_value(
        json_object_get(json_object_get(m, "hip_shoulder_separation_timing"), "reason"));
    CHECK_MSG(why != NULL && strstr(why, "only 3 frames") != NULL, "%s", why);
    CHECK(analysis_findings(m, "batting", 3, 3, &fd, NULL) == CR_OK);
    CHECK_INT_EQ(json_array_size(json_object_get(fd, "metrics_measured")), 0);
    CHECK_INT_EQ(json_array_size(json_object_get(fd, "metrics_not_measured")), 5);
    CHECK_STR_EQ(json_string_value(json_object_get(fd, "overall_level")), "low");
    CHECK(sev(fd, "INSUFFICIENT_POSE_VISIBILITY") != NULL);
    CHECK(analysis_report_json(fd, "batting", &rep, NULL) == CR_OK);
    const char *sum = json_string_value(json_object_get(rep, "summary"));
    CHECK_MSG(sum != NULL && strstr(sum, "Nothing could be measured") != NULL, "%s", sum);
    char *html = NULL;
    CHECK(analysis_report_html(m, fd, NULL, &s, NULL, &html, NULL, NULL) == CR_OK);
    CHECK(html != NULL && strstr(html, "none: nothing could be measured") != NULL);
    CHECK(html != NULL && strstr(html, "<path class=\"series\"") == NULL);
    CHECK(html != NULL && strstr(html, "No issue crossed") == NULL);
    CHECK(html != NULL && strstr(html, "No metric was measured over enough frames") != NULL);
    cr_free(html);
    json_decref(rep);
    json_decref(fd);
    json_decref(m);
    /* a hand-made object without "measured": a number is a measurement */
    fd = findings("{\"head_stability_score\":{\"score\":0.9},"
                  "\"balance_drift_score\":{\"score\":0.9,\"measured\":false,"
                  "\"reason\":\"x\"}}",
                  "batting", 10, 10);
    CHECK_INT_EQ(json_array_size(json_object_get(fd, "metrics_measured")), 1);
    CHECK_INT_EQ(json_array_size(json_object_get(fd, "metrics_not_measured")), 1);
    json_decref(fd);
    fd =
        findings("{\"balance_drift_score\":{\"score\":0.1,\"measured\":false}}", "batting", 10, 10);
    CHECK(sev(fd, "BALANCE_DRIFT") == NULL); /* not measured: no finding however low */
    CHECK_STR_EQ(json_string_value(json_object_get(fd, "overall_level")), "low");
    json_decref(fd);
    analysis_series_free(&s);
}

/* The M commands of the d attribute of the report's first series path. */
static int path_moves(const char *html)
{
    const char *p = html ? strstr(html, "<path class=\"series\"") : NULL;
    p = p ? strstr(p, " d=\"") : NULL;
    int moves = 0;
    for (p = p ? p + 4 : NULL; p && *p && *p != '"'; p++)
        moves += *p == 'M';
    return moves;
}

/* A plot breaks where frames are missing: two runs of frames, two segments. */
static void test_plot_gaps(void)
{
    for (int gap = 0; gap < 2; gap++) {
        json_t *scores = json_array(), *fns = json_array(), *ts = json_array();
        for (int k = 0; k < 20; k++) {
            int64_t fn = k < 10 || !gap ? k : k + 15; /* frames 10..24 missing */
            json_array_append_new(scores, json_real(0.5 + 0.02 * k));
            json_array_append_new(fns, json_integer(fn));
            json_array_append_new(ts, json_real((double)fn / FPS));
        }
        json_t *m = json_pack("{s:{s:f,s:b,s:i,s:o,s:o,s:o}}", "head_stability_score", "score", 0.7,
                              "measured", 1, "num_frames", 20, "per_frame_scores", scores,
                              "per_frame_frame_nums", fns, "per_frame_timestamps_s", ts);
        json_t *fd = NULL;
        char *html = NULL;
        CHECK(analysis_findings(m, "batting", 20, 20, &fd, NULL) == CR_OK);
        CHECK(analysis_report_html(m, fd, NULL, NULL, NULL, &html, NULL, NULL) == CR_OK);
        CHECK_INT_EQ(path_moves(html), gap ? 2 : 1);
        cr_free(html);
        json_decref(fd);
        json_decref(m);
    }
    /* from a series: every other nose invisible from frame 10 on -> a gap each time */
    analysis_series s = {0};
    s.width = s.height = 640;
    for (int k = 0; k < 20; k++) {
        analysis_frame f;
        base_frame(&f, k);
        f.detected = k < 8 || k >= 12; /* frames 8..11 without a player */
        analysis_series_push(&s, &f, NULL);
    }
    json_t *m = metrics_of(&s), *fd = NULL;
    char *html = NULL;
    CHECK(analysis_findings(m, "batting", 20, 16, &fd, NULL) == CR_OK);
    CHECK(analysis_report_html(m, fd, NULL, &s, NULL, &html, NULL, NULL) == CR_OK);
    CHECK_INT_EQ(path_moves(html), 2);
    cr_free(html);
    json_decref(fd);
    json_decref(m);
    analysis_series_free(&s);
}

/* Pictures: the frames chosen (findings' metrics first, no repeats, at most 8), each
 * embedded once as a JPEG data: URI in base64, the note shown; over the byte budget
 * a picture is left out. */
static void test_pictures(void)
{
    analysis_series s = {0};
    s.width = 640;
    s.height = 480;
    for (int k = 0; k < 30; k++) {
        analysis_frame f;
        base_frame(&f, k);
        f.x[ALM_NOSE] += (float)(k * k % 17) * 6.0f; /* a shaky head */
        analysis_series_push(&s, &f, NULL);
    }
    json_t *m = metrics_of(&s), *fd = NULL;
    CHECK(analysis_findings(m, "batting", 30, 30, &fd, NULL) == CR_OK);
    CHECK(sev(fd, "HEAD_MOVEMENT") != NULL);
    int64_t frames[16];
    size_t nf = analysis_report_picture_frames(m, fd, frames, 16);
    CHECK(nf >= 1 && nf <= ANALYSIS_REPORT_MAX_PICTURES);
    /* the head's worst frame first */
    const json_t *w0 = json_array_get(
        json_object_get(json_object_get(json_object_get(m, "head_stability_score"), "evidence"),
                        "worst_frames"),
        0);
    CHECK(nf >= 1 && frames[0] == json_integer_value(json_object_get(w0, "frame_num")));
    for (size_t i = 0; i < nf; i++)
        for (size_t j = 0; j < i; j++)
            CHECK(frames[i] != frames[j]);
    CHECK_INT_EQ(analysis_report_picture_frames(m, fd, frames, 1), 1);

    /* "JPEGs" of known bytes: base64 of ff d8 ff e0 'a' 'b' 'c' is "/9j/4GFiYw==" */
    static const uint8_t jpeg[] = {0xff, 0xd8, 0xff, 0xe0, 'a', 'b', 'c'};
    nf = analysis_report_picture_frames(m, fd, frames, 16);
    analysis_picture items[ANALYSIS_REPORT_MAX_PICTURES];
    for (size_t i = 0; i < nf; i++)
        items[i] = (analysis_picture){frames[i], jpeg, sizeof jpeg, 64, 48};
    analysis_pictures pics = {items, nf, "One frame could not be decoded <here>."};
    char *html = NULL;
    CHECK(analysis_report_html(m, fd, NULL, &s, &pics, &html, NULL, NULL) == CR_OK);
    if (html != NULL) {
        int uris = 0;
        for (const char *p = html;
             (p = strstr(p, "src=\"data:image/jpeg;base64,/9j/4GFiYw==\"")) != NULL; p++)
            uris++;
        CHECK_INT_EQ(uris, (int)nf);
        /* the head issue shows its picture, not a drawing */
        const char *issue = strstr(html, "<section class=\"issue\">");
        const char *end = issue ? strstr(issue, "</section>") : NULL;
        const char *img = issue ? strstr(issue, "<img") : NULL;
        CHECK(img != NULL && end != NULL && img < end);
        CHECK(strstr(html, "class=\"skel\"") == NULL);
        CHECK(strstr(html, "<h2>Key frames</h2>") != NULL);
        CHECK(strstr(html, "decoded &lt;here&gt;.") != NULL);
    }
    cr_free(html);
    /* over the budget: no picture fits, the poses are drawn instead */
    for (size_t i = 0; i < nf; i++)
        items[i].jpeg_len = ANALYSIS_REPORT_PICTURE_BYTES + 1;
    pics.note = NULL;
    CHECK(analysis_report_html(m, fd, NULL, &s, &pics, &html, NULL, NULL) == CR_OK);
    CHECK(html != NULL && strstr(html, "data:image/jpeg") == NULL);
    CHECK(html != NULL && strstr(html, "class=\"skel\"") != NULL);
    cr_free(html);
    json_decref(fd);
    json_decref(m);
    analysis_series_free(&s);
}

static void check_all_null(const json_t *m)
{
    const char *names[] = {"head_stability_score", "balance_drift_score", "front_knee_brace_score",
                           "hip_shoulder_separation_timing", "elbow_drop_score"};
    for (int i = 0; i < 5; i++) {
        const json_t *o = json_object_get(m, names[i]);
        CHECK_MSG(json_is_null(json_object_get(o, "score")), "%s", names[i]);
        CHECK_MSG(json_is_string(json_object_get(o, "reason")), "%s", names[i]);
    }
    const char *extras[] = {"front_knee_angle_at_ffc", "stride_length", "trunk_lateral_flexion",
                            "bowling_elbow_extension"};
    for (int i = 0; i < 4; i++) {
        const json_t *o = json_object_get(m, extras[i]);
        CHECK_MSG(json_is_null(json_object_get(o, "value")), "%s", extras[i]);
        CHECK_MSG(json_is_string(json_object_get(o, "reason")), "%s", extras[i]);
    }
    char *text = json_dumps(m, JSON_COMPACT);
    CHECK(text != NULL && strstr(text, "nan") == NULL && strstr(text, "inf") == NULL);
    free(text);
}

static void test_empty(void)
{
    analysis_series s = {0};
    s.width = 640;
    s.height = 480;
    json_t *m = metrics_of(&s);
    check_all_null(m);
    json_t *fd = NULL;
    CHECK(analysis_findings(m, NULL, 0, 0, &fd, NULL) == CR_OK);
    CHECK(json_is_true(json_object_get(json_object_get(fd, "reliability"), "low")));
    char *html = NULL;
    CHECK(analysis_report_html(m, fd, NULL, &s, NULL, &html, NULL, NULL) == CR_OK);
    CHECK(html != NULL && strstr(html, "</html>") != NULL);
    cr_free(html);
    json_decref(fd);
    json_decref(m);
    /* undetected frames only */
    for (int k = 0; k < 10; k++) {
        analysis_frame f;
        memset(&f, 0, sizeof f);
        f.frame_num = k;
        f.t = k / FPS;
        f.x[0] = NAN; /* ignored: not detected */
        analysis_series_push(&s, &f, NULL);
    }
    m = metrics_of(&s);
    check_all_null(m);
    json_decref(m);
    analysis_series_free(&s);
}

static json_t *findings(const char *metrics_text, const char *mode, int64_t frames, int64_t det)
{
    json_t *m = json_loads(metrics_text, 0, NULL);
    json_t *f = NULL;
    cr_err e = {0};
    CHECK_MSG(analysis_findings(m, mode, frames, det, &f, &e) == CR_OK, "%s", cr_err_msg(&e));
    json_decref(m);
    return f;
}

/* The severity of the finding `code`, or NULL when absent. */
static const char *sev(const json_t *f, const char *code)
{
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(f, "findings"), i, x)
    {
        if (strcmp(json_string_value(json_object_get(x, "code")), code) == 0)
            return json_string_value(json_object_get(x, "severity"));
    }
    return NULL;
}

static void test_findings(void)
{
    /* head 0.62: over batting's 0.60, under bowling's 0.65 (gap 0.03: low) */
    json_t *f = findings("{\"head_stability_score\":{\"score\":0.62}}", NULL, 100, 100);
    CHECK(sev(f, "HEAD_MOVEMENT") == NULL);
    CHECK_STR_EQ(json_string_value(json_object_get(f, "mode")), "batting");
    CHECK_STR_EQ(json_string_value(json_object_get(f, "overall_level")), "high");
    CHECK(json_is_false(json_object_get(json_object_get(f, "reliability"), "low")));
    json_decref(f);
    f = findings("{\"head_stability_score\":{\"score\":0.62}}", "bowling", 100, 100);
    CHECK(sev(f, "HEAD_MOVEMENT") != NULL && strcmp(sev(f, "HEAD_MOVEMENT"), "low") == 0);
    json_decref(f);
    /* severity bands: gap 0.10 medium, 0.20 high */
    f = findings(
        "{\"head_stability_score\":{\"score\":0.50},\"balance_drift_score\":{\"score\":0.35},"
        "\"front_knee_brace_score\":{\"score\":0.49},\"elbow_drop_score\":{\"score\":0.9}}",
        "batting", 100, 100);
    CHECK(sev(f, "HEAD_MOVEMENT") && strcmp(sev(f, "HEAD_MOVEMENT"), "medium") == 0);
    CHECK(sev(f, "BALANCE_DRIFT") && strcmp(sev(f, "BALANCE_DRIFT"), "high") == 0);
    CHECK(sev(f, "KNEE_COLLAPSE") && strcmp(sev(f, "KNEE_COLLAPSE"), "low") == 0);
    CHECK(sev(f, "ELBOW_DROP") == NULL);
    /* sorted high first, each with source, drills, cues */
    json_t *first = json_array_get(json_object_get(f, "findings"), 0);
    CHECK_STR_EQ(json_string_value(json_object_get(first, "code")), "BALANCE_DRIFT");
    CHECK(strstr(json_string_value(json_object_get(first, "threshold_source")), "Cricksy") != NULL);
    CHECK(json_array_size(json_object_get(first, "suggested_drills")) == 3);
    CHECK(json_array_size(json_object_get(first, "cues")) == 1);
    CHECK_STR_EQ(json_string_value(json_object_get(f, "overall_level")), "medium");
    json_decref(f);
    /* wicketkeeping knee threshold 0.45: 0.49 passes */
    f = findings("{\"front_knee_brace_score\":{\"score\":0.49}}", "wicketkeeping", 10, 10);
    CHECK(sev(f, "KNEE_COLLAPSE") == NULL);
    json_decref(f);
    /* rotation: within target +- tolerance no finding; 0.40 s batting: excess 0.18 high */
    f = findings("{\"hip_shoulder_separation_timing\":{\"score\":0.20}}", "batting", 10, 10);
    CHECK(sev(f, "ROTATION_TIMING") == NULL);
    json_decref(f);
    f = findings("{\"hip_shoulder_separation_timing\":{\"score\":0.40}}", "batting", 10, 10);
    CHECK(sev(f, "ROTATION_TIMING") && strcmp(sev(f, "ROTATION_TIMING"), "high") == 0);
    json_decref(f);
    f = findings(
        "{\"hip_shoulder_separation_timing\":{\"score\":0.40,\"rotation_detected\":false}}",
        "batting", 10, 10);
    CHECK(sev(f, "ROTATION_TIMING") == NULL);
    json_decref(f);
    /* null scores give no finding */
    f = findings("{\"head_stability_score\":{\"score\":null,\"num_frames\":0}}", "fielding", 10,
                 10);
    CHECK(sev(f, "HEAD_MOVEMENT") == NULL);
    json_decref(f);
    /* bowling extras only in bowling */
    const char *ext = "{\"bowling_elbow_extension\":{\"value\":20.0},"
                      "\"front_knee_angle_at_ffc\":{\"value\":120.0},"
                      "\"trunk_lateral_flexion\":{\"value\":45.0}}";
    f = findings(ext, "bowling", 10, 10);
    CHECK(sev(f, "ELBOW_EXTENSION_SCREEN") != NULL);
    CHECK(sev(f, "FRONT_KNEE_FLEXED_AT_FFC") &&
          strcmp(sev(f, "FRONT_KNEE_FLEXED_AT_FFC"), "medium") == 0);
    CHECK(sev(f, "TRUNK_LATERAL_FLEXION") != NULL);
    json_decref(f);
    f = findings("{\"trunk_lateral_flexion\":{\"value\":45.0,\"view_ok\":false}}", "bowling", 10,
                 10);
    CHECK(sev(f, "TRUNK_LATERAL_FLEXION") == NULL);
    json_decref(f);
    f = findings(ext, "batting", 10, 10);
    CHECK(sev(f, "ELBOW_EXTENSION_SCREEN") == NULL && sev(f, "TRUNK_LATERAL_FLEXION") == NULL);
    json_decref(f);
    /* low detection: warning and visibility finding; 59 % vs 60 % */
    f = findings("{}", "batting", 100, 59);
    const json_t *rel = json_object_get(f, "reliability");
    CHECK(json_is_true(json_object_get(rel, "low")));
    CHECK(json_is_string(json_object_get(rel, "warning")));
    CHECK(sev(f, "INSUFFICIENT_POSE_VISIBILITY") &&
          strcmp(sev(f, "INSUFFICIENT_POSE_VISIBILITY"), "low") == 0);
    json_decref(f);
    f = findings("{}", "batting", 100, 60);
    CHECK(json_is_false(json_object_get(json_object_get(f, "reliability"), "low")));
    CHECK(sev(f, "INSUFFICIENT_POSE_VISIBILITY") == NULL);
    json_decref(f);
    f = findings("{}", "batting", 100, 10);
    CHECK(sev(f, "INSUFFICIENT_POSE_VISIBILITY") &&
          strcmp(sev(f, "INSUFFICIENT_POSE_VISIBILITY"), "medium") == 0);
    json_decref(f);
    /* unknown mode */
    json_t *m = json_object(), *out = NULL;
    cr_err e = {0};
    CHECK(analysis_findings(m, "cycling", 1, 1, &out, &e) == CR_ERR_INVALID && out == NULL);
    CHECK(analysis_mode_valid(NULL) && analysis_mode_valid("fielding") &&
          !analysis_mode_valid("x"));
    json_decref(m);
}

/* The one list of modes: names, lookup, and the message texts built from it. */
static void test_modes(void)
{
    CHECK_INT_EQ(analysis_mode_count(), ANALYSIS_MODE_COUNT);
    CHECK_INT_EQ(analysis_mode_count(), 4);
    CHECK_STR_EQ(analysis_mode_name(ANALYSIS_BATTING), "batting");
    CHECK_STR_EQ(analysis_mode_name(ANALYSIS_BOWLING), "bowling");
    CHECK_STR_EQ(analysis_mode_name(ANALYSIS_WICKETKEEPING), "wicketkeeping");
    CHECK_STR_EQ(analysis_mode_name(ANALYSIS_FIELDING), "fielding");
    CHECK(analysis_mode_name(-1) == NULL && analysis_mode_name(ANALYSIS_MODE_COUNT) == NULL);
    char text[256] = "", bar[256] = "";
    for (int i = 0; i < analysis_mode_count(); i++) {
        const char *name = analysis_mode_name(i);
        CHECK_INT_EQ(analysis_mode_find(name), i);
        CHECK(analysis_mode_valid(name));
        const char *sep = i == 0 ? "" : i + 1 == analysis_mode_count() ? " or " : ", ";
        snprintf(text + strlen(text), sizeof text - strlen(text), "%s%s", sep, name);
        snprintf(bar + strlen(bar), sizeof bar - strlen(bar), "%s%s", i ? "|" : "", name);
    }
    CHECK_STR_EQ(text, ANALYSIS_MODES_TEXT);
    CHECK_STR_EQ(bar, ANALYSIS_MODES_BAR);
    /* user input must name a mode exactly; a job without one is batting */
    CHECK(analysis_mode_find(NULL) < 0 && analysis_mode_find("") < 0);
    CHECK(analysis_mode_find("Batting") < 0 && analysis_mode_find("batting ") < 0);
    CHECK(analysis_mode_valid(NULL) && analysis_mode_valid(""));
    CHECK(!analysis_mode_valid("golf"));
}

static void test_report(void)
{
    analysis_series s = {0};
    s.width = 640;
    s.height = 480;
    for (int k = 0; k < 30; k++) {
        analysis_frame f;
        base_frame(&f, k);
        f.x[ALM_NOSE] += (float)(k * k % 17) * 6.0f; /* a shaky head */
        analysis_series_push(&s, &f, NULL);
    }
    json_t *m = metrics_of(&s), *fd = NULL;
    CHECK(analysis_findings(m, "batting", 100, 40, &fd, NULL) == CR_OK);
    CHECK(sev(fd, "HEAD_MOVEMENT") != NULL);
    json_t *info = json_pack("{s:s,s:f}", "job_id", "<script>alert('x')</script>&",
                             "video_duration_seconds", 3.0);
    char *html = NULL;
    size_t len = 0;
    CHECK(analysis_report_html(m, fd, info, &s, NULL, &html, &len, NULL) == CR_OK);
    if (html != NULL) {
        CHECK_INT_EQ(strlen(html), len);
        CHECK(strncmp(html, "<!DOCTYPE html>", 15) == 0);
        CHECK(strstr(html, "</html>") != NULL);
        CHECK(strstr(html, "<h2>Summary</h2>") != NULL);
        CHECK(strstr(html, "<h2>Top issues</h2>") != NULL);
        CHECK(strstr(html, "Reliability warning") != NULL);
        CHECK(strstr(html, "Drills") != NULL);
        CHECK(strstr(html, "<path class=\"series\"") != NULL);
        CHECK(strstr(html, "class=\"skel\"") != NULL);
        CHECK(strstr(html, "<script") == NULL);
        CHECK(strstr(html, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;") != NULL);
        CHECK(strstr(html, "src=") == NULL && strstr(html, "href=") == NULL &&
              strstr(html, "http") == NULL);
        CHECK(strstr(html, "SCREENING") != NULL || strstr(html, "screening") != NULL);
    }
    cr_free(html);
    /* no warning with good detection */
    json_decref(fd);
    CHECK(analysis_findings(m, "batting", 100, 95, &fd, NULL) == CR_OK);
    CHECK(analysis_report_html(m, fd, NULL, NULL, NULL, &html, NULL, NULL) == CR_OK);
    CHECK(html != NULL && strstr(html, "Reliability warning") == NULL);
    cr_free(html);
    json_decref(fd);
    json_decref(info);
    json_t *c = analysis_metrics_compact(m);
    CHECK(c != NULL &&
          json_object_get(json_object_get(c, "head_stability_score"), "per_frame_scores") == NULL);
    CHECK(json_is_number(json_object_get(json_object_get(c, "head_stability_score"), "score")));
    json_decref(c);
    json_decref(m);
    analysis_series_free(&s);
}

/* A 15-minute session at 10 fps: the plots are decimated, the page stays small. */
static void test_long(void)
{
    analysis_series s = {0};
    s.width = 1280;
    s.height = 720;
    for (int k = 0; k < 9000; k++) {
        analysis_frame f;
        base_frame(&f, k);
        f.x[ALM_NOSE] += (float)(k % 7) * 3.0f;
        f.detected = k % 10 != 0;
        CHECK(analysis_series_push(&s, &f, NULL) == CR_OK);
    }
    json_t *m = metrics_of(&s), *fd = NULL;
    CHECK(json_array_size(json_object_get(json_object_get(m, "head_stability_score"),
                                          "per_frame_scores")) == 8100);
    CHECK(analysis_findings(m, "batting", 9000, 8100, &fd, NULL) == CR_OK);
    char *html = NULL;
    size_t len = 0;
    CHECK(analysis_report_html(m, fd, NULL, &s, NULL, &html, &len, NULL) == CR_OK);
    CHECK_MSG(len < 200000, "report of %zu bytes", len);
    /* the first plot's line has at most 1200 points */
    const char *p = html ? strstr(html, "<path class=\"series\"") : NULL;
    const char *e = p ? strstr(p, "\"/>") : NULL;
    int commas = 0;
    for (; p && e && p < e; p++)
        commas += *p == ',';
    CHECK_MSG(commas > 500 && commas <= 1200, "%d points", commas);
    cr_free(html);
    json_decref(fd);
    json_decref(m);
    analysis_series_free(&s);
}

/* The results of one run of the whole analysis. */
typedef struct run_out {
    json_t *metrics, *compact, *findings;
    char *html;
} run_out;

static void run_out_free(run_out *o)
{
    json_decref(o->metrics);
    json_decref(o->compact);
    json_decref(o->findings);
    cr_free(o->html);
    memset(o, 0, sizeof *o);
}

/* metrics -> compact -> findings -> report, as the pipeline runs them; on failure
 * checks that nothing was handed out, and keeps nothing. */
static cr_status run_all(const analysis_series *s, run_out *o, cr_err *e)
{
    memset(o, 0, sizeof *o);
    cr_status st = analysis_metrics(s, &o->metrics, e);
    CHECK(st == CR_OK || o->metrics == NULL);
    if (st == CR_OK && (o->compact = analysis_metrics_compact(o->metrics)) == NULL)
        st = CR_ERR_NOMEM;
    if (st == CR_OK) {
        st = analysis_findings(o->metrics, "bowling", 8, 8, &o->findings, e);
        CHECK(st == CR_OK || o->findings == NULL);
    }
    if (st == CR_OK) {
        st = analysis_report_html(o->metrics, o->findings, NULL, s, NULL, &o->html, NULL, e);
        CHECK(st == CR_OK || o->html == NULL);
    }
    if (st != CR_OK)
        run_out_free(o);
    return st;
}

static int json_same(const json_t *a, const json_t *b)
{
    return json_equal((json_t *)a, (json_t *)b);
}

/* Every allocation failing in turn, ours and jansson's (cr_mem_init): NOMEM and no
 * output, and once all succeed the very same output as without faults (a failure
 * swallowed on the way would leave something out); no leak (ASan).  The results
 * are compared with faults off: jansson's own json_dumps ignores a failure while
 * writing an object key (2.14), which is not what is tested here. */
static void test_nomem(void)
{
    /* jansson allocates through cr_malloc */
    cr_mem_fail_after(0, 0);
    json_t *probe = json_object();
    cr_mem_fail_after(-1, 0);
    CHECK(probe == NULL);
    json_decref(probe);

    analysis_series s = {0};
    s.width = 640;
    s.height = 480;
    for (int k = 0; k < 8; k++) {
        analysis_frame f;
        base_frame(&f, k);
        analysis_series_push(&s, &f, NULL);
    }
    run_out ref, got;
    cr_err e = {0};
    CHECK(run_all(&s, &ref, &e) == CR_OK);
    int ok = 0;
    long n;
    for (n = 0; n < 100000 && !ok; n++) {
        cr_err_clear(&e);
        cr_mem_fail_after(n, 0);
        cr_status st = run_all(&s, &got, &e);
        cr_mem_fail_after(-1, 0);
        if (st == CR_OK) {
            ok = 1;
            CHECK(json_same(got.metrics, ref.metrics));
            CHECK(json_same(got.compact, ref.compact));
            CHECK(json_same(got.findings, ref.findings));
            CHECK_STR_EQ(got.html, ref.html);
            run_out_free(&got);
        } else {
            CHECK_MSG(st == CR_ERR_NOMEM, "n=%ld: %s", n, cr_err_msg(&e));
        }
    }
    printf("analysis: %ld injected allocation failures, then success\n", n - 1);
    CHECK(ok);
    CHECK(n > 1000); /* the JSON is reached: far more than our own allocations */
    run_out_free(&ref);
    analysis_series_free(&s);
}

int main(void)
{
    cr_mem_init();
    test_head();
    test_non_square();
    test_knee();
    test_elbow_extension();
    test_separation();
    test_still();
    test_nothing_measured();
    test_plot_gaps();
    test_pictures();
    test_two_deliveries();
    test_empty();
    test_findings();
    test_modes();
    test_report();
    test_long();
    test_nomem();
    return check_exit();
}
