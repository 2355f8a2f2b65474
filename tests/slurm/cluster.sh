#!/usr/bin/env bash
# tests/slurm/cluster.sh - bring up / tear down an emulated multi-node SLURM
# cluster on this single machine, for slinfer's multi-node tests (CI and devs).
#
# Usage (as root):
#   tests/slurm/cluster.sh up [N]    start munged, slurmctld and N slurmd (node1..nodeN, default 2)
#   tests/slurm/cluster.sh down      tear everything down (safe when nothing is up)
#   tests/slurm/cluster.sh status    sinfo/squeue; exit 0 if up, 1 if not
#   tests/slurm/cluster.sh env       print export lines: eval "$(tests/slurm/cluster.sh env)"
#
# Environment: SLINFER_SLURM_DIR  state directory (default /tmp/slinfer-slurm);
#              SLINFER_SLURM_TIMEOUT  seconds to wait for nodes to go idle (default 60).
#
# Layout (see shared/notes/SLURM-EMULATION.md for the verified facts behind it):
#   * A bridge "slinfer-br0" in the root namespace, 10.213.77.1/24: a private
#     test subnet that exists only inside this machine. srun/sbatch/sinfo run
#     from the root namespace reach the daemons through it. No other address
#     is ever touched; nothing is routed off the machine.
#   * One network namespace per daemon ("slinfer-ctl", "slinfer-node1", ...),
#     each joined to the bridge by a veth pair (host side "slv-ctl",
#     "slv-node1", ...; "eth0" inside), with loopback up (PMIx uses it).
#     Separate namespaces give every slurmd its own address and its own port
#     6818, so N slurmds look like N hosts to slurmctld and to PMIx.
#   * slurmctld lives in its own namespace with its own hostname
#     (SlurmctldHost=slinfer-ctl(10.213.77.2)): the machine's own hostname
#     resolves to 127.0.0.1, which inside a namespace is that namespace's
#     loopback, so it cannot name the controller.
#   * An /etc/hosts block between markers names the controller and nodes.
#   * Daemons are started with
#       nsenter --net=/run/netns/NS -- unshare --uts -- sh -c 'hostname NAME && exec DAEMON'
#     and NOT with `ip netns exec`: that remounts /sys, hiding
#     /sys/fs/cgroup, and slurmd 22.05 then dies with "Unable to initialize
#     cgroup plugin" even with proctrack/linuxproc and task/none.
#   * slurm.conf uses per-node "%n" paths for SlurmdSpoolDir, SlurmdPidFile,
#     SlurmdLogFile and TmpFS: all slurmds share one filesystem, and a shared
#     TmpFS makes the nodes' stepds create the same PMIx directory
#     ("pmixp_mkdir ... File exists"), killing the step.
#   * FirstJobId is derived from the clock on every `up`: job ids would
#     otherwise restart at 1, and a leftover srun from a previous cluster
#     (same addresses, same munge key) could signal the new cluster's job 1.
#   * munged is our own instance, run in the controller's namespace (pid,
#     socket, log, seed under the state directory; key /etc/munge/munge.key,
#     created if missing); slurm.conf points AuthInfo at its socket, so a
#     system munged on the default socket is left alone.
#   * Config lives in $SLINFER_SLURM_DIR/slurm.conf; callers need SLURM_CONF
#     (see `env`). /etc/slurm is not touched.
#   * Teardown: scancel everything and wait for the queue to drain, stop
#     daemons by their pid files, kill whatever is left in the cluster's own
#     namespaces (`ip netns pids`), delete namespaces/veths/bridge, remove
#     the hosts block and generated files (logs are kept until the next up).
#     Never kill by process name.
set -euo pipefail

