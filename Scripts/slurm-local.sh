#!/usr/bin/env bash
# Starts, stops and reports on a single-node Slurm cluster on this machine (Debian 12, Slurm 22.05),
# for CI and for trying `tessera sweep --slurm` locally. No systemd, no root needed to run it
# (only to install packages): a private munged and slurmctld + slurmd run as the invoking user,
# with everything they write kept under one state folder.
#
#   bash Scripts/slurm-local.sh start    install what is missing, start the daemons, wait until the
#                                        node is idle, print the client environment (exit 0)
#   bash Scripts/slurm-local.sh stop     cancel the cluster's jobs, stop the daemons this script
#                                        started (found through their pid files), kill what the
#                                        jobs left behind
#   bash Scripts/slurm-local.sh status   show which daemons run and the node state (exit 0 when the
#                                        cluster is up, 3 when it is not)
#
# State folder: $TESSERA_SLURM_DIR, default /tmp/tessera-slurm. `start` is safe to repeat: it
# notices a running cluster. Its standard output is the one line clients need,
# `export SLURM_CONF=<state>/slurm.conf`, also kept in <state>/env; so either of
#   eval "$(bash Scripts/slurm-local.sh start)"
#   source /tmp/tessera-slurm/env        (a path: a bare `source env` finds /usr/bin/env)
# The munge socket the clients must use is named in that slurm.conf (AuthInfo=socket=...).
# Ports: the first free pair from $TESSERA_SLURM_PORT (default 16817) upwards, for slurmctld and slurmd.
set -euo pipefail

dir="${TESSERA_SLURM_DIR:-/tmp/tessera-slurm}"
# Absolute, since the daemons run elsewhere and slurm.conf names files by this path.
[[ "$dir" == /* ]] || dir="$PWD/$dir"
conf="$dir/slurm.conf"
envfile="$dir/env"
munge_dir="$dir/munge"
socket="$munge_dir/munge.socket.2"
run_dir="$dir/run"
log_dir="$dir/log"
user="$(id -un)"
daemons=(munged slurmctld slurmd)

say() { echo "slurm-local: $*" >&2; }
die() {
  say "$*"
  exit 1
}

# --- installation -------------------------------------------------------------------------------

# Installs Debian's Slurm and munge packages when any is missing. `apt-get update` runs only when
# the first attempt fails, since the package lists of a fresh image are usually good enough.
install_packages() {
  local packages=(slurmctld slurmd slurm-client munge) missing=() p
  for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing: ${missing[*]}"
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  local apt=($sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends)
  if ! "${apt[@]}" "${missing[@]}" >"$dir/install.log" 2>&1; then
    $sudo apt-get update -qq >>"$dir/install.log" 2>&1
    "${apt[@]}" "${missing[@]}" >>"$dir/install.log" 2>&1 || die "install failed, see $dir/install.log"
  fi
}

# --- processes ----------------------------------------------------------------------------------

# Prints the pid recorded for daemon $1 when that process is alive and is ours: every daemon is
# started with a path inside the state folder on its command line, which guards against a pid
# that was reused by an unrelated process after a crash.
live_pid() {
  local file="$run_dir/$1.pid" pid
  [ -s "$file" ] || return 1
  pid="$(tr -dc 0-9 <"$file")"
  [ -n "$pid" ] && alive "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$dir/" || return 1
  echo "$pid"
}

# Starts a daemon in the foreground mode of its own, detached into a session of its own so that
# it outlives this script and the terminal, and records its pid. It runs in the state folder, so
# that it keeps no other folder busy.
launch() {
  local name="$1"
  shift
  (cd "$dir" && exec setsid "$@" </dev/null >>"$log_dir/$name.out" 2>&1) &
  echo $! >"$run_dir/$name.pid"
}

# Whether process $1 is alive. A daemon that exited stays a zombie until init reaps it (which
# can take seconds in a container), so a zombie counts as gone.
alive() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"
  [ "${stat%% *}" != Z ]
}

# Waits up to $2 seconds for the process $1 to exit.
wait_exit() {
  local pid="$1" i
  for ((i = 0; i < $2 * 10; i++)); do
    alive "$pid" || return 0
    sleep 0.1
  done
  return 1
}

# Stops one process: SIGTERM, a few seconds' grace, then SIGKILL (a slurmd that never registered
# with slurmctld ignores SIGTERM for minutes).
terminate() {
  local pid="$1" grace="$2"
  kill -TERM "$pid" 2>/dev/null || return 0
  wait_exit "$pid" "$grace" && return 0
  say "pid $pid ignored SIGTERM for ${grace}s, killing it"
  kill -KILL "$pid" 2>/dev/null || true
  wait_exit "$pid" 5 || true
}

# Pids of the processes this cluster's jobs left behind, followed by all their descendants:
#  - slurmstepd processes: they detach from slurmd and wipe their environment and command line,
#    but keep slurmd's log file open, which is how they are recognised;
#  - job processes that outlived their job: proctrack/linuxproc follows a job through parent
#    links, so a background process whose batch shell exited (reparented to init) escapes it.
#    Every job process has SLURM_JOB_ID and SLURM_CONF=<this slurm.conf> in its environment
#    (Slurm sets both even under --export=NONE).
# Never included: the daemons themselves (slurmd has its log open too; they are stopped by pid),
# and this script and its ancestors (it may itself run inside such a job).
leftovers() {
  local roots=() mine=" " p=$$ d
  while [ "$p" -gt 1 ] 2>/dev/null; do
    mine+="$p "
    p="$(ps -o ppid= -p "$p" | tr -d ' ')"
  done
  for d in "${daemons[@]}"; do
    if p="$(live_pid "$d")"; then mine+="$p "; fi
  done
  mapfile -t roots < <(
    {
      find /proc/[0-9]*/fd -maxdepth 1 -lname "$log_dir/slurmd.log" 2>/dev/null
      grep -lzxF "SLURM_CONF=$conf" /proc/[0-9]*/environ 2>/dev/null |
        xargs -r grep -lz '^SLURM_JOB_ID=' 2>/dev/null
    } | cut -d/ -f3 | sort -u | while read -r p; do
      [[ "$mine" == *" $p "* ]] || echo "$p"
    done
  )
  [ ${#roots[@]} -eq 0 ] && return 0
  # Breadth-first walk of the parent→child table, from those roots.
  ps -e -o pid=,ppid= | awk -v roots="${roots[*]}" '
    BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) { keep[r[i]] = 1; queue[i] = r[i] } }
    { kids[$2] = kids[$2] " " $1 }
    END {
      head = 1; tail = n
      while (head <= tail) {
        p = queue[head++]; print p
        m = split(kids[p], k, " ")
        for (i = 1; i <= m; i++) if (!(k[i] in keep)) { keep[k[i]] = 1; queue[++tail] = k[i] }
      }
    }'
}

