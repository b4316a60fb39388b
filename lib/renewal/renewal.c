#include "renewal.h"

#define DAY 86400

struct ck_window ck_renewal_window(int64_t not_before, int64_t not_after)
{
    int64_t life = not_after - not_before;
    if (life <= 0)
        return (struct ck_window){not_before, not_before + 1};
    int64_t left = life < 10 * DAY ? life / 2 : life / 3;
    int64_t start = not_after - left;
    int64_t span = left / 4 > 1 ? left / 4 : 1;
    return (struct ck_window){start, start + span};
}

int64_t ck_renewal_pick(struct ck_window w, int64_t now, uint32_t rnd)
{
    int64_t t, end;
    if (w.end <= now) {
        t = now + 1 + (int64_t)(rnd % 30);
        end = now + 31;
    } else {
        int64_t from = w.start > now ? w.start : now;
        int64_t span = w.end - from;
        t = from + (int64_t)((uint64_t)rnd * (uint64_t)span >> 32);
        end = w.end;
    }
    /* Never at the top of a minute: the CA sees spikes there. The step stays
     * inside the window: a short-lived certificate's may be shorter than a minute. */
    if (t % 60 == 0) {
        int64_t room = end - t - 1;
        t += room >= 1 ? 1 + (int64_t)(rnd % (uint32_t)(room < 59 ? room : 59)) : -1;
    }
    return t;
}

long ck_retry_delay(unsigned failures, long retry_after)
{
    static const long steps[] = {60, 600, 6000};
    long d = failures == 0 ? 0 : failures <= 3 ? steps[failures - 1] : DAY;
    return retry_after > d ? retry_after : d;
}

int64_t ck_retry_bound(int64_t next_retry, unsigned failures, int64_t now)
{
    if (next_retry <= now + CK_RETRY_HORIZON)
        return next_retry;
    return now + ck_retry_delay(failures, -1);
}

struct ck_window ck_renewal_ari_bound(struct ck_window ari, int64_t not_before,
                                      int64_t not_after)
{
    int64_t latest = not_after - (not_after - not_before) / 8;
    if (ari.start >= latest || ari.end <= ari.start)
        return ck_renewal_window(not_before, not_after);
    if (ari.end > latest)
        ari.end = latest;
    return ari;
}
