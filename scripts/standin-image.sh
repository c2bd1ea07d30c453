#!/usr/bin/env bash
# A stand-in for the Lambda base image `public.ecr.aws/lambda/python:3.11-x86_64`, built offline.
#
# IT EXISTS ONLY FOR OFFLINE CI AND SANDBOXES THAT CANNOT REACH public.ecr.aws. On a normal
# machine do not run it: `sam local invoke` pulls the real image itself (drop --skip-pull-image).
# If the tag is already present (the real image, or a stand-in built before) nothing is done.
#
# What it builds: a Debian bookworm minbase root (its python3 is 3.11, the function's runtime)
# with ca-certificates, AWS's runtime interface client (awslambdaric, pinned) in /var/runtime and
# an executable /var/runtime/bootstrap that runs it with the handler SAM passes in $_HANDLER. SAM
# puts its runtime interface emulator and the function's layers (/opt) on top, as with the real image.
# The root is cached as a tarball under $VECTORIZER_CACHE_DIR (default ~/.cache/vectorizer), so a
# rebuild after the image was removed (a new Docker data root) only re-imports it.
#
#   scripts/standin-image.sh            # needs a running engine (scripts/docker-engine.sh start) and root
#   STANDIN_REBUILD=1 scripts/standin-image.sh   # ignore the cached tarball
set -euo pipefail

IMAGE=public.ecr.aws/lambda/python:3.11-x86_64
SUITE=bookworm
AWSLAMBDARIC=(awslambdaric==3.1.1 simplejson==4.3.0 snapshot-restore-py==1.0.0)
RECIPE=2 # bump when the recipe below changes, so that an old cached root is not reused
CACHE_DIR=${VECTORIZER_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/vectorizer}
TARBALL=$CACHE_DIR/lambda-python3.11-standin-$SUITE-ric3.1.1-r$RECIPE.tar
PYTHON=${PYTHON:-python3}

log() { echo "standin-image: $*" >&2; }

if docker image inspect "$IMAGE" >/dev/null 2>&1; then
    log "$IMAGE is present: nothing to build"
    exit 0
fi

debian_mirror() {
    # The Debian archive apt uses here (deb822 .sources or one-line .list), so that debootstrap
    # goes wherever this machine is allowed to go; $DEBIAN_MIRROR wins.
    if [[ -n ${DEBIAN_MIRROR:-} ]]; then
        echo "$DEBIAN_MIRROR"
        return
    fi
    local file uri
    for file in /etc/apt/sources.list.d/*.sources; do
        [[ -f $file ]] || continue
        uri=$(awk -v suite="$SUITE" '
            BEGIN { RS = ""; FS = "\n" }
            {
                uris = ""; suites = ""; types = ""
                for (i = 1; i <= NF; i++) {
                    if ($i ~ /^URIs:/) { uris = $i; sub(/^URIs:[ \t]*/, "", uris) }
                    if ($i ~ /^Suites:/) { suites = " " $i " " }
                    if ($i ~ /^Types:/) { types = $i }
                }
                if (types ~ /deb( |$)/ && suites ~ (" " suite " ") && uris != "") {
                    split(uris, u, /[ \t]+/); print u[1]; exit
                }
            }' "$file")
        [[ -n $uri ]] && { echo "$uri"; return; }
    done
    for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -f $file ]] || continue
        uri=$(awk -v suite="$SUITE" '$1 == "deb" { for (i = 2; i < NF; i++) if ($i !~ /^\[/ && $(i + 1) == suite) { print $i; exit } }' "$file")
        [[ -n $uri ]] && { echo "$uri"; return; }
    done
    echo http://deb.debian.org/debian
}

build_root_tarball() {
    command -v debootstrap >/dev/null || {
        log "debootstrap is missing (scripts/docker-engine.sh start installs it)"
        exit 1
    }
    local work root mirror
    work=$(mktemp -d /tmp/vectorizer-standin.XXXXXX)
    # shellcheck disable=SC2064
    trap "rm -rf '$work'" EXIT
    root=$work/root
    mirror=$(debian_mirror)
    log "debootstrap $SUITE from $mirror (a minute or two)"
    debootstrap --variant=minbase --include=python3,ca-certificates "$SUITE" "$root" "$mirror" \
        >"$work/debootstrap.log" 2>&1 || {
        tail -n 30 "$work/debootstrap.log" >&2
        exit 1
    }
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    # Every container SAM starts is a full copy of this root under vfs: leave out what no
    # function reads (translations, manuals, changelogs; the copyright files stay).
    rm -rf "$root"/usr/share/locale/* "$root"/usr/share/man/* "$root"/usr/share/info/*
    find "$root"/usr/share/doc -type f ! -name copyright -delete
    log "pip install ${AWSLAMBDARIC[*]} into /var/runtime"
    "$PYTHON" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-compile --target "$root/var/runtime" \
        --only-binary=:all: --platform manylinux2014_x86_64 --python-version 3.11 --implementation cp \
        "${AWSLAMBDARIC[@]}"
    cat >"$root/var/runtime/bootstrap" <<'BOOTSTRAP'
#!/bin/sh
# Started by the runtime interface emulator; runs the handler named in $_HANDLER.
export PYTHONPATH="/var/runtime:/var/task:/opt/python${PYTHONPATH:+:$PYTHONPATH}"
cd "${LAMBDA_TASK_ROOT:-/var/task}"
exec python3 -m awslambdaric "$_HANDLER"
BOOTSTRAP
    chmod 755 "$root/var/runtime/bootstrap"
    mkdir -p "$root/var/task" "$root/opt"
    mkdir -p "$CACHE_DIR"
    tar -C "$root" --numeric-owner -cf "$TARBALL.part" .
    mv "$TARBALL.part" "$TARBALL"
    rm -rf "$work"
    trap - EXIT
}

started=$SECONDS
if [[ -n ${STANDIN_REBUILD:-} || ! -s $TARBALL ]]; then
    build_root_tarball
else
    log "using the cached root $TARBALL"
fi
log "docker import as $IMAGE"
docker import \
    -c 'ENV LAMBDA_TASK_ROOT=/var/task' \
    -c 'ENV LAMBDA_RUNTIME_DIR=/var/runtime' \
    -c 'ENV LANG=C.UTF-8' \
    -c 'WORKDIR /var/task' \
    -m "offline stand-in for $IMAGE (scripts/standin-image.sh)" \
    "$TARBALL" "$IMAGE" >/dev/null
log "built $IMAGE in $((SECONDS - started))s"
