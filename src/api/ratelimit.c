/*
 * ratelimit.c -- per-token limits on job creation (DESIGN.md §10): a token bucket per
 * token subject, `burst` jobs at once and `per_minute` a minute after that.
 *
 * Without it one coach could create jobs without end (200 initiates took 1.3 s) and
 * fill the queue for everyone.  Buckets live in a fixed table (API_RATE_SLOTS): a
 * subject not in it takes the slot of the bucket that has been full the longest (a
 * full bucket holds no state worth keeping), else of the oldest one; so memory is
 * bounded whatever the number of subjects, and an evicted subject starts again
 * with a full bucket, which only ever errs on the side of letting a request in.
 *
 * Thread-safety: api_rate_take locks the table; libmicrohttpd calls it from any
 * connection thread.
 */
#include "api/api_int.h"

#include <math.h>
#include <string.h>

void api_rate_init(api_rate *r, double per_minute, double burst)
{
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->lock, NULL);
    r->per_second = per_minute > 0 ? per_minute / 60.0 : 0; /* 0 = no limit */
    r->burst = burst >= 1 ? burst : 1;
}

void api_rate_destroy(api_rate *r)
{
    pthread_mutex_destroy(&r->lock);
}

/* The bucket of `sub` at time `now` (tokens refilled), a new full one when absent. */
static api_rate_bucket *bucket_of(api_rate *r, const char *sub, double now)
{
    api_rate_bucket *victim = NULL;
    double victim_full_since = INFINITY;
    for (int i = 0; i < API_RATE_SLOTS; i++) {
        api_rate_bucket *b = &r->slots[i];
        if (b->used && strcmp(b->sub, sub) == 0) {
            b->tokens = fmin(r->burst, b->tokens + (now - b->at) * r->per_second);
            b->at = now;
            return b;
        }
        /* free slot first, else the one that was (or became) full earliest */
        double full_since =
            !b->used ? -INFINITY : b->at + (r->burst - b->tokens) / fmax(r->per_second, 1e-9);
        if (full_since < victim_full_since) {
            victim_full_since = full_since;
            victim = b;
        }
    }
    memset(victim, 0, sizeof *victim);
    victim->used = 1;
    snprintf(victim->sub, sizeof victim->sub, "%s", sub);
    victim->tokens = r->burst;
    victim->at = now;
    return victim;
}

int api_rate_take(api_rate *r, const char *sub, double now, double *retry_after)
{
    *retry_after = 0;
    if (r->per_second <= 0)
        return 1;
    pthread_mutex_lock(&r->lock);
    api_rate_bucket *b = bucket_of(r, sub, now);
    int ok = b->tokens >= 1.0;
    if (ok)
        b->tokens -= 1.0;
    else
        *retry_after = (1.0 - b->tokens) / r->per_second;
    pthread_mutex_unlock(&r->lock);
    return ok;
}
