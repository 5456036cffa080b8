#!/usr/bin/env bash
# The root docker-compose.yml's integration environment, built and tested offline, as root:
#
#   scripts/compose-env.sh test           # on Debian's dockerd 20.10 (about 2 minutes, and
#                                         # about 3 more the first time, for the base)
#   scripts/compose-env.sh test moorage   # on mooraged as the Docker host
#   scripts/compose-env.sh base           # only the base image tarball and the wheelhouse
#
# Each Docker host runs inside a network namespace and a mount namespace made for it, both
# gone at the end; nothing of the machine's own network or mounts changes. The image is
# built from the Dockerfile with BASE and PIP_OFFLINE pointing at the offline base and
# wheelhouse, by dockerd (moorage has no image build yet: for `test moorage` dockerd builds
# and saves it, and mooraged loads it). Then: up (`containerd`, `moorage`), the `tests`
# service against them, the example compose project from the host on the environment's
# moorage, `down -v`, and a check that no container, volume, network or mount is left.
#
# The base is `debootstrap --variant=minbase bookworm` with the Dockerfile's PACKAGES
# (needs Debian's package archive, once; cached under /var/cache/moorage-env by the list's
# hash); the wheelhouse (.wheelhouse/) is requirements.lock fetched by the host's pip.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

cache=/var/cache/moorage-env
packages=$(sed -n 's/^ARG PACKAGES="\(.*\)"$/\1/p' Dockerfile)
base_tar="$cache/bookworm-minbase-$(echo "$packages" | sha256sum | cut -c1-12).tar"

make_base() {
    if [ ! -s "$base_tar" ]; then
        command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap >/dev/null
        mkdir -p "$cache"
        rootfs=$(mktemp -d "$cache/rootfs.XXXXXX")
        echo "compose-env: debootstrap bookworm with: $packages" >&2
        debootstrap --variant=minbase --include="${packages// /,}" bookworm "$rootfs" \
            http://deb.debian.org/debian >"$cache/debootstrap.log" 2>&1
        rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin
        tar -C "$rootfs" --numeric-owner -cf "$base_tar.part" .
        mv "$base_tar.part" "$base_tar"
        rm -rf "$rootfs"
    fi
    make_wheelhouse
}

# .wheelhouse/: requirements.lock as wheels for bookworm's Python (also the VM image's venv).
make_wheelhouse() {
    if [ ! -f .wheelhouse/.complete ]; then
        echo "compose-env: wheelhouse from requirements.lock" >&2
        local arch
        arch=$(uname -m)
        # Wheels for the image's Python (bookworm: CPython 3.11, glibc 2.36), whatever the
        # host's Python is.
        python3 -m pip download -q --disable-pip-version-check --only-binary=:all: \
            --python-version 3.11 --implementation cp --abi cp311 \
            --platform "manylinux_2_28_$arch" --platform "manylinux_2_17_$arch" \
            --platform "manylinux2014_$arch" -r requirements.lock -d .wheelhouse
        touch .wheelhouse/.complete
    fi
}

# In the engine's private namespaces: $work/run made a shared mount (the environment's
# /run/moorage bind asks for shared propagation), then the engine.
inside() {
    local work=$1
    shift
    mount --bind "$work/run" "$work/run"
    mount --make-rshared "$work/run"
    exec "$@" >"$work/$(basename "$1").log" 2>&1
}

engine_pid=""
engine_netns=""

