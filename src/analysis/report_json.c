/*
 * report_json.c -- the coach's report as Cricksy's API and frontend read it
 * (deep_report, deep_results.report).
 *
 * Shape (Cricksy's coach_report_service.py, generate_coach_report; compat: never
 * rename a key):
 *   {"summary": text,
 *    "top_issues": [{"issue", "severity", "why_it_matters", "cues": [<= 2],
 *                    "video_evidence": "Observed at MM:SS-MM:SS; worst at MM:SS"}]  <= 3
 *    "key_issues": [titles]          what Cricksy's frontend normalizer reads
 *    "drills": [<= 8 unique drill names, most severe issue first],
 *    "notes": text, "generated_with_llm": false,
 *    "reliability_warning": text | null,
 *    "not_measured": [{"metric", "reason"}]}   ours: findings' metrics_not_measured
 * Texts are ours.  Built only from the findings object (analysis_findings), which is
 * already sorted from high to low severity.
 */
#include "analysis/analysis.h"

#include <stdio.h>
#include <string.h>

#define TOP_ISSUES 3 /* Cricksy: top_issues[:3] */
#define MAX_DRILLS 8 /* Cricksy: drills[:8] */

/* Appends `v` to `arr`, 1 when it was appended (a failed append drops v). */
static int push(json_t *arr, json_t *v)
{
    return v != NULL && json_array_append_new(arr, v) == 0;
}

static int has_string(const json_t *arr, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i,
                       v) if (json_is_string(v) && strcmp(json_string_value(v), s) == 0) return 1;
    return 0;
}

/* "Observed at 00:12-00:15, 00:40-00:41; worst at 00:13" or NULL. */
static json_t *evidence_text(const json_t *vev)
{
    char buf[256];
    size_t n = 0;
    const json_t *segs = json_object_get(vev, "bad_segments");
    const json_t *worst = json_object_get(vev, "worst_frames");
    size_t i;
    json_t *v;
    json_array_foreach(segs, i, v)
    {
        const char *a = json_string_value(json_object_get(v, "start"));
        const char *b = json_string_value(json_object_get(v, "end"));
        if (a == NULL || b == NULL || n >= sizeof buf)
            continue;
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s-%s", n ? ", " : "Observed at ", a, b);
    }
    json_array_foreach(worst, i, v)
    {
        const char *t = json_string_value(json_object_get(v, "timestamp"));
        if (t == NULL || n >= sizeof buf)
            continue;
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s",
                              i == 0 ? (n ? "; worst at " : "Worst at ") : ", ", t);
    }
    return n > 0 && n < sizeof buf ? json_string(buf) : NULL;
}

static json_t *top_issue(const json_t *f)
{
    json_t *o = json_object(), *cues = json_array();
    if (o == NULL || cues == NULL) {
        json_decref(o);
        json_decref(cues);
        return NULL;
    }
    const json_t *c = json_object_get(f, "cues");
    for (size_t i = 0; i < 2 && i < json_array_size(c); i++)
        push(cues, json_copy(json_array_get(c, i)));
    json_object_set_new(o, "issue", json_copy(json_object_get(f, "title")));
    json_object_set_new(o, "code", json_copy(json_object_get(f, "code")));
    json_object_set_new(o, "severity", json_copy(json_object_get(f, "severity")));
    json_object_set_new(o, "why_it_matters", json_copy(json_object_get(f, "why_it_matters")));
    json_object_set_new(o, "cues", cues);
    json_t *ev = evidence_text(json_object_get(f, "video_evidence"));
    if (ev != NULL)
        json_object_set_new(o, "video_evidence", ev);
    return o;
}

/* The one-paragraph summary: Cricksy's four bands (none, good, fair, poor) in our
 * words, and what was not measured: "no issue" must not read as "all is well" for
 * metrics that were not measured. */
