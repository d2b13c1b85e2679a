#!/usr/bin/env bash
# The real-Slurm test of sdssflow: the whole cycle on this machine, as root, no systemd.
#
#   1. install Slurm and munge from the Debian packages (apt-get);
#   2. write a one-node slurm.conf;
#   3. start munged, slurmctld and slurmd by hand (they daemonize; pids in /run);
#   4. run a tiny demo survey twice: locally (--cores 2) and through `--executor slurm
#      --workflow-profile profiles/local-slurm`, plus once with the single-node sbatch
#      script (profiles/local-slurm/sbatch_single_node.sh);
#   5. check that the science products of the Slurm runs equal those of the local run
#      (tests/slurm/test_slurm_workflow.py, pytest marker `slurm`);
#   6. stop the daemons this script started, by pid (trap on exit).
#
# Exit status: 0 only if Slurm started, every run finished and the products agree. If Slurm
# cannot start the script says why (the daemons' log tails) and exits 2; it never passes
# silently. Usage (from anywhere; needs root and apt):
#   tests/slurm/run_slurm_test.sh            # full cycle
#   KEEP_SLURM=1 tests/slurm/run_slurm_test.sh   # leave the daemons running afterwards
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VENV=${SDSSFLOW_VENV:-$REPO/.venv}
WORK=${SDSSFLOW_SLURM_WORK:-$(mktemp -d /tmp/sdssflow-slurm-test.XXXXXX)}
STARTED_PIDFILES=()
T0=$(date +%s)

say() { printf '[slurm-test %4ds] %s\n' "$(( $(date +%s) - T0 ))" "$*"; }
die() { say "FAIL: $*"; exit "${2:-1}"; }

