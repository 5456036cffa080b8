#!/usr/bin/env bash
# The root docker-compose.yml's integration environment, built and tested offline, as root:
#
#   scripts/compose-env.sh test     # the whole check (about 5 minutes the first time)
#   scripts/compose-env.sh base     # only the base image tarball and the wheelhouse
#
# `test` runs Debian's dockerd 20.10 (the Docker host until moorage builds images) inside a
# network namespace and a mount namespace made for it, both gone at the end; nothing of the
# machine's own network or mounts changes. There it imports the base, builds the image from
# the Dockerfile with BASE and PIP_OFFLINE pointing at them, brings up `containerd` and
# `moorage`, runs the `tests` service against them, takes everything down with `down -v`
# and checks that no container, volume, network or mount is left.
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
    if [ ! -f .wheelhouse/.complete ]; then
        echo "compose-env: wheelhouse from requirements.lock" >&2
        python3 -m pip download -q --disable-pip-version-check --only-binary=:all: \
            -r requirements.lock -d .wheelhouse
        touch .wheelhouse/.complete
    fi
}

# In the private namespaces: dockerd, with $work/run a shared mount (the environment's
# /run/moorage bind needs shared propagation) and its own containerd.
inside() {
    local work=$1
    mount --bind "$work/run" "$work/run"
    mount --make-rshared "$work/run"
    exec dockerd --data-root "$work/docker" --exec-root "$work/exec" \
        -H "unix://$work/docker.sock" --pidfile "$work/dockerd.pid" \
        --config-file "$work/daemon.json" >"$work/dockerd.log" 2>&1
}

run_test() {
    make_base
    local work netns dockerd_pid
    work=$(mktemp -d /tmp/moorage-env.XXXXXX)
    netns=moorage-env-$(basename "$work" | cut -d. -f2 | tr 'A-Z' 'a-z')
    mkdir "$work/run"
    echo '{}' >"$work/daemon.json"
    ip netns add "$netns"
    ip -n "$netns" link set lo up
    nsenter --net="/run/netns/$netns" -- unshare --mount --propagation private -- \
        "$repo/scripts/compose-env.sh" inside "$work" &
    dockerd_pid=$!
    # shellcheck disable=SC2064  # the values now, not at exit
    trap "kill $dockerd_pid 2>/dev/null; wait $dockerd_pid; ip netns delete $netns; rm -rf $work" EXIT

    export DOCKER_HOST="unix://$work/docker.sock" DOCKER_CONFIG="$work/docker-config"
    export MOORAGE_BASE=moorage-env-base:bookworm MOORAGE_PIP_OFFLINE=--no-index
    export MOORAGE_RUN="$work/run" COMPOSE_PROJECT_NAME=moorage-env
    for _ in $(seq 600); do docker version >/dev/null 2>&1 && break; sleep 0.1; done
    docker version --format 'compose-env: dockerd {{.Server.Version}}' >&2

    docker import "$base_tar" "$MOORAGE_BASE" >/dev/null
    docker-compose build -q containerd
    local started=$SECONDS
    docker-compose up -d containerd moorage
    echo "compose-env: up took $((SECONDS - started)) s" >&2
    status=0
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

    local left
    left=$(docker ps -aq; docker volume ls -q; docker network ls -q --filter type=custom)
    left+=$(nsenter --target "$(cat "$work/dockerd.pid")" --mount -- \
        findmnt -rn -o TARGET | grep -F "$work/run/" || true)
    if [ -n "$left" ]; then
        echo "compose-env: left behind after down -v:" >&2
        echo "$left" >&2
        status=1
    fi
    [ "$status" -eq 0 ] && echo "compose-env: passed; down -v left nothing behind" >&2
    return "$status"
}

case "${1:-}" in
    base) make_base ;;
    test) run_test ;;
    inside) inside "$2" ;;
    *) echo "usage: $0 test|base" >&2; exit 2 ;;
esac
