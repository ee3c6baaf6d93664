# Sourced by scripts/test and .ci/run: make sure Postgres and Redis answer on 127.0.0.1,
# starting the local ones when they are installed but stopped.

answers() { # host port
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && exec 3>&- 3<&-
}

ensure_postgres() {
  answers 127.0.0.1 5432 && return 0
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    echo "starting PostgreSQL..." >&2
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  fi
  for _ in $(seq 1 30); do answers 127.0.0.1 5432 && return 0; sleep 1; done
  echo "PostgreSQL is not answering on 127.0.0.1:5432" >&2
  return 1
}

ensure_redis() {
  answers 127.0.0.1 6379 && return 0
  if command -v redis-server >/dev/null 2>&1; then
    echo "starting Redis..." >&2
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no || true
  fi
  for _ in $(seq 1 30); do answers 127.0.0.1 6379 && return 0; sleep 1; done
  echo "Redis is not answering on 127.0.0.1:6379" >&2
  return 1
}