cleanup() {
    local rc=$?
    if [ "${KEEP_SLURM:-0}" = 1 ]; then
        say "KEEP_SLURM=1: leaving the daemons running"
    else
        # Stop only what this script started, by pid, in reverse start order.
        for ((i = ${#STARTED_PIDFILES[@]} - 1; i >= 0; i--)); do
            local f=${STARTED_PIDFILES[$i]} pid
            [ -s "$f" ] || continue
            pid=$(cat "$f")
            if kill -0 "$pid" 2>/dev/null; then
                kill "$pid" 2>/dev/null || true
                for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
                if kill -0 "$pid" 2>/dev/null; then
                    say "pid $pid ($f) ignored SIGTERM for 10 s: SIGKILL"
                    kill -KILL "$pid" 2>/dev/null || true
                fi
                say "stopped $(basename "$f" .pid) (pid $pid)"
            fi
        done
        # Put slurm.conf back as it was: with a slurm.conf naming a controller that is not
        # running, `scontrol` blocks ~9 s, and snakemake-executor-plugin-slurm calls it when
        # it is loaded, i.e. at the start of EVERY snakemake run on this machine.
        if [ "$WROTE_CONF" = 1 ]; then
            if [ -n "$CONF_BACKUP" ]; then
                mv -f "$CONF_BACKUP" "$CONF" && say "restored the previous $CONF"
            else
                rm -f "$CONF" && say "removed $CONF (there was none before)"
            fi
        fi
    fi
    if [ "$rc" = 0 ] && [ "$PASSED" = 1 ]; then
        say "PASS (work dir $WORK)"
    else
        say "FAILED with exit status $rc (work dir $WORK)"
    fi
}
PASSED=0
WROTE_CONF=0
CONF_BACKUP=""
CONF=/etc/slurm/slurm.conf
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

[ "$(id -u)" = 0 ] || die "must run as root (installs packages and starts daemons)" 2
[ -x "$VENV/bin/python" ] || die "no virtualenv at $VENV (set SDSSFLOW_VENV)" 2
# shellcheck disable=SC1091
. "$VENV/bin/activate"
say "repo $REPO, work dir $WORK"

# ------------------------------------------------------------------ 1. packages
export DEBIAN_FRONTEND=noninteractive
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    say "installing slurm-wlm and munge from the Debian archive"
    apt-get update -qq || die "apt-get update failed" 2
    apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null \
        || die "apt-get install slurm-wlm munge failed" 2
else
    say "slurm-wlm and munge already installed: $(slurmctld -V)"
fi
# (find_spec, not import: importing the plugin runs `scontrol`, which blocks while no
# slurmctld is up)
python -c "import importlib.util as u, sys; sys.exit(u.find_spec('snakemake_executor_plugin_slurm') is None)" || {
    say "installing snakemake-executor-plugin-slurm (the project's [slurm] extra)"
    pip install -q "snakemake-executor-plugin-slurm>=1.2" || die "pip install of the slurm plugin failed" 2
}

# ------------------------------------------------------------------ 2. slurm.conf
HOST=$(hostname -s)
CPUS=$(nproc)
MEM=$(( $(awk '/^MemTotal:/ {print $2}' /proc/meminfo) / 1024 * 9 / 10 ))
install -d -o slurm -g slurm /var/spool/slurmctld /var/log/slurm
install -d /var/spool/slurmd /etc/slurm
if [ -f "$CONF" ] && ! grep -q '^# written by sdssflow' "$CONF"; then
    CONF_BACKUP="$CONF.before-sdssflow.$(date +%s)"
    cp "$CONF" "$CONF_BACKUP"
    say "kept a copy of the existing $CONF"
fi
WROTE_CONF=1
cat > "$CONF" <<EOF
# written by sdssflow tests/slurm/run_slurm_test.sh: one node, no accounting
ClusterName=sdssflow
SlurmctldHost=${HOST}(127.0.0.1)
SlurmUser=slurm
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MailProg=/bin/true
MinJobAge=300
NodeName=${HOST} NodeAddr=127.0.0.1 CPUs=${CPUS} RealMemory=${MEM} Features=cpu State=UNKNOWN
PartitionName=debug Nodes=${HOST} Default=YES MaxTime=INFINITE State=UP
EOF
say "wrote $CONF (${HOST}: ${CPUS} CPUs, ${MEM} MB, partition debug)"

# ------------------------------------------------------------------ 3. daemons
alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

if [ ! -s /etc/munge/munge.key ]; then mungekey --create --keyfile=/etc/munge/munge.key; fi
chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
install -d -o munge -g munge -m 755 /run/munge
if alive /run/munge/munged.pid; then
    say "munged already running (pid $(cat /run/munge/munged.pid)); not mine to stop"
else
    runuser -u munge -- /usr/sbin/munged || die "munged did not start" 2
    STARTED_PIDFILES+=(/run/munge/munged.pid)
    say "started munged (pid $(cat /run/munge/munged.pid))"
fi
munge -n | unmunge >/dev/null || die "munge round trip failed (munged not answering)" 2

for d in slurmctld slurmd; do
    if alive "/run/$d.pid"; then
        say "$d already running (pid $(cat /run/$d.pid)): reconfiguring, not mine to stop"
    else
        rm -f "/run/$d.pid"   # stale (its daemon is gone): wait for the new one below
        "$d" || die "$d did not start: $(tail -n 5 /var/log/slurm/$d.log 2>/dev/null)" 2
        for _ in $(seq 1 40); do alive "/run/$d.pid" && break; sleep 0.25; done
        STARTED_PIDFILES+=("/run/$d.pid")
        say "started $d (pid $(cat /run/$d.pid 2>/dev/null || echo '?'))"
    fi
done
timeout 10 scontrol reconfigure >/dev/null 2>&1 || true
ok=0
for _ in $(seq 1 60); do   # sinfo blocks >10 s when slurmctld is down: always under timeout
    if timeout 5 sinfo -h -o %T 2>/dev/null | grep -qx idle; then ok=1; break; fi
    sleep 0.5
done
if [ "$ok" != 1 ]; then
    say "Slurm did not come up: no idle node after 30 s"
    timeout 5 sinfo 2>&1 || true
    tail -n 20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log 2>&1 || true
    die "Slurm cannot start (see the log tails above)" 2
fi
say "node idle: $(timeout 5 sinfo -h -o '%P %D %c %m %f %T')"
timeout 30 srun -N1 -n1 true || die "srun of a trivial job failed" 2
say "srun works"

# ------------------------------------------------------------------ 4+5. runs and comparison
export SDSSFLOW_SLURM_TEST=1 SDSSFLOW_SLURM_WORK="$WORK"
cd "$REPO"
say "running tests/slurm/test_slurm_workflow.py (local run, executor run, sbatch run, compare)"
timeout -s KILL "${SDSSFLOW_SLURM_TIMEOUT:-900}" \
    python -m pytest -p no:cacheprovider -q -m slurm tests/slurm/test_slurm_workflow.py -x -rA \
    || die "the Slurm workflow test failed (products or runs; see above)" 1
PASSED=1