readonly PROG="cluster.sh"
readonly STATE_DIR_DEFAULT="/tmp/slinfer-slurm"
readonly LOCK_FILE="/run/slinfer-slurm.lock"
readonly ACTIVE_FILE="/run/slinfer-slurm.active"  # records the state dir of the running cluster
readonly SUBNET_PREFIX="10.213.77"
readonly BRIDGE="slinfer-br0"
readonly BRIDGE_ADDR="${SUBNET_PREFIX}.1"
readonly NS_PREFIX="slinfer-"
readonly VETH_PREFIX="slv-"
readonly CTL_NAME="slinfer-ctl"
readonly CTL_ADDR="${SUBNET_PREFIX}.2"
readonly NODE_ADDR_BASE=10   # nodeI gets ${SUBNET_PREFIX}.$((NODE_ADDR_BASE + I))
readonly MAX_NODES=200
readonly NODE_CPUS=2
readonly NODE_MEM_MB=1024
readonly HOSTS_BEGIN="# BEGIN slinfer-slurm test cluster (tests/slurm/cluster.sh)"
readonly HOSTS_END="# END slinfer-slurm test cluster"
readonly MUNGE_KEY="/etc/munge/munge.key"
readonly REQUIRED_TOOLS=(slurmctld slurmd munged munge unmunge srun sinfo squeue scancel scontrol
                         ip nsenter unshare flock timeout)

log() { echo "$PROG: $*" >&2; }
die() { echo "$PROG: error: $*" >&2; exit 1; }

