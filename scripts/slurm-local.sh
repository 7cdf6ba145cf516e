#!/usr/bin/env bash
# A one-node SLURM cluster on this machine, for the tests of `--launcher slurm`.
#
#   scripts/slurm-local.sh start    install slurm-wlm + munge when missing, configure, start
#   scripts/slurm-local.sh stop     stop the daemons this script started
#   scripts/slurm-local.sh status   sinfo, or why there is no cluster
#
# Idempotent: `start` on a running cluster only checks that the node is idle. Needs root (or
# sudo) and Debian/Ubuntu packages. State, logs and pid files live in $SLURM_LOCAL_DIR
# (default /var/tmp/lesiongan-slurm). /etc/slurm/slurm.conf is written only when it is absent
# or was written by this script (a real cluster's config is never touched).
set -euo pipefail
D=${SLURM_LOCAL_DIR:-/var/tmp/lesiongan-slurm}
CONF=/etc/slurm/slurm.conf
MARK="# written by lesiongan scripts/slurm-local.sh"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

log() { echo "slurm-local: $*" >&2; }

install() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null \
        && command -v munged >/dev/null && command -v sbatch >/dev/null; then
        return
    fi
    log "installing slurm-wlm and munge (apt-get)"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq slurm-wlm munge >/dev/null
}

write_conf() {
    if [ -f "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
        log "$CONF exists and is not ours: using it as it is"
        return
    fi
    local host cpus mem_mb
    # a job that asks for no memory gets DefMemPerCPU per CPU (else the whole node: one job)
    host=$(hostname -s)
    cpus=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)  # nproc obeys OMP_NUM_THREADS
    # RealMemory: MemTotal minus a margin (1 GiB or 10 %, whichever is larger) for the OS
    mem_mb=$(awk '/MemTotal/ {m=int($2/1024); d=int(m/10); if (d<1024) d=1024; print m-d}' \
        /proc/meminfo)
    $SUDO mkdir -p /etc/slurm "$D/state" "$D/spool"
    $SUDO tee "$CONF.tmp" >/dev/null <<CONF
$MARK
ClusterName=lesiongan
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd.pid
SlurmctldLogFile=$D/slurmctld.log
SlurmdLogFile=$D/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$D/jobcomp.log
MinJobAge=600
KillWait=5
DefMemPerCPU=$((mem_mb / cpus))
NodeName=$host CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
    if cmp -s "$CONF.tmp" "$CONF"; then
        $SUDO rm -f "$CONF.tmp"
        return
    fi
    $SUDO mv "$CONF.tmp" "$CONF"
    CHANGED=1  # node changes need the daemons restarted
}

start_munge() {
    if munge -n >/dev/null 2>&1 && unmunge < <(munge -n) >/dev/null 2>&1; then
        return
    fi
    $SUDO mkdir -p /etc/munge /run/munge /var/lib/munge /var/log/munge
    if [ ! -s /etc/munge/munge.key ]; then
        $SUDO dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
    if id munge >/dev/null 2>&1; then
        $SUDO chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge
        $SUDO chmod 0400 /etc/munge/munge.key
        $SUDO -u munge /usr/sbin/munged 2>/dev/null || $SUDO /usr/sbin/munged --force
    else
        $SUDO chmod 0400 /etc/munge/munge.key
        $SUDO /usr/sbin/munged --force
    fi
    for _ in $(seq 50); do munge -n >/dev/null 2>&1 && return; sleep 0.1; done
    log "munged did not start"; exit 1
}

running() { local pid; pid=$(cat "$1" 2>/dev/null) && kill -0 "$pid" 2>/dev/null; }

node_idle() { sinfo -h -N -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; }

start() {
    install
    CHANGED=0
    write_conf
    [ "$CHANGED" -eq 0 ] || stop
    start_munge
    $SUDO mkdir -p "$D/state" "$D/spool"
    running "$D/slurmctld.pid" || $SUDO /usr/sbin/slurmctld
    # every CPU of the machine, whatever the caller's affinity mask (slurmd counts its own)
    running "$D/slurmd.pid" \
        || $SUDO taskset -c "0-$(( $(env -u OMP_NUM_THREADS nproc --all) - 1 ))" /usr/sbin/slurmd
    for _ in $(seq 150); do
        if node_idle; then
            log "up: $(sinfo -h -N -o '%N %T %c CPUs %m MB')"
            return
        fi
        # a node left down/drained (e.g. a slurmd that registered fewer CPUs than slurm.conf,
        # started under a CPU affinity mask): restart slurmd, then return the node to service
        if sinfo -h -N -o '%T' 2>/dev/null | grep -qE '^(down|drain)'; then
            if [ -z "${RESTARTED:-}" ]; then
                RESTARTED=1
                pid=$(cat "$D/slurmd.pid" 2>/dev/null) && $SUDO kill "$pid" 2>/dev/null || true
                for _ in $(seq 50); do running "$D/slurmd.pid" || break; sleep 0.1; done
                $SUDO taskset -c "0-$(( $(env -u OMP_NUM_THREADS nproc --all) - 1 ))" \
                    /usr/sbin/slurmd
            fi
            $SUDO scontrol update nodename="$(hostname -s)" state=resume 2>/dev/null || true
        fi
        sleep 0.2
    done
    log "the node is not idle after 30 s; see $D/slurmctld.log and $D/slurmd.log"
    sinfo -N >&2 || true
    exit 1
}

stop() {
    for name in slurmd slurmctld; do
        pid=$(cat "$D/$name.pid" 2>/dev/null) || continue
        $SUDO kill "$pid" 2>/dev/null || true
    done
    for name in slurmd slurmctld; do
        for _ in $(seq 50); do running "$D/$name.pid" || break; sleep 0.1; done
    done
    # munged is left running: other users of munge on this machine may need it
    log "stopped"
}

status() {
    if ! command -v sinfo >/dev/null; then log "not installed (no sinfo)"; exit 1; fi
    sinfo -N || { log "no controller answers"; exit 1; }
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
