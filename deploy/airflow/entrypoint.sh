#!/bin/sh
# Entry point of the air-executor-airflow image.
#   init        (as root) hand $AIR_EXECUTOR_BASE_PATH/jobs to the airflow user, then migrate the
#               database as that user; compose runs it once before Airflow starts (airflow-init)
#   standalone  (default) write the admin login, then `airflow standalone`: api-server (UI and
#               REST API on :8080), scheduler (LocalExecutor), dag-processor, triggerer
#   health      exit 0 when /api/v2/monitor/health says every component is healthy
#   anything else runs `airflow ARGS...`
# Settings: AIRFLOW_ADMIN_USER (default admin), AIRFLOW_ADMIN_PASSWORD (default admin).
set -eu

say() { echo "air-executor-airflow: $*" >&2; }

admin_login() {
  export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS:-${AIRFLOW_ADMIN_USER:-admin}:admin}"
  # The simple auth manager reads passwords from this JSON file; it generates a random one only
  # for users missing from it. Written on every start, so a changed password applies on restart.
  python - <<'PY'
import json, os
path = os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
user = os.environ.get("AIRFLOW_ADMIN_USER") or "admin"
tmp = f"{path}.{os.getpid()}.tmp"
with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as handle:
    json.dump({user: os.environ.get("AIRFLOW_ADMIN_PASSWORD") or "admin"}, handle)
os.replace(tmp, path)
PY
}

case "${1:-standalone}" in
  init)
    [ "$(id -u)" -eq 0 ] || { say "init must run as root (compose: user: \"0:0\")"; exit 1; }
    jobs="${AIR_EXECUTOR_BASE_PATH:-/data/.air-executor}/jobs"
    mkdir -p "$jobs"
    # Runners run as the owner of their job folder; Airflow (uid airflow) creates those folders
    # in jobs/, so it must be able to write there. Only jobs/ itself changes hands: existing job
    # folders keep their owners, and root (the manager, `docker compose exec`) writes anyway.
    chown airflow:airflow "$jobs" "$AIRFLOW_HOME"
    say "jobs folder $jobs belongs to $(stat -c %U:%G "$jobs"); migrating the database"
    exec setpriv --reuid=airflow --regid=airflow --init-groups airflow db migrate
    ;;
  standalone)
    admin_login
    exec airflow standalone
    ;;
  health)
    exec python - <<'PY'
import json, sys, urllib.request
with urllib.request.urlopen("http://127.0.0.1:8080/api/v2/monitor/health", timeout=5) as response:
    health = json.load(response)
bad = {name: part.get("status") for name, part in health.items() if isinstance(part, dict) and part.get("status") != "healthy"}
sys.exit(f"unhealthy: {bad}" if bad else 0)
PY
    ;;
  *)
    exec airflow "$@"
    ;;
esac
