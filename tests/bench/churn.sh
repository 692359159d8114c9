#!/usr/bin/env bash
# Churn at full-table scale (issue figures): 1,000,000 IPv4 routes, a 200,000-route
# `route replace` batch under a 3,000 packet/s flow, with the default netlink buffer and with
# a 4 KiB one (the kernel drops events). Prints, per run: the batch's time, overruns, packets
# that reached an old gateway after the kernel had moved them (stale), packets the fast path
# handed to the kernel while changes were pending (the kernel-only window, in packets at
# 3,000/s), steerd's peak RSS, and `steerd --verify`. It is the resilience test
# (tests/resilience/scale-churn.sh) at the size CI cannot afford; nothing asserts a time.
# Usage: tests/bench/churn.sh   (root; after tools/dev.sh build)   BENCH_CHURN_ROUTES overrides
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
STEERD=$BUILD/agent/steerd STEERCTL=$BUILD/tools/steerctl/steerctl \
	SCALE_ROUTES=${BENCH_CHURN_ROUTES:-1000000} tests/resilience/scale-churn.sh |
	grep -E '^# (sent|[12]\.)|^(not )?ok - (no packet|every|the batch|the small|steerd --verify)'
