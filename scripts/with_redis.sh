#!/usr/bin/env bash
# Run a command with a Redis answering on 127.0.0.1:6379.  If one already answers it is
# used as is; otherwise a throw-away redis-server is started and stopped afterwards.
# Only what this script started is stopped.
set -uo pipefail
PORT=${NORDLID_TEST_REDIS_PORT:-6379}

redis_answers() {
  exec 3<>"/dev/tcp/127.0.0.1/$PORT" 2>/dev/null || return 1
  printf 'PING\r\n' >&3
  local reply=""
  read -r -t 2 reply <&3 || true
  exec 3<&- 3>&-
  [[ $reply == +PONG* ]]
}

started_dir=""
if ! redis_answers; then
  started_dir=$(mktemp -d)
  echo "with_redis: no Redis on 127.0.0.1:$PORT, starting one (dir $started_dir)"
  redis-server --port "$PORT" --bind 127.0.0.1 --save "" --appendonly no \
    --daemonize yes --dir "$started_dir" --pidfile "$started_dir/redis.pid" \
    --logfile "$started_dir/redis.log"
  for _ in $(seq 1 50); do redis_answers && break; sleep 0.1; done
  redis_answers || { echo "with_redis: redis-server did not start" >&2; exit 1; }
fi

stop_started() {
  if [[ -n $started_dir && -f $started_dir/redis.pid ]]; then
    kill "$(cat "$started_dir/redis.pid")" 2>/dev/null || true
    rm -rf "$started_dir"
  fi
}
trap stop_started EXIT
"$@"
