/* rusage N CMD...: runs CMD N times, prints median wall ms, CPU ms and peak RSS KiB.
 * Built static and tiny, since a child's peak RSS includes what it held before exec. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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

int main(int argc, char **argv)
{
    int n = argc > 2 ? atoi(argv[1]) : 0;
    if (n < 1 || n > 1000) {
        fputs("usage: rusage N CMD...\n", stderr);
        return 2;
    }
    const char *before = getenv("BENCH_BEFORE"), *errpath = getenv("BENCH_ERR");
    double wall[1000], cpu[1000], rss[1000];
    for (int i = 0; i < n; i++) {
        if (before && system(before) != 0)
            return 1;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        pid_t pid = fork();
        if (pid == 0) {
            int null = open("/dev/null", O_RDWR), err = errpath
                ? open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644) : null;
            dup2(null, 0), dup2(null, 1), dup2(err, 2);
            execvp(argv[2], argv + 2);
            _exit(127);
        }
        int st;
        struct rusage ru;
        if (pid < 0 || wait4(pid, &st, 0, &ru) < 0)
            return 1;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "rusage: %s failed (status %d)\n", argv[2], st);
            return 1;
        }
        wall[i] = (t1.tv_sec - t0.tv_sec) * 1e3 + (t1.tv_nsec - t0.tv_nsec) / 1e6;
        cpu[i] = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
                 (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
        rss[i] = (double)ru.ru_maxrss;
    }
    printf("%.1f %.1f %.0f\n", median(wall, n), median(cpu, n), median(rss, n));
    return 0;
}
