#!/usr/bin/env bash
# down.sh — stop the gridprobe testbed's broker: only the RabbitMQ node and the epmd that testbed/broker/up.sh
# started, found by their PID files under ${GRIDPROBE_TESTBED:-/tmp/gridprobe-testbed}/broker/run. Messages
# in durable queues, users and logs are kept. Option: --quiet.
set -euo pipefail
TB=${GRIDPROBE_TESTBED:-/tmp/gridprobe-testbed}
B="$TB/broker"
QUIET=0; [ "${1:-}" = --quiet ] && QUIET=1
say() { [ "$QUIET" = 1 ] || printf 'testbed/broker: %s\n' "$*"; }

. "$(dirname "${BASH_SOURCE[0]}")/../lib/stop.sh"
# RabbitMQ shuts down in order on SIGTERM (a few seconds); epmd after it.
stop_pidfiles 20 "$B/run/rabbitmq.pid:beam.smp"
n=$STOPPED
stop_pidfiles 5 "$B/run/epmd.pid:epmd"
n=$((n + STOPPED))
if [ "$n" = 0 ]; then say "broker not running"; else say "stopped $n broker processes"; fi
