# Shared helpers for the project's scripts. Sourced, never run.
# Everything here is idempotent: calling a step twice does no harm and no extra work.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export ROOT

# The cargo target directory lives outside the clone so repeated runs on one machine are warm.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/crosslock/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
CACHE_DIR="$HOME/.cache/crosslock"
export CACHE_DIR

# Local services used by tests and the devnet. The role and database are created by ensure_postgres.
export PGHOST="${PGHOST:-127.0.0.1}"
export PGPORT="${PGPORT:-5432}"
export DATABASE_URL="${DATABASE_URL:-postgres://crosslock:crosslock@127.0.0.1:5432/crosslock}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"

# Tools installed from npm (package.json) come first on PATH.
for bin in "$ROOT"/node_modules/@foundry-rs/*/bin; do
  [ -d "$bin" ] && PATH="$bin:$PATH"
done
PATH="$ROOT/node_modules/.bin:$PATH"
export PATH

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Run a command as the postgres superuser, whichever way this machine allows.
as_postgres() {
  if [ "$(id -u)" -eq 0 ] && id postgres >/dev/null 2>&1; then
    runuser -u postgres -- "$@"
  elif id postgres >/dev/null 2>&1 && command -v sudo >/dev/null; then
    sudo -u postgres "$@"
  else
    "$@"
  fi
}

apt_updated=0
apt_install() {
  [ "$#" -gt 0 ] || return 0
  if [ "$apt_updated" -eq 0 ]; then
    log "apt-get update"
    as_root apt-get update -qq
    apt_updated=1
  fi
  log "apt-get install $*"
  # Packages such as postgresql, redis-server and prometheus start a service when installed. The
  # scripts start what they need themselves, on loopback, so Debian's policy-rc.d switch denies
  # every service start while packages install (left alone when the machine already has one).
  local guard=/usr/sbin/policy-rc.d placed=0 status=0
  if [ ! -e "$guard" ]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee "$guard" >/dev/null
    as_root chmod 755 "$guard"
    placed=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" \
    >/dev/null || status=$?
  [ "$placed" -eq 0 ] || as_root rm -f "$guard"
  return "$status"
}

# Installs every package named in scripts/apt-packages.txt that is not installed yet. A line is
# `package [command]`: when the command is already on PATH (installed some other way, as Node.js
# often is) the package is left alone.
ensure_apt_packages() {
  local missing=() pkg cmd
  while read -r pkg cmd _; do
    case "$pkg" in ''|'#'*) continue ;; esac
    case "$cmd" in '#'*) cmd="" ;; esac
    [ -n "$cmd" ] && command -v "$cmd" >/dev/null && continue
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done <"$ROOT/scripts/apt-packages.txt"
  apt_install "${missing[@]}"
}

pg_running() { pg_isready -q -h "$PGHOST" -p "$PGPORT" 2>/dev/null; }

# Starts the Debian Postgres cluster if it is not running, then makes sure the project's role and
# database exist. Password auth works whether the server trusts loopback or asks for scram.
ensure_postgres() {
  if ! pg_running; then
    local version
    version="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)"
    [ -n "$version" ] || die "no Postgres cluster found under /etc/postgresql"
    log "starting Postgres $version"
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
    for _ in $(seq 1 50); do pg_running && break; sleep 0.2; done
    pg_running || die "Postgres did not start"
  fi
  if ! psql "$DATABASE_URL" -Atqc 'select 1' >/dev/null 2>&1; then
    log "creating Postgres role and database 'crosslock'"
    as_postgres psql -h "$PGHOST" -p "$PGPORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qc \
      "DO \$\$ BEGIN
         IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'crosslock') THEN
           CREATE ROLE crosslock LOGIN CREATEDB PASSWORD 'crosslock';
         END IF;
       END \$\$;" >/dev/null
    as_postgres psql -h "$PGHOST" -p "$PGPORT" -U postgres -d postgres -Atqc \
      "SELECT 1 FROM pg_database WHERE datname = 'crosslock'" | grep -q 1 ||
      as_postgres psql -h "$PGHOST" -p "$PGPORT" -U postgres -d postgres -qc \
        "CREATE DATABASE crosslock OWNER crosslock" >/dev/null
    psql "$DATABASE_URL" -Atqc 'select 1' >/dev/null || die "cannot connect to $DATABASE_URL"
  fi
}

redis_running() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

# Starts a Redis that keeps nothing on disk if none answers on 6379. Prints the pid it started.
ensure_redis() {
  redis_running && return 0
  log "starting Redis on 127.0.0.1:6379"
  mkdir -p "$CACHE_DIR/redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no \
    --dir "$CACHE_DIR/redis" --pidfile "$CACHE_DIR/redis/redis.pid" \
    --logfile "$CACHE_DIR/redis/redis.log" >/dev/null
  for _ in $(seq 1 50); do redis_running && break; sleep 0.1; done
  redis_running || die "Redis did not start"
}

# npm tools pinned by package-lock.json; reinstalled only when the lockfile changed.
ensure_npm_tools() {
  local stamp="$ROOT/node_modules/.crosslock-lock"
  if [ -f "$stamp" ] && cmp -s "$stamp" "$ROOT/package-lock.json"; then
    return 0
  fi
  log "npm ci (anvil, forge, cast, solc, Solidity libraries)"
  (cd "$ROOT" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  cp "$ROOT/package-lock.json" "$stamp"
}

# Python tools pinned in scripts/requirements.txt, in a virtualenv outside the clone.
ensure_python_tools() {
  local req="$ROOT/scripts/requirements.txt" venv="$CACHE_DIR/venv"
  [ -f "$req" ] || return 0
  grep -qvE '^\s*(#|$)' "$req" || return 0
  if [ ! -x "$venv/bin/python" ]; then
    log "creating Python virtualenv"
    python3 -m venv "$venv" 2>/dev/null || { apt_install python3-venv; python3 -m venv "$venv"; }
  fi
  if ! cmp -s "$req" "$venv/.crosslock-req"; then
    log "pip install -r scripts/requirements.txt"
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$req"
    cp "$req" "$venv/.crosslock-req"
  fi
  PATH="$venv/bin:$PATH"
  export PATH
}

ensure_rust_tools() {
  command -v cargo >/dev/null || die "cargo not found: install the Rust toolchain (rustup) first"
  cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
  cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
  if ! command -v cargo-nextest >/dev/null; then
    log "cargo install cargo-nextest"
    cargo install --locked cargo-nextest
  fi
}

# Everything the build, the tests and the local stack need.
setup_all() {
  ensure_apt_packages
  ensure_rust_tools
  ensure_npm_tools
  ensure_python_tools
  ensure_postgres
  ensure_redis
}
