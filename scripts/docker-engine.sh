#!/usr/bin/env bash
# A Docker engine for `sam local invoke` on a machine without one (offline CI, a bare VM).
#
#   scripts/docker-engine.sh start    # use the engine that answers, else install and start dockerd
#   scripts/docker-engine.sh stop     # stop dockerd only if `start` started it
#   scripts/docker-engine.sh status   # does an engine answer, and is it ours?
#
# `start` installs docker.io (and debootstrap, for scripts/standin-image.sh) with apt-get when
# dockerd is missing, then runs `dockerd --storage-driver=vfs` in the background, with its pid and
# log under $VECTORIZER_RUN_DIR. vfs works on any filesystem (no overlay support needed from the
# kernel, which containers and CI sandboxes often lack) but copies the whole image for every
# container (~10 s each here); DOCKER_STORAGE_DRIVER=overlay2 starts containers in well under a
# second where the kernel and filesystem allow it (an ext4 root does). An engine that already answers is used as it is and never stopped.
# Idempotent both ways: a second `start` or `stop` does nothing.
set -euo pipefail

RUN_DIR=${VECTORIZER_RUN_DIR:-/tmp/vectorizer-docker}
PID_FILE=$RUN_DIR/dockerd.pid
LOG_FILE=$RUN_DIR/dockerd.log
DATA_ROOT=${VECTORIZER_DOCKER_DATA_ROOT:-/var/lib/docker}
START_TIMEOUT=${DOCKER_START_TIMEOUT:-90}
STOP_TIMEOUT=${DOCKER_STOP_TIMEOUT:-30}
STORAGE_DRIVER=${DOCKER_STORAGE_DRIVER:-vfs}

log() { echo "docker-engine: $*" >&2; }

engine_answers() { timeout 15 docker info >/dev/null 2>&1; }

our_pid() {
    # The pid of the dockerd we started, if it is still running; nothing otherwise.
    [[ -s $PID_FILE ]] || return 1
    local pid
    pid=$(<"$PID_FILE")
    if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null \
        && [[ $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) == *dockerd* ]]; then
        echo "$pid"
        return 0
    fi
    return 1
}

install_if_missing() {
    local missing=()
    command -v dockerd >/dev/null || missing+=(docker.io)
    command -v docker >/dev/null || missing+=(docker.io)
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    ((${#missing[@]})) || return 0
    if [[ $(id -u) != 0 ]]; then
        log "needs ${missing[*]} installed (apt-get, as root)"
        exit 1
    fi
    log "installing ${missing[*]} with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" iptables >/dev/null
}

start() {
    if pid=$(our_pid); then
        if engine_answers; then
            log "dockerd (pid $pid, started earlier by this script) answers"
            return 0
        fi
    elif engine_answers; then
        rm -f "$PID_FILE"
        log "a Docker engine already answers: using it (it will be left running)"
        return 0
    fi
    install_if_missing
    if ! pid=$(our_pid); then
        if [[ $(id -u) != 0 ]]; then
            log "no Docker engine answers, and starting dockerd needs root"
            exit 1
        fi
        mkdir -p "$RUN_DIR"
        # Its own session: Ctrl-C on the caller must not reach it; `stop` ends it by its pid.
        setsid dockerd --storage-driver="$STORAGE_DRIVER" --data-root="$DATA_ROOT" >"$LOG_FILE" 2>&1 </dev/null &
        pid=$!
        echo "$pid" >"$PID_FILE"
        log "started dockerd --storage-driver=$STORAGE_DRIVER (pid $pid, log $LOG_FILE)"
    fi
    local deadline=$((SECONDS + START_TIMEOUT))
    until engine_answers; do
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f "$PID_FILE"
            log "dockerd exited; the end of its log:"
            tail -n 30 "$LOG_FILE" >&2 || true
            exit 1
        fi
        if ((SECONDS >= deadline)); then
            log "dockerd did not answer within ${START_TIMEOUT}s; the end of its log:"
            tail -n 30 "$LOG_FILE" >&2 || true
            stop
            exit 1
        fi
        sleep 0.5
    done
    log "dockerd (pid $pid) answers"
}

stop() {
    local pid
    if ! pid=$(our_pid); then
        rm -f "$PID_FILE"
        log "no dockerd started by this script is running: nothing to stop"
        return 0
    fi
    # Ours alone, so its dangling images are ours too: `sam local invoke` builds a fresh image
    # with the function's layers on every run (~200 MB each under vfs) and leaves the old one.
    timeout 60 docker image prune -f >/dev/null 2>&1 || true
    kill -TERM "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + STOP_TIMEOUT))
    while kill -0 "$pid" 2>/dev/null; do
        if ((SECONDS >= deadline)); then
            log "dockerd (pid $pid) still running after ${STOP_TIMEOUT}s: killing it"
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 0.5
    done
    rm -f "$PID_FILE"
    log "stopped dockerd (pid $pid)"
}

status() {
    local pid answers=no
    engine_answers && answers=yes
    if pid=$(our_pid); then
        echo "engine answers: $answers; dockerd pid $pid started by this script (log $LOG_FILE)"
    else
        echo "engine answers: $answers; none started by this script"
    fi
    [[ $answers == yes ]]
}

case ${1:-} in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *)
        echo "usage: $0 start|stop|status" >&2
        exit 2
        ;;
esac
