# -*- bash -*-
# Sourced after podman's helpers.bash: the suite's per-test housekeeping, with
# what nook has no notion of (external buildah containers, pods, networks)
# left out. Nothing a test itself runs is changed.

function basic_setup() {
    run_podman rm -t 0 --all --force

    found_needed_image=
    run_podman images --all --format '{{.Repository}}:{{.Tag}} {{.ID}}'
    # The test image's id first: podman lists an image's first name first,
    # nook (as docker) in name order, and a stray tag of the test image that
    # sorts before it must not get the test image removed by id.
    for line in "${lines[@]}"; do
        set $line
        if [ "$1" == "$PODMAN_TEST_IMAGE_FQN" ]; then PODMAN_TEST_IMAGE_ID=$2; fi
    done
    for line in "${lines[@]}"; do
        set $line
        if [ "$1" == "$PODMAN_TEST_IMAGE_FQN" ]; then
            if [[ -z "$PODMAN_TEST_IMAGE_ID" ]]; then
                PODMAN_TEST_IMAGE_ID=$2
            fi
            found_needed_image=1
        else
            run_podman rmi --force "$1" >/dev/null 2>&1 || true
            if [[ $2 != "$PODMAN_TEST_IMAGE_ID" ]]; then
                run_podman rmi --force "$2" >/dev/null 2>&1 || true
            fi
        fi
    done

    if [ -z "$found_needed_image" ]; then
        # Offline: the image is built by test/podman-suite/testimage.sh, not pulled.
        bash "$NOOK_SUITE_DIR/testimage.sh" "$PODMAN" >/dev/null
    fi

    PODMAN_TMPDIR=$(mktemp -d --tmpdir=${BATS_TMPDIR:-/tmp} podman_bats.XXXXXX)
    MOST_RECENT_PODMAN_COMMAND=
}

function basic_teardown() {
    echo "# [teardown]" >&2
    run_podman '?' rm -t 0 --all --force
    command rm -rf $PODMAN_TMPDIR
}
