#!/usr/bin/env bash
# Starts (or stops) the services the test suite talks to, on loopback only:
#   PostgreSQL on 127.0.0.1:${OTM_TEST_PG_PORT:-55432}, Redis on 127.0.0.1:${OTM_TEST_REDIS_PORT:-56379},
#   a Docker Engine on /var/run/docker.sock (started with plain dockerd when none answers).
# sshd and nginx are started by the tests themselves (throwaway keys and configs); this script checks they are installed.
# Idempotent: a service that already answers is left alone and not stopped later. Fails when a service cannot start.
# Usage: services.sh start [docker|postgres|redis ...] | stop
set -euo pipefail

dir=${OTM_SERVICES_DIR:-/tmp/otm-services}
pg_port=${OTM_TEST_PG_PORT:-55432}
redis_port=${OTM_TEST_REDIS_PORT:-56379}
mkdir -p "$dir"
chmod 755 "$dir"

log() { printf 'services: %s\n' "$*" >&2; }
die() { printf 'services: error: %s\n' "$*" >&2; exit 1; }

wait_for() { # wait_for DESCRIPTION SECONDS COMMAND...
  local what=$1 seconds=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.2
  done
}

pg_bin() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$d" ] || die "PostgreSQL server binaries not found; install the postgresql package"
  printf '%s' "$d"
}

start_docker() {
  if docker info >/dev/null 2>&1; then log "docker: already running"; return; fi
  command -v dockerd >/dev/null || die "dockerd not found; install the docker.io package"
  log "docker: starting dockerd"
  nohup dockerd >"$dir/dockerd.log" 2>&1 &
  echo $! >"$dir/dockerd.pid"
  wait_for docker 60 docker info || { tail -n 20 "$dir/dockerd.log" >&2; die "dockerd did not answer within 60 s"; }
}

start_postgres() {
  local bin; bin=$(pg_bin)
  if "$bin/pg_isready" -q -h 127.0.0.1 -p "$pg_port"; then log "postgres: already running on $pg_port"; return; fi
  local data="$dir/pg"
  if [ ! -s "$data/PG_VERSION" ]; then
    mkdir -p "$data"; chown postgres:postgres "$data"; chmod 700 "$data"
    runuser -u postgres -- "$bin/initdb" -D "$data" -A trust -U postgres >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
  fi
  mkdir -p "$dir/pgsock" "$dir/pglog"; chown postgres:postgres "$dir/pgsock" "$dir/pglog"
  log "postgres: starting on 127.0.0.1:$pg_port"
  runuser -u postgres -- "$bin/pg_ctl" -D "$data" -l "$dir/pglog/postgres.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $pg_port -k $dir/pgsock -c fsync=off" start >/dev/null \
    || { tail -n 20 "$dir/pglog/postgres.log" >&2; die "PostgreSQL did not start"; }
  touch "$dir/pg.started"
}

start_redis() {
  command -v redis-server >/dev/null || die "redis-server not found; install the redis-server package"
  if redis-cli -h 127.0.0.1 -p "$redis_port" ping >/dev/null 2>&1; then log "redis: already running on $redis_port"; return; fi
  log "redis: starting on 127.0.0.1:$redis_port"
  redis-server --bind 127.0.0.1 --port "$redis_port" --daemonize yes --save '' --appendonly no \
    --dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
  wait_for redis 30 redis-cli -h 127.0.0.1 -p "$redis_port" ping || die "Redis did not answer within 30 s"
}

check_installed() {
  for b in /usr/sbin/sshd /usr/bin/ssh /usr/bin/ssh-keygen /usr/sbin/nginx /usr/bin/busybox; do
    [ -x "$b" ] || die "$b not found; install openssh-server, openssh-client, nginx and busybox-static"
  done
}

stop_all() {
  if [ -f "$dir/redis.pid" ]; then kill "$(cat "$dir/redis.pid")" 2>/dev/null || true; rm -f "$dir/redis.pid"; fi
  if [ -f "$dir/pg.started" ]; then
    runuser -u postgres -- "$(pg_bin)/pg_ctl" -D "$dir/pg" -m fast -w stop >/dev/null 2>&1 || true
    rm -f "$dir/pg.started"
  fi
  if [ -f "$dir/dockerd.pid" ]; then
    kill "$(cat "$dir/dockerd.pid")" 2>/dev/null || true
    rm -f "$dir/dockerd.pid"
  fi
}

case "${1:-start}" in
  start)
    # `start` alone starts everything the tests use; `start docker` only the Engine (the demo).
    shift || true
    only=${*:-all}
    if [ "$only" = all ]; then
      check_installed
      start_docker
      start_postgres
      start_redis
    else
      for service in $only; do
        case "$service" in
          docker) start_docker ;;
          postgres) start_postgres ;;
          redis) start_redis ;;
          *) die "unknown service $service (docker, postgres, redis)" ;;
        esac
      done
    fi
    cat >"$dir/env" <<ENV
export OTM_TEST_PG_URL=postgres://postgres@127.0.0.1:$pg_port/postgres
export OTM_TEST_REDIS_URL=redis://127.0.0.1:$redis_port
ENV
    log "ready (environment in $dir/env)"
    ;;
  stop) stop_all ;;
  *) die "usage: services.sh start|stop" ;;
esac