kill_leftovers() {
  local stray
  stray="$(leftovers | tr '\n' ' ')"
  [ -n "${stray// /}" ] || return 0
  say "killing leftover job processes: $stray"
  # shellcheck disable=SC2086
  kill -KILL $stray 2>/dev/null || true
}

# Slurm client commands block for 10 s or more when slurmctld is gone: every call is bounded.
client() { SLURM_CONF="$conf" timeout 10 "$@"; }

# Waits up to $1 seconds until no job of the cluster is running or completing.
wait_jobs_done() {
  local i
  for ((i = 0; i < $1 * 5; i++)); do
    [ -z "$(client squeue -h -t running,completing -o %i 2>/dev/null)" ] && return 0
    sleep 0.2
  done
  return 1
}

node_state() { client sinfo -h -n localhost -o %T 2>/dev/null | head -1; }

# --- configuration ------------------------------------------------------------------------------

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Writes slurm.conf for one node named localhost, with the first free pair of ports.
write_conf() {
  local port="${TESSERA_SLURM_PORT:-16817}"
  while ! { port_free "$port" && port_free $((port + 1)); }; do
    port=$((port + 2))
    [ "$port" -lt 65000 ] || die "no free port pair found"
  done
  cat >"$conf" <<EOF
# Single-node cluster written by Scripts/slurm-local.sh; rewritten on every fresh start.
ClusterName=tessera
SlurmctldHost=localhost
# The daemons run as the invoking user: no root, and the state folders below are theirs.
SlurmUser=$user
SlurmdUser=$user
SlurmctldPort=$port
SlurmdPort=$((port + 1))
# A private munged on its own socket; daemons and client commands all read this line.
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$socket
StateSaveLocation=$dir/ctld
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$run_dir/slurmctld.pid
SlurmdPidFile=$run_dir/slurmd.pid
SlurmctldLogFile=$log_dir/slurmctld.log
SlurmdLogFile=$log_dir/slurmd.log
# No cgroups and no CPU binding: works in containers and without root.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
# Cores are the consumable resource. (With CR_Core_Memory a job without --mem takes all the
# node's memory, so tasks would run one at a time.)
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
# Start submitted jobs at once instead of batching submissions.
SchedulerParameters=batch_sched_delay=0
# Finished jobs go to a text file; there is no accounting database.
JobCompType=jobcomp/filetxt
JobCompLoc=$log_dir/jobcomp.log
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
ReturnToService=2
MaxArraySize=10001
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$(nproc) State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
  echo "export SLURM_CONF=$conf" >"$envfile"
}

# --- commands -----------------------------------------------------------------------------------

print_env() {
  cat "$envfile"
  say "environment written to $envfile (source it, or eval the line above)"
}