# start_engine dockerd|moorage: the Docker host in namespaces of its own; DOCKER_HOST set.
start_engine() {
    local argv
    case $1 in
        dockerd) argv=(dockerd --data-root "$work/dockerd" --exec-root "$work/dockerd-exec"
            --pidfile "$work/dockerd.pid") ;;
        moorage) argv=("$repo/.venv/bin/python" -m mooraged --data-root "$work/moorage"
            --exec-root "$work/moorage-exec") ;;
    esac
    argv+=(-H "unix://$work/engine.sock" --config-file "$work/daemon.json")
    engine_netns=moorage-env-$1-$(basename "$work" | cut -d. -f2 | tr 'A-Z' 'a-z')
    ip netns add "$engine_netns"
    ip -n "$engine_netns" link set lo up
    rm -f "$work/engine.sock"
    nsenter --net="/run/netns/$engine_netns" -- unshare --mount --propagation private -- \
        "$repo/scripts/compose-env.sh" inside "$work" "${argv[@]}" &
    engine_pid=$!
    export DOCKER_HOST="unix://$work/engine.sock"
    for _ in $(seq 600); do docker version >/dev/null 2>&1 && break; sleep 0.1; done
    docker version --format "compose-env: $1 {{.Server.Version}}" >&2
}

stop_engine() {
    if [ -n "$engine_pid" ]; then
        kill "$engine_pid" 2>/dev/null || true
        wait "$engine_pid" || true
        ip netns delete "$engine_netns"
        engine_pid=""
    fi
}

run_test() {
    local host=${1:-dockerd} status=0 started left
    make_base
    work=$(mktemp -d /tmp/moorage-env.XXXXXX)
    mkdir "$work/run"
    echo '{}' >"$work/daemon.json"
    trap 'stop_engine; rm -rf "$work"' EXIT
    export DOCKER_CONFIG="$work/docker-config" COMPOSE_PROJECT_NAME=moorage-env
    export MOORAGE_BASE=moorage-env-base:bookworm MOORAGE_PIP_OFFLINE=--no-index
    export MOORAGE_RUN="$work/run"

    start_engine dockerd
    docker import "$base_tar" "$MOORAGE_BASE" >/dev/null
    docker-compose build -q containerd
    if [ "$host" = moorage ]; then
        docker save -o "$work/image.tar" moorage-env:latest
        stop_engine
        start_engine moorage
        docker load -q -i "$work/image.tar" >/dev/null
        rm -f "$work/image.tar"
    fi

    started=$SECONDS
    docker-compose up -d containerd moorage
    echo "compose-env: up on $host took $((SECONDS - started)) s" >&2
    docker-compose run --rm tests || status=$?
    # A compose project on the environment's moorage, from the host, through its socket
    # (busybox is there: the tests service loaded it).
    if [ "$status" -eq 0 ]; then
        example() {
            DOCKER_HOST="unix://$work/run/moorage.sock" COMPOSE_PROJECT_NAME=example \
                docker-compose -f examples/compose/docker-compose.yml "$@"
        }
        started=$SECONDS
        example up -d --scale worker=3 || status=$?
        echo "compose-env: the example project's up on the environment took $((SECONDS - started)) s" >&2
        greeting=$(example exec -T web sh -c 'wget -qO- http://127.0.0.1/' || true)
        echo "compose-env: the example's web serves: $greeting" >&2
        [ "$greeting" = "hello from env_file from the database" ] || status=1
        example down -v -t 1 || status=$?
    fi
    if [ "$status" -ne 0 ]; then
        docker-compose logs --no-color containerd moorage | tail -80 >&2
    fi
    docker-compose down -v -t 5

    left=$(docker ps -aq; docker volume ls -q; docker network ls -q --filter type=custom)
    left+=$(nsenter --target "$engine_pid" --mount -- findmnt -rn -o TARGET |
        grep -F "$work/run/" || true)
    if [ -n "$left" ]; then
        echo "compose-env: left behind after down -v:" >&2
        echo "$left" >&2
        status=1
    fi
    [ "$status" -eq 0 ] && echo "compose-env: passed on $host; down -v left nothing behind" >&2
    return "$status"
}

case "${1:-}" in
    base) make_base ;;
    wheelhouse) make_wheelhouse ;;
    test) run_test "${2:-dockerd}" ;;
    inside) shift; inside "$@" ;;
    *) echo "usage: $0 test [dockerd|moorage] | base" >&2; exit 2 ;;
esac