# State directory: an explicit SLINFER_SLURM_DIR wins for `up`; for the other
# commands the directory of the running cluster (recorded at up) wins.
requested_dir() {
    local d="${SLINFER_SLURM_DIR:-$STATE_DIR_DEFAULT}"
    d="${d%/}"
    [[ "$d" == /* ]] || die "SLINFER_SLURM_DIR must be an absolute path (got '$d')"
    [[ "$d" != "" && "$d" != "/" ]] || die "SLINFER_SLURM_DIR must not be /"
    printf '%s\n' "$d"
}
active_dir() {
    if [[ -s "$ACTIVE_FILE" ]]; then
        head -n1 "$ACTIVE_FILE"
    else
        requested_dir
    fi
}
set_dir() {
    DIR="$1"
    CONF="$DIR/slurm.conf"
    export SLURM_CONF="$CONF"
}

check_prereqs() {
    [[ "$(id -u)" -eq 0 ]] || die "must run as root (network namespaces, /etc/hosts, daemons)"
    local t missing=()
    for t in "${REQUIRED_TOOLS[@]}"; do
        command -v "$t" >/dev/null 2>&1 || missing+=("$t")
    done
    ((${#missing[@]} == 0)) || die "missing required binaries: ${missing[*]} (need slurm-wlm, munge, iproute2, util-linux)"
}

take_lock() {
    exec 9>"$LOCK_FILE"
    flock -w 180 9 || die "could not take $LOCK_FILE (another cluster.sh running?)"
}

# --- process helpers -------------------------------------------------------

# alive PID: true if PID exists and is not a zombie (orphans are reaped slowly here).
alive() {
    local pid="$1" state
    [[ -r "/proc/$pid/stat" ]] || return 1
    state="$(sed -e 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)" || return 1
    [[ -n "$state" && "$state" != "Z" && "$state" != "X" ]]
}

# pid_from_file FILE EXPECTED_COMM: print the pid if the file names a live
# process whose command is EXPECTED_COMM (guards against stale, reused pids).
pid_from_file() {
    local file="$1" comm="$2" pid
    [[ -s "$file" ]] || return 1
    pid="$(tr -dc '0-9' <"$file")"
    [[ -n "$pid" ]] || return 1
    alive "$pid" || return 1
    [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$comm" ]] || return 1
    printf '%s\n' "$pid"
}

# wait_dead TIMEOUT_S PID...: wait until none of the pids is alive.
wait_dead() {
    local timeout="$1" i p any
    shift
    for ((i = 0; i < timeout * 10; i++)); do
        any=0
        for p in "$@"; do
            if alive "$p"; then any=1; break; fi
        done
        ((any == 0)) && return 0
        sleep 0.1
    done
    return 1
}

# stop_pids NAME PID...: SIGTERM, wait, then SIGKILL.
stop_pids() {
    local name="$1" p
    shift
    (($# > 0)) || return 0
    kill -TERM "$@" 2>/dev/null || true
    if ! wait_dead 10 "$@"; then
        log "$name did not stop on SIGTERM; sending SIGKILL"
        for p in "$@"; do
            if alive "$p"; then kill -KILL "$p" 2>/dev/null || true; fi
        done
        wait_dead 5 "$@" || log "warning: $name pid(s) $* still alive"
    fi
}

# --- cluster description ---------------------------------------------------

node_addr() { echo "${SUBNET_PREFIX}.$((NODE_ADDR_BASE + $1))"; }

our_namespaces() {
    ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^${NS_PREFIX}(ctl|node[0-9]+)$" || true
}

cluster_exists() {
    [[ -n "$(our_namespaces)" ]] || ip link show "$BRIDGE" >/dev/null 2>&1 ||
        grep -qF "$HOSTS_BEGIN" /etc/hosts 2>/dev/null || [[ -s "$ACTIVE_FILE" ]]
}

# cluster_healthy N: controller answers and exactly nodes node1..nodeN are usable.
cluster_healthy() {
    local n="$1" out want
    [[ -r "$CONF" ]] || return 1
    pid_from_file "$DIR/run/slurmctld.pid" slurmctld >/dev/null || return 1
    out="$(timeout 10 sinfo -h -N -o '%N %t' 2>/dev/null | sort -u)" || return 1
    [[ -n "$out" ]] || return 1
    want="$(for ((i = 1; i <= n; i++)); do echo "node$i"; done | sort)"
    [[ "$(awk '{print $1}' <<<"$out" | sort)" == "$want" ]] || return 1
    # Every node responding and schedulable.
    ! awk '{print $2}' <<<"$out" | grep -qvE '^(idle|alloc|mix|comp)$'
}

write_conf() {
    local n="$1" first_job_id="$2" i
    {
        echo "# Generated by tests/slurm/cluster.sh on $(date -u +%FT%TZ); do not edit."
        echo "ClusterName=slinfer"
        echo "SlurmctldHost=${CTL_NAME}(${CTL_ADDR})"
        echo "SlurmUser=root"
        echo "SlurmdUser=root"
        echo "SlurmctldPort=6817"
        echo "SlurmdPort=6818"
        echo "AuthType=auth/munge"
        echo "CredType=cred/munge"
        echo "AuthInfo=cred_expire=30,socket=$DIR/munge/munge.socket.2"
        echo "StateSaveLocation=$DIR/state"
        echo "SlurmctldPidFile=$DIR/run/slurmctld.pid"
        echo "SlurmctldLogFile=$DIR/log/slurmctld.log"
        echo "SlurmctldDebug=info"
        echo "SlurmdSpoolDir=$DIR/spool/%n"
        echo "SlurmdPidFile=$DIR/run/slurmd-%n.pid"
        echo "SlurmdLogFile=$DIR/log/slurmd-%n.log"
        echo "SlurmdDebug=info"
        echo "TmpFS=$DIR/tmp/%n"
        echo "PlugStackConfig=$DIR/plugstack.conf"
        echo "ProctrackType=proctrack/linuxproc"
        echo "TaskPlugin=task/none"
        echo "MpiDefault=none"
        echo "SwitchType=switch/none"
        echo "JobAcctGatherType=jobacct_gather/none"
        echo "AccountingStorageType=accounting_storage/none"
        echo "JobCompType=jobcomp/none"
        echo "SchedulerType=sched/backfill"
        echo "SchedulerParameters=sched_interval=5,bf_interval=5"
        echo "SelectType=select/cons_tres"
        echo "SelectTypeParameters=CR_CPU"
        echo "SlurmdParameters=config_overrides"
        echo "FirstJobId=$first_job_id"
        echo "JobRequeue=1"
        echo "KillWait=5"
        echo "ReturnToService=2"
        echo "SlurmdTimeout=20"
        echo "SlurmctldTimeout=20"
        echo "MinJobAge=60"
        for ((i = 1; i <= n; i++)); do
            echo "NodeName=node$i NodeAddr=$(node_addr "$i") NodeHostname=node$i CPUs=$NODE_CPUS RealMemory=$NODE_MEM_MB State=UNKNOWN"
        done
        echo "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP"
    } >"$CONF.tmp"
    mv -f "$CONF.tmp" "$CONF"
    # An empty plugstack so the system's /etc/slurm/plugstack.conf.d is not pulled in.
    : >"$DIR/plugstack.conf"
}

# --- /etc/hosts ------------------------------------------------------------

# Rewrite /etc/hosts in place (cat >, not mv/sed -i: it may be a bind mount).
hosts_remove() {
    [[ -f /etc/hosts ]] || return 0
    grep -qF "$HOSTS_BEGIN" /etc/hosts || return 0
    local tmp
    tmp="$(mktemp)"
    awk -v b="$HOSTS_BEGIN" -v e="$HOSTS_END" '
        $0 == b {skip = 1; next}
        $0 == e {skip = 0; next}
        !skip {print}' /etc/hosts >"$tmp"
    cat "$tmp" >/etc/hosts
    rm -f "$tmp"
}

hosts_add() {
    local n="$1" i tmp
    hosts_remove
    tmp="$(mktemp)"
    {
        cat /etc/hosts
        echo "$HOSTS_BEGIN"
        echo "$CTL_ADDR $CTL_NAME"
        for ((i = 1; i <= n; i++)); do echo "$(node_addr "$i") node$i"; done
        echo "$HOSTS_END"
    } >"$tmp"
    cat "$tmp" >/etc/hosts
    rm -f "$tmp"
}

# --- network ---------------------------------------------------------------

net_add_ns() {
    local ns="$1" veth="$2" addr="$3"
    ip netns add "$ns"
    ip link add "$veth" type veth peer name eth0 netns "$ns"
    ip link set "$veth" master "$BRIDGE"
    ip link set "$veth" up
    ip -n "$ns" link set lo up
    ip -n "$ns" addr add "$addr/24" dev eth0
    ip -n "$ns" link set eth0 up
}

net_up() {
    local n="$1" i
    ip link add "$BRIDGE" type bridge
    ip addr add "$BRIDGE_ADDR/24" dev "$BRIDGE"
    ip link set "$BRIDGE" up
    net_add_ns "${NS_PREFIX}ctl" "${VETH_PREFIX}ctl" "$CTL_ADDR"
    for ((i = 1; i <= n; i++)); do
        net_add_ns "${NS_PREFIX}node$i" "${VETH_PREFIX}node$i" "$(node_addr "$i")"
    done
    if [[ "$(cat /proc/sys/net/bridge/bridge-nf-call-iptables 2>/dev/null || echo 0)" == 1 ]] &&
        command -v iptables >/dev/null 2>&1 &&
        iptables -S FORWARD 2>/dev/null | grep -q '^-P FORWARD DROP'; then
        log "warning: br_netfilter is on and the iptables FORWARD policy is DROP;" \
            "node-to-node traffic on $BRIDGE may be dropped (e.g. docker hosts)"
    fi
}

net_down() {
    local ns l
    for ns in $(our_namespaces); do
        ip netns delete "$ns" 2>/dev/null || log "warning: could not delete namespace $ns"
    done
    # Deleting a namespace deletes its end of the veth and thus the pair; sweep leftovers.
    for l in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | sed 's/@.*//' |
        grep -E "^${VETH_PREFIX}(ctl|node[0-9]+)$" || true); do
        ip link delete "$l" 2>/dev/null || true
    done
    if ip link show "$BRIDGE" >/dev/null 2>&1; then
        ip link delete "$BRIDGE" type bridge 2>/dev/null || log "warning: could not delete bridge $BRIDGE"
    fi
}

# --- daemons ---------------------------------------------------------------

# start_in_ns NS HOSTNAME LOGFILE CMD...: start a (self-daemonizing) daemon in
# the namespace with its own UTS hostname; lock fd 9 is closed for the daemon.
start_in_ns() {
    local ns="$1" host="$2" out="$3"
    shift 3
    # shellcheck disable=SC2016  # $1/$@ are expanded by the inner sh
    nsenter --net="/run/netns/$ns" -- unshare --uts -- \
        sh -c 'hostname "$1" && shift && exec "$@"' sh "$host" "$@" \
        </dev/null >>"$out" 2>&1 9>&-
}

ensure_munge_key() {
    if [[ ! -s "$MUNGE_KEY" ]]; then
        log "creating munge key $MUNGE_KEY"
        mkdir -p "$(dirname "$MUNGE_KEY")"
        if command -v mungekey >/dev/null 2>&1; then
            mungekey --create --keyfile="$MUNGE_KEY" --force
        else
            dd if=/dev/urandom of="$MUNGE_KEY" bs=1 count=1024 status=none
        fi
        chmod 0400 "$MUNGE_KEY"
        if id munge >/dev/null 2>&1; then chown munge:munge "$MUNGE_KEY" || true; fi
    fi
}

start_munged() {
    local sock="$DIR/munge/munge.socket.2" i
    ensure_munge_key
    # In the controller's namespace (the socket is a path, reachable from every
    # namespace), so that teardown's namespace sweep ends it even if its pid
    # file is lost.
    start_in_ns "${NS_PREFIX}ctl" "$CTL_NAME" "$DIR/log/munged.out" \
        munged --force --key-file="$MUNGE_KEY" --socket="$sock" \
        --pid-file="$DIR/run/munged.pid" --log-file="$DIR/log/munged.log" \
        --seed-file="$DIR/munge/munged.seed" ||
        fail_up "munged failed to start"
    for ((i = 0; i < 50; i++)); do
        if munge -n -S "$sock" 2>/dev/null | unmunge -S "$sock" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    fail_up "munged is not answering on $sock"
}

print_log_tails() {
    local f
    for f in "$DIR"/log/*; do
        [[ -f "$f" ]] || continue
        echo "----- tail -n 30 $f -----" >&2
        tail -n 30 "$f" >&2 || true
    done
}

fail_up() {
    log "error: $*"
    print_log_tails
    log "error: cluster bring-up failed; state left in $DIR for inspection" \
        "(run '$0 down' to clean up)"
    exit 1
}

# --- commands --------------------------------------------------------------

do_down() {
    local quiet="${1:-}"
    set_dir "$(active_dir)"
    if ! cluster_exists && [[ ! -e "$DIR/run" && ! -e "$CONF" ]]; then
        [[ -n "$quiet" ]] || log "nothing is up"
        return 0
    fi
    log "tearing down cluster (state dir $DIR)"

    # 1. Cancel all jobs and wait for the queue to drain (a shutdown while jobs
    #    complete leaves slurmds retrying a dead controller).
    local p pids=() i ids
    if [[ -r "$CONF" ]] && pid_from_file "$DIR/run/slurmctld.pid" slurmctld >/dev/null; then
        ids="$(timeout 10 squeue -h -o '%i' 2>/dev/null | tr '\n' ' ' || true)"
        if [[ -n "${ids// /}" ]]; then
            log "cancelling jobs: $ids"
            # shellcheck disable=SC2086  # word splitting of the id list is intended
            timeout 10 scancel $ids 2>/dev/null || true
            for ((i = 0; i < 150; i++)); do
                [[ -z "$(timeout 5 squeue -h -o '%i' 2>/dev/null || true)" ]] && break
                sleep 0.2
            done
            [[ -z "$(timeout 5 squeue -h -o '%i' 2>/dev/null || true)" ]] ||
                log "warning: queue did not drain within 30 s; stopping daemons anyway"
        fi
    fi

    # 2. Stop daemons by pid file: slurmds, then slurmctld, then munged.
    for f in "$DIR"/run/slurmd-*.pid; do
        [[ -e "$f" ]] || continue
        p="$(pid_from_file "$f" slurmd)" && pids+=("$p")
    done
    stop_pids slurmd "${pids[@]}"
    pids=()
    p="$(pid_from_file "$DIR/run/slurmctld.pid" slurmctld)" && pids+=("$p")
    stop_pids slurmctld "${pids[@]}"
    pids=()
    p="$(pid_from_file "$DIR/run/munged.pid" munged)" && pids+=("$p")
    stop_pids munged "${pids[@]}"

    # 3. Whatever still lives in our namespaces (stepds, tasks, any daemon
    #    whose pid file was lost) goes.
    local ns nspids=()
    for ns in $(our_namespaces); do
        for p in $(ip netns pids "$ns" 2>/dev/null || true); do
            alive "$p" && nspids+=("$p")
        done
    done
    if ((${#nspids[@]} > 0)); then
        log "killing leftover processes in cluster namespaces: ${nspids[*]}"
        stop_pids "namespace leftovers" "${nspids[@]}"
    fi


    # 4. Network, hosts block, generated files (logs are kept for post-mortems).
    net_down
    hosts_remove
    if [[ -e "$DIR/.slinfer-slurm" ]]; then
        rm -rf "$DIR/slurm.conf" "$DIR/slurm.conf.tmp" "$DIR/plugstack.conf" "$DIR/state" \
            "$DIR/spool" "$DIR/tmp" "$DIR/run" "$DIR/munge" "$DIR/nodes"
    fi
    rm -f "$ACTIVE_FILE"
    log "cluster is down (logs kept in $DIR/log)"
}

do_up() {
    local n="${1:-2}"
    if ! [[ "$n" =~ ^[0-9]+$ ]] || ((n < 1 || n > MAX_NODES)); then
        die "N must be an integer in 1..$MAX_NODES (got '$n')"
    fi
    local want_dir
    want_dir="$(requested_dir)"

    # Idempotence: same dir, same N, healthy -> nothing to do.
    if [[ -s "$ACTIVE_FILE" && "$(head -n1 "$ACTIVE_FILE")" == "$want_dir" ]]; then
        set_dir "$want_dir"
        if [[ "$(cat "$DIR/nodes" 2>/dev/null || true)" == "$n" ]] && cluster_healthy "$n"; then
            log "cluster with $n node(s) is already up"
            print_where
            return 0
        fi
    fi
    if cluster_exists; then
        log "a cluster (or its leftovers) exists; tearing it down first"
        do_down quiet
    fi

    local t0 t1
    t0="$(date +%s%N)"
    set_dir "$want_dir"
    mkdir -p "$DIR"
    touch "$DIR/.slinfer-slurm"
    rm -rf "$DIR/log" "$DIR/state" "$DIR/spool" "$DIR/tmp" "$DIR/run" "$DIR/munge"
    mkdir -p "$DIR/log" "$DIR/state" "$DIR/run" "$DIR/munge"
    chmod 0755 "$DIR" "$DIR/munge"
    local i
    for ((i = 1; i <= n; i++)); do
        mkdir -p "$DIR/spool/node$i" "$DIR/tmp/node$i"
    done
    chmod 1777 "$DIR/tmp"/node*
    echo "$n" >"$DIR/nodes"
    echo "$DIR" >"$ACTIVE_FILE"

    # Clock-derived first job id (tenths of a second, so ids move on by 10 per
    # second between ups; wraps every ~69 days below MaxJobId 67043328); see header.
    local first_job_id
    first_job_id=$(( $(date +%s%N) / 100000000 % 60000000 + 1000 ))
    write_conf "$n" "$first_job_id"
    hosts_add "$n"
    net_up "$n"
    log "network: bridge $BRIDGE $BRIDGE_ADDR/24, controller $CTL_NAME $CTL_ADDR, nodes node1..node$n"

    start_munged
    start_in_ns "${NS_PREFIX}ctl" "$CTL_NAME" "$DIR/log/slurmctld.out" \
        slurmctld -f "$CONF" -i ||
        fail_up "slurmctld failed to start"
    for ((i = 1; i <= n; i++)); do
        start_in_ns "${NS_PREFIX}node$i" "node$i" "$DIR/log/slurmd-node$i.out" \
            slurmd -f "$CONF" -N "node$i" ||
            fail_up "slurmd node$i failed to start"
    done

    # Wait for every node to be idle.
    local timeout_s="${SLINFER_SLURM_TIMEOUT:-60}" deadline states idle
    deadline=$(( $(date +%s) + timeout_s ))
    while :; do
        states="$(timeout 5 sinfo -h -N -o '%N %t' 2>/dev/null | sort -u || true)"
        idle="$(awk '$2 == "idle"' <<<"$states" | wc -l)"
        ((idle == n)) && break
        if (( $(date +%s) >= deadline )); then
            log "node states after ${timeout_s}s:"
            echo "${states:-<sinfo gave no answer>}" >&2
            fail_up "timed out waiting for $n node(s) to become idle"
        fi
        sleep 0.2
    done
    t1="$(date +%s%N)"
    log "all $n node(s) idle after $(( (t1 - t0) / 1000000 )) ms (FirstJobId=$first_job_id)"

    # Smoke check.
    local out
    out="$(timeout 60 srun -N "$n" --ntasks-per-node=1 hostname 2>&1)" ||
        { echo "$out" >&2; fail_up "smoke check 'srun -N $n --ntasks-per-node=1 hostname' failed"; }
    log "smoke check srun -N $n hostname: $(sort -V <<<"$out" | tr '\n' ' ')"
    print_where
}

print_where() {
    log "config: $CONF   logs: $DIR/log   munge socket: $DIR/munge/munge.socket.2"
    log "use it with: eval \"\$($0 env)\"   (sets SLURM_CONF=$CONF)"
}

do_status() {
    set_dir "$(active_dir)"
    if [[ ! -s "$ACTIVE_FILE" || ! -r "$CONF" ]] ||
        ! pid_from_file "$DIR/run/slurmctld.pid" slurmctld >/dev/null; then
        echo "not running"
        return 1
    fi
    if ! timeout 10 sinfo -N -l 2>&1; then
        echo "not running (slurmctld does not answer)"
        return 1
    fi
    timeout 10 squeue 2>&1 || true
    echo "config: $CONF  logs: $DIR/log"
    if ! cluster_healthy "$(cat "$DIR/nodes" 2>/dev/null || echo 0)"; then
        echo "warning: controller is up but not every node is idle/allocated (see sinfo above)"
    fi
    return 0
}

do_env() {
    set_dir "$(active_dir)"
    printf 'export SLURM_CONF=%q\n' "$CONF"
    printf 'export SLINFER_SLURM_DIR=%q\n' "$DIR"
}

usage() {
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit "${1:-2}"
}

main() {
    local cmd="${1:-}"
    case "$cmd" in
    up)
        (($# <= 2)) || usage
        check_prereqs
        take_lock
        do_up "${2:-2}"
        ;;
    down)
        (($# == 1)) || usage
        check_prereqs
        take_lock
        do_down
        ;;
    status)
        (($# == 1)) || usage
        check_prereqs
        do_status
        ;;
    env)
        (($# == 1)) || usage
        do_env
        ;;
    -h | --help | help) usage 0 ;;
    *) usage ;;
    esac
}

main "$@"
