/* rusage N CMD... [--then CMD...]: runs CMD N times, prints median wall ms, CPU
 * ms, peak RSS KiB, and the number of failed attempts that were retried.
 * Commands joined by --then run one after the other as one run: wall and CPU
 * add up, RSS is the larger. CPU is user + sys of the command and of the
 * children it waited for (a hook script counts).
 * Environment: BENCH_BEFORE, a shell command run before each attempt;
 * BENCH_ERR, a file for the commands' stderr; BENCH_OK, the exit statuses that
 * count as success (default "0"); BENCH_RETRY, how many failed attempts may be
 * run again and left out of the figures (default 0).
 * Built static and tiny, since a child's peak RSS includes what it held before exec. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RUNS_MAX 1000

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* 1 when status is listed in BENCH_OK ("0" when unset). */
static int ok_status(int st)
{
    const char *ok = getenv("BENCH_OK");
    char buf[64], *tok, *save;

    if (!WIFEXITED(st))
        return 0;
    snprintf(buf, sizeof buf, "%s", ok ? ok : "0");
    for (tok = strtok_r(buf, " ,", &save); tok; tok = strtok_r(NULL, " ,", &save))
        if (atoi(tok) == WEXITSTATUS(st))
            return 1;
    return 0;
}

/* Runs argv[0..] up to NULL; adds its wall and CPU, raises *rss. -1 on a
 * status not in BENCH_OK, -2 when it cannot be run. */
static int run(char **argv, const char *errpath, double *wall, double *cpu, double *rss)
{
    struct timespec t0, t1;
    struct rusage ru;
    pid_t pid;
    int st;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR),
            err = errpath ? open(errpath, O_WRONLY | O_CREAT | O_APPEND, 0644) : null;
        dup2(null, 0), dup2(null, 1), dup2(err < 0 ? null : err, 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    if (pid < 0 || wait4(pid, &st, 0, &ru) < 0)
        return -2;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    *wall += (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
    *cpu += (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
            (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
    if ((double)ru.ru_maxrss > *rss)
        *rss = (double)ru.ru_maxrss;
    return ok_status(st) ? 0 : -1;
}

int main(int argc, char **argv)
{
    int n = argc > 2 ? atoi(argv[1]) : 0, i, k, retries = 0, max_retries;
    const char *before = getenv("BENCH_BEFORE"), *errpath = getenv("BENCH_ERR"),
               *retry = getenv("BENCH_RETRY");
    static double wall[RUNS_MAX], cpu[RUNS_MAX], rss[RUNS_MAX];

    if (n < 1 || n > RUNS_MAX) {
        fputs("usage: rusage N CMD... [--then CMD...]\n", stderr);
        return 2;
    }
    max_retries = retry ? atoi(retry) : 0;
    for (k = 2; k < argc; k++) /* one argv per command: --then becomes its terminator */
        if (strcmp(argv[k], "--then") == 0)
            argv[k] = NULL;
    for (i = 0; i < n; i++) {
        int rc = 0;

        if (errpath) { /* the last failure's messages only */
            int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd >= 0)
                close(fd);
        }
        if (before && system(before) != 0)
            return 1;
        wall[i] = cpu[i] = rss[i] = 0;
        for (k = 2; k < argc && rc == 0; k++) {
            rc = run(argv + k, errpath, &wall[i], &cpu[i], &rss[i]);
            while (k < argc && argv[k])
                k++;
        }
        if (rc == -1 && retries < max_retries) {
            retries++, i--;
            continue;
        }
        if (rc < 0) {
            fprintf(stderr, "rusage: %s failed%s\n", argv[2], rc == -2 ? " to start" : "");
            return 1;
        }
    }
    printf("%.1f %.1f %.0f %d\n", median(wall, n), median(cpu, n), median(rss, n), retries);
    return 0;
}