start_munged() {
  if [ ! -s "$munge_dir/munge.key" ]; then
    rm -f "$munge_dir/munge.key"
    if command -v mungekey >/dev/null; then
      mungekey --create --keyfile="$munge_dir/munge.key"
    else
      dd if=/dev/urandom of="$munge_dir/munge.key" bs=1024 count=1 status=none
    fi
  fi
  chmod 0400 "$munge_dir/munge.key"
  rm -f "$socket" "$socket.lock"
  # --force: munged refuses to start when a folder above the state folder is group- or
  # world-writable without the sticky bit (a TESSERA_SLURM_DIR inside a shared folder).
  launch munged /usr/sbin/munged --foreground --force \
    --socket="$socket" --key-file="$munge_dir/munge.key" --pid-file="$run_dir/munged.pid" \
    --log-file="$log_dir/munged.log" --seed-file="$munge_dir/munged.seed"
  local i
  for ((i = 0; i < 100; i++)); do
    if [ -S "$socket" ] && munge -n --socket="$socket" 2>/dev/null | unmunge --socket="$socket" >/dev/null 2>&1; then
      return 0
    fi
    live_pid munged >/dev/null || die "munged exited, see $log_dir/munged.log and $log_dir/munged.out"
    sleep 0.1
  done
  die "munged did not answer within 10 s, see $log_dir/munged.log"
}

cmd_start() {
  mkdir -p "$dir"
  install_packages
  local running=0 d
  for d in "${daemons[@]}"; do
    if live_pid "$d" >/dev/null; then running=$((running + 1)); fi
  done
  if [ "$running" -eq ${#daemons[@]} ]; then
    case "$(node_state)" in
      idle | mixed | allocated | completing)
        say "already running (state folder $dir)"
        print_env
        return 0
        ;;
    esac
  fi
  # Half a cluster (a daemon died, or the node never came up): start again from scratch.
  if [ "$running" -gt 0 ]; then
    say "some daemons are running, some not: restarting"
    cmd_stop
  fi
  mkdir -p "$munge_dir" "$run_dir" "$log_dir" "$dir/ctld" "$dir/spool"
  # munged checks that its socket folder is searchable by everyone and writable only by its owner.
  chmod 0755 "$dir" "$munge_dir"
  write_conf
  start_munged
  launch slurmctld /usr/sbin/slurmctld -D -f "$conf"
  launch slurmd /usr/sbin/slurmd -D -f "$conf" -N localhost
  # Idle means slurmctld answers, slurmd registered, and the node takes jobs.
  local i state=""
  for ((i = 0; i < 60; i++)); do
    for d in slurmctld slurmd; do
      live_pid "$d" >/dev/null || die "$d exited, see $log_dir/$d.log and $log_dir/$d.out"
    done
    state="$(node_state)"
    [ "$state" = idle ] && break
    sleep 0.5
  done
  [ "$state" = idle ] || die "node not idle after 30 s (state: ${state:-no answer}), see $log_dir"
  say "cluster up: node localhost idle, $(nproc) CPUs, slurmctld port $(sed -n 's/^SlurmctldPort=//p' "$conf")"
  print_env
}

cmd_stop() {
  local pid d
  # Cancel the jobs first, so that slurmstepd ends their tasks the ordinary way (SIGTERM to the
  # batch shell and every step). Slurm would send SIGKILL only after KillWait (30 s): whatever
  # is still running 5 s later is killed here instead.
  if live_pid slurmctld >/dev/null && [ -s "$conf" ]; then
    client scancel --user="$user" >/dev/null 2>&1 || true
    wait_jobs_done 5 || true
  fi
  kill_leftovers
  # slurmd before slurmctld (so it can still report), munged last (both authenticate through it).
  for d in slurmd slurmctld munged; do
    if pid="$(live_pid "$d")"; then
      terminate "$pid" 5
      say "stopped $d (pid $pid)"
    fi
    rm -f "$run_dir/$d.pid"
  done
  kill_leftovers
  rm -f "$socket" "$socket.lock"
}

cmd_status() {
  local d pid up=0
  for d in "${daemons[@]}"; do
    if pid="$(live_pid "$d")"; then
      echo "$d: running (pid $pid)"
      up=$((up + 1))
    else
      echo "$d: stopped"
    fi
  done
  if live_pid slurmctld >/dev/null; then
    client sinfo || true
    client squeue || true
  fi
  [ -s "$envfile" ] && [ "$up" -eq ${#daemons[@]} ] && cat "$envfile"
  [ "$up" -eq ${#daemons[@]} ] || return 3
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *)
    echo "usage: $0 start|stop|status   (state folder: \$TESSERA_SLURM_DIR, default /tmp/tessera-slurm)" >&2
    exit 2
    ;;
esac
