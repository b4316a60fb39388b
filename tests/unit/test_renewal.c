#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "cert/cert.h"
#include "renewal/renewal.h"

#define DAY 86400
#define T0 1767225600 /* 2026-01-01T00:00:00Z */

static void windows_follow_lifetime(void **state)
{
    (void)state;
    struct ck_window w = ck_renewal_window(T0, T0 + 90 * DAY);
    assert_int_equal(w.start, T0 + 60 * DAY);
    assert_true(w.end > w.start && w.end <= T0 + 90 * DAY);
    w = ck_renewal_window(T0, T0 + 45 * DAY);
    assert_int_equal(w.start, T0 + 30 * DAY);
    w = ck_renewal_window(T0, T0 + 6 * DAY);
    assert_int_equal(w.start, T0 + 3 * DAY);
    w = ck_renewal_window(T0, T0 + 160 * 3600);
    assert_int_equal(w.start, T0 + 80 * 3600);
    w = ck_renewal_window(T0, T0 + 64 * DAY);
    assert_true(w.start > T0 + 42 * DAY && w.start < T0 + 43 * DAY);
}

static void pick_is_inside_and_off_the_minute(void **state)
{
    (void)state;
    struct ck_window w = ck_renewal_window(T0, T0 + 90 * DAY);
    uint32_t seeds[] = {0, 1, 0x7fffffff, 0xffffffff, 12345, 0x80000000};
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
        int64_t t = ck_renewal_pick(w, T0, seeds[i]);
        assert_true(t >= w.start && t < w.end);
        assert_true(t % 60 != 0);
    }
    /* Different draws spread out. */
    assert_true(ck_renewal_pick(w, T0, 0x10000000) != ck_renewal_pick(w, T0, 0xf0000000));
    /* A window already past: soon, not in the past. */
    int64_t now = T0 + 89 * DAY;
    int64_t t = ck_renewal_pick(w, now, 7);
    assert_true(t > now && t < now + 120);
    /* Inside the window: from now on. */
    now = w.start + 100;
    t = ck_renewal_pick(w, now, 0);
    assert_true(t >= now);
}

/* A window shorter than a minute (a 119 s certificate's is 14 s, opening on a
 * whole minute): the step off the minute stays inside it. */
static void pick_stays_in_a_short_window(void **state)
{
    (void)state;
    struct ck_window w = ck_renewal_window(T0, T0 + 119);
    assert_int_equal(w.start, T0 + 60);
    assert_int_equal(w.end, T0 + 74);
    for (uint32_t i = 0; i < 2000; i++) {
        uint32_t rnd = i * 2654435761u;
        int64_t t = ck_renewal_pick(w, T0, rnd);
        assert_true(t >= w.start && t < w.end);
        assert_true(t % 60 != 0);
        t = ck_renewal_pick(w, T0 + 60, rnd);
        assert_true(t >= w.start && t < w.end);
        assert_true(t % 60 != 0);
    }
}

/* lib/cert's "unusable" moment comes after the renewal window has closed, with
 * at least 1/8 of the lifetime between them for retries, for every lifetime
 * and min_valid: run renews before a certificate stops being usable. */
static void unusable_after_the_window(void **state)
{
    (void)state;
    const int64_t lives[] = {60, 119, 300, 3600, DAY, 6 * DAY, 160 * 3600, 10 * DAY - 1,
                             10 * DAY, 45 * DAY, 64 * DAY, 90 * DAY, 398 * DAY};
    const long mins[] = {0, 60, 3600, DAY, 7 * DAY, 30 * DAY, 400 * DAY};
    for (size_t i = 0; i < sizeof lives / sizeof lives[0]; i++) {
        for (size_t j = 0; j < sizeof mins / sizeof mins[0]; j++) {
            int64_t na = T0 + lives[i];
            struct ck_window w = ck_renewal_window(T0, na);
            int64_t unusable = na - ck_cert_min_left(T0, na, mins[j]);
            assert_true(w.end < unusable);
            assert_true(unusable - w.end >= lives[i] / 8 - 1);
        }
    }
}

static void retry_schedule(void **state)
{
    (void)state;
    assert_int_equal(ck_retry_delay(1, -1), 60);
    assert_int_equal(ck_retry_delay(2, -1), 600);
    assert_int_equal(ck_retry_delay(3, -1), 6000);
    assert_int_equal(ck_retry_delay(4, -1), DAY);
    assert_int_equal(ck_retry_delay(40, -1), DAY);
    assert_int_equal(ck_retry_delay(1, 3600), 3600);
    assert_int_equal(ck_retry_delay(4, 60), DAY);
}

/* Times read from the store (another replica's clock, a bad write) and the CA's ARI
 * window cannot push a retry or a renewal out of reach. */
static void store_times_bounded(void **state)
{
    (void)state;
    const int64_t now = 1767323045, years = 20LL * 365 * DAY;
    assert_int_equal(ck_retry_bound(now + 600, 2, now), now + 600);
    assert_int_equal(ck_retry_bound(now + CK_RETRY_HORIZON, 9, now), now + CK_RETRY_HORIZON);
    assert_int_equal(ck_retry_bound(now + CK_RETRY_HORIZON + 1, 9, now), now + DAY);
    assert_int_equal(ck_retry_bound(now + years, 1, now), now + 60);
    assert_int_equal(ck_retry_bound(now + years, 0, now), now);
    assert_int_equal(ck_retry_bound(now + years, 1000000, now), now + DAY);
    assert_int_equal(ck_retry_bound(0, 3, now), 0);
    assert_int_equal(ck_retry_bound(now - 5, 3, now), now - 5);

    const int64_t nb = now - 60 * DAY, na = now + 30 * DAY, latest = na - 90 * DAY / 8;
    struct ck_window own = ck_renewal_window(nb, na), w;
    w = ck_renewal_ari_bound((struct ck_window){na - 20 * DAY, na - 18 * DAY}, nb, na);
    assert_true(w.start == na - 20 * DAY && w.end == na - 18 * DAY);
    w = ck_renewal_ari_bound((struct ck_window){now - 10 * DAY, now - 9 * DAY}, nb, na);
    assert_true(w.start == now - 10 * DAY && w.end == now - 9 * DAY);  /* renew now: fine */
    w = ck_renewal_ari_bound((struct ck_window){na - 15 * DAY, na + 10 * DAY}, nb, na);
    assert_true(w.start == na - 15 * DAY && w.end == latest);
    w = ck_renewal_ari_bound((struct ck_window){na - 5 * DAY, na + 10 * DAY}, nb, na);
    assert_true(w.start == own.start && w.end == own.end);
    w = ck_renewal_ari_bound((struct ck_window){na + years, na + years + DAY}, nb, na);
    assert_true(w.start == own.start && w.end == own.end);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(windows_follow_lifetime),
        cmocka_unit_test(pick_is_inside_and_off_the_minute),
        cmocka_unit_test(pick_stays_in_a_short_window),
        cmocka_unit_test(unusable_after_the_window),
        cmocka_unit_test(retry_schedule),
        cmocka_unit_test(store_times_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