static json_t *summary_text(const json_t *findings, const char *mode, int high, int medium)
{
    char buf[768];
    const json_t *list = json_object_get(findings, "findings");
    const json_t *done = json_object_get(findings, "metrics_measured");
    const json_t *undone = json_object_get(findings, "metrics_not_measured");
    size_t n = json_array_size(list), nu = json_array_size(undone);
    const char *first =
        n ? json_string_value(json_object_get(json_array_get(list, 0), "title")) : NULL;
    if (json_is_array(done) && json_array_size(done) == 0)
        snprintf(buf, sizeof buf,
                 "Nothing could be measured in this %s session, so there is no rating. Film "
                 "again with the whole body in view, side-on, in good light.",
                 mode);
    else if (n == 0 && nu > 0)
        snprintf(buf, sizeof buf,
                 "No issue crossed its threshold in the %zu metrics measured in this %s "
                 "session; %zu could not be measured (see the report for why).",
                 json_array_size(done), mode, nu);
    else if (n == 0)
        snprintf(buf, sizeof buf,
                 "No issue crossed its threshold in this %s session: keep the current "
                 "technique and practice habits.",
                 mode);
    else if (high >= 3)
        snprintf(buf, sizeof buf,
                 "Several fundamentals need work in this %s session (%d high-priority "
                 "issues). Start with: %s.",
                 mode, high, first ? first : "the first issue below");
    else if (high >= 1 || medium >= 2)
        snprintf(buf, sizeof buf,
                 "A sound base with %zu issue%s to work on in this %s session. The first "
                 "priority: %s.",
                 n, n == 1 ? "" : "s", mode, first ? first : "the first issue below");
    else
        snprintf(buf, sizeof buf,
                 "Good %s technique overall; %zu minor point%s to refine, starting with %s.", mode,
                 n, n == 1 ? "" : "s", first ? first : "the first issue below");
    return json_string(buf);
}

cr_status analysis_report_json(const json_t *findings, const char *mode, json_t **out, cr_err *err)
{
    *out = NULL;
    const json_t *list = json_object_get(findings, "findings");
    if (!json_is_array(list))
        return cr_err_set(err, CR_ERR_INVALID, "analysis: findings without a findings list");
    if (mode == NULL || *mode == '\0')
        mode = "batting";
    int high = 0, medium = 0;
    size_t i;
    json_t *f;
    json_array_foreach(list, i, f)
    {
        const char *sev = json_string_value(json_object_get(f, "severity"));
        high += sev != NULL && strcmp(sev, "high") == 0;
        medium += sev != NULL && strcmp(sev, "medium") == 0;
    }
    json_t *r = json_object(), *top = json_array(), *keys = json_array(), *drills = json_array();
    int ok = r != NULL && top != NULL && keys != NULL && drills != NULL;
    json_array_foreach(list, i, f)
    {
        if (!ok)
            break;
        if (i < TOP_ISSUES)
            ok = push(top, top_issue(f)) && push(keys, json_copy(json_object_get(f, "title")));
        const json_t *d = json_object_get(f, "suggested_drills");
        for (size_t k = 0; ok && k < json_array_size(d) && json_array_size(drills) < MAX_DRILLS;
             k++) {
            const json_t *name = json_array_get(d, k);
            if (json_is_string(name) && !has_string(drills, json_string_value(name)))
                ok = push(drills, json_string(json_string_value(name)));
        }
    }
    const json_t *warn = json_object_get(json_object_get(findings, "reliability"), "warning");
    if (ok) {
        const json_t *undone = json_object_get(findings, "metrics_not_measured");
        ok = json_object_set_new(r, "summary", summary_text(findings, mode, high, medium)) == 0 &&
             json_object_set_new(r, "not_measured",
                                 json_is_array(undone) ? json_deep_copy(undone) : json_array()) ==
                 0 &&
             json_object_set(r, "top_issues", top) == 0 &&
             json_object_set(r, "key_issues", keys) == 0 &&
             json_object_set(r, "drills", drills) == 0 &&
             json_object_set_new(
                 r, "notes",
                 json_string(json_array_size(list)
                                 ? "Work on one issue at a time, in the order listed; film "
                                   "again after a week of drills to compare."
                                 : "Film again from the same angle to track consistency.")) == 0 &&
             json_object_set_new(r, "generated_with_llm", json_false()) == 0 &&
             json_object_set_new(r, "reliability_warning",
                                 json_is_string(warn) ? json_copy((json_t *)warn) : json_null()) ==
                 0;
    }
    json_decref(top);
    json_decref(keys);
    json_decref(drills);
    if (!ok) {
        json_decref(r);
        return cr_err_set(err, CR_ERR_NOMEM, "analysis: out of memory building the report");
    }
    *out = r;
    return CR_OK;
}
