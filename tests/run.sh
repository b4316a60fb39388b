#!/usr/bin/env bash
# Runs the unit tests (ASan+UBSan builds), the end-to-end tests (static binary) and
# the container tests (tests/containers: dockerd, compose, podman, the image index),
# then prints one line: "N passed, N failed, N skipped". A unit binary that stops
# before its last test, or an e2e script that runs fewer checks than its plan,
# counts the missing ones as failed. The e2e scripts that mostly wait (E2E_BESIDE;
# empty: none) run in a second lane beside the others.
set -u
cd "$(dirname "$0")/.."
what=${1:-all}
passed=0 failed=0 skipped=0
export CK_RESULTS=$(mktemp /tmp/certkeep-results.XXXXXX)
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

run_unit() {
    local t out rc p f s planned
    for t in build/asan/tests/test_*; do
        [ -x "$t" ] || continue
        echo "== unit $(basename "$t")"
        out=$("$t" 2>&1); rc=$?
        printf '%s\n' "$out" | grep -E '^\[  (FAILED|ERROR|SKIPPED) |^\[  PASSED|ERROR: (Address|Leak)Sanitizer|runtime error' || true
        sum_of() { printf '%s\n' "$out" | sed -n "s/$1/\\1/p" | awk '{s+=$1} END {print s+0}'; }
        planned=$(sum_of '^\[==========\] Running \([0-9]*\) test(s)\.')
        p=$(sum_of '^\[  PASSED  \] \([0-9]*\) test(s)\.')
        f=$(sum_of '^\[  FAILED  \] \([0-9]*\) test(s), listed below:')
        s=$(sum_of '^\[  SKIPPED \] \([0-9]*\) test(s), listed below:')
        if [ $((p + f + s)) -lt "$planned" ]; then
            echo "  FAIL $(basename "$t"): $((planned - p - f - s)) of $planned tests never finished"
            f=$((f + planned - p - f - s))
        fi
        passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
        # A crash, a sanitizer report or a leak after the summary is a failure of its own.
        if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
            echo "  FAIL $(basename "$t") exited $rc"; printf '%s\n' "$out" | tail -n 20
            failed=$((failed + 1))
        fi
    done
}

# run_one SCRIPT: its checks into a file of its own, the plan checked, then added to
# $CK_RESULTS (a missing check counts as failed: MISS lines carry the count).
run_one() {
    local t=$1 res rc planned ran t0=$SECONDS
    res=$(mktemp /tmp/certkeep-results.XXXXXX)
    CK_RESULTS=$res CK_TMP=$(mktemp -d /tmp/certkeep-e2e.XXXXXX) bash "$t"; rc=$?
    echo "   ($(basename "$t"): $((SECONDS - t0)) s)"
    planned=$(sed -n 's/^PLAN \([0-9]*\)$/\1/p' "$res" | head -n 1)
    ran=$(grep -c '^\(PASS\|FAIL\|SKIP\) ' "$res")
    if [ -z "$planned" ]; then
        echo "FAIL $(basename "$t"): declares no plan (exit $rc)" >>"$res"
    elif [ "$ran" -lt "$planned" ]; then
        echo "FAIL $(basename "$t"): $((planned - ran)) of $planned planned checks never ran (exit $rc)" >>"$res"
        echo "MISS $((planned - ran - 1))" >>"$res"  # the line above counts one
    elif [ "$ran" -gt "$planned" ]; then
        echo "FAIL $(basename "$t"): ran $ran checks, planned $planned (fix the plan)" >>"$res"
    fi
    flock "$CK_RESULTS" cat "$res" >>"$CK_RESULTS"
    rm -f "$res"
}

# The scripts that mostly wait for certificates to age (E2E_BESIDE) run in a second
# lane beside the others; their output follows the others'.
E2E_BESIDE=${E2E_BESIDE-t_runplus.sh t_shortlived.sh t_timescale.sh}
run_e2e() {
    local t lane="" lane_log
    lane_log=$(mktemp /tmp/certkeep-lane.XXXXXX)
    local -a main_lane=() beside=()
    for t in "${1:-tests/e2e}"/t_*.sh; do
        [ -f "$t" ] || continue
        case " $E2E_BESIDE " in
            *" $(basename "$t") "*) beside+=("$t") ;;
            *) main_lane+=("$t") ;;
        esac
    done
    if [ ${#beside[@]} -gt 0 ]; then
        (for t in "${beside[@]}"; do echo "== e2e $(basename "$t") (in the second lane)"; run_one "$t"; done) \
            >"$lane_log" 2>&1 &
        lane=$!
    fi
    for t in "${main_lane[@]}"; do
        echo "== e2e $(basename "$t")"
        run_one "$t"
    done
    if [ -n "$lane" ]; then
        wait "$lane"
        cat "$lane_log"
    fi
    rm -f "$lane_log"
}

# The container tests share one private dockerd (host networking only; the images
# are built once); its data root (~2.5 GB with the build stages) goes at the end.
engine_dir=""
start_engine() {
    engine_dir=$(mktemp -d /tmp/certkeep-dockerd.XXXXXX)
    scripts/dockerd.sh start "$engine_dir" || echo "  (no shared dockerd: each script starts its own)"
}
# The image's first build (~2 min: the build stage's apt-get and make static) runs
# niced beside the unit and e2e tests; the container tests then find it in the cache.
image_pid=""
prebuild_image() {
    [ -S "$engine_dir/docker.sock" ] || return 0
    DOCKER_HOST="unix://$engine_dir/docker.sock" nice -n 19 scripts/image.sh 0.0.0-test \
        >"$engine_dir/prebuild.log" 2>&1 &
    image_pid=$!
}
run_containers() {
    [ -n "$engine_dir" ] || start_engine
    if [ -n "$image_pid" ]; then
        wait "$image_pid" || echo "  (the image's early build failed: $(tail -n 1 "$engine_dir/prebuild.log"))"
    fi
    export CK_DOCKER_DIR=$engine_dir
    run_e2e tests/containers
    unset CK_DOCKER_DIR
    scripts/dockerd.sh stop "$engine_dir"
    rm -rf "$engine_dir"
}

# Counted once, after every script ran: $CK_RESULTS holds all of their lines.
count_results() {
    passed=$((passed + $(grep -c '^PASS ' "$CK_RESULTS")))
    failed=$((failed + $(grep -c '^FAIL ' "$CK_RESULTS") + $(sed -n 's/^MISS //p' "$CK_RESULTS" | awk '{s+=$1} END {print s+0}')))
    skipped=$((skipped + $(grep -c '^SKIP ' "$CK_RESULTS")))
    grep '^FAIL ' "$CK_RESULTS" | sed 's/^/  /' || true
}

case $what in
    unit) run_unit ;;
    e2e) run_e2e; count_results ;;
    containers) run_containers; count_results ;;
    all) start_engine; prebuild_image; run_unit; run_e2e; run_containers; count_results ;;
    *) echo "usage: tests/run.sh [unit|e2e|containers|all]" >&2; exit 2 ;;
esac
rm -f "$CK_RESULTS"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
