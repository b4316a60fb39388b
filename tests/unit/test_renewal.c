#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

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
        assert_true(t >= w.start && t < w.end + 60);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(windows_follow_lifetime),
        cmocka_unit_test(pick_is_inside_and_off_the_minute),
        cmocka_unit_test(retry_schedule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
