"""test_volumes' tests against mooraged on the `local` backend, in their module's order
(test_prune_removes_unused_volumes_only counts on volumes that later tests make not
being there yet). test_volumes_and_copy_up_cost_no_containerd_rpc is left out: it
counts containerd's RPCs, and the local backend makes none."""

from __future__ import annotations

from tests.integration.cli import test_volumes as source

test_create_inspect_and_list_with_filters = source.test_create_inspect_and_list_with_filters
test_two_containers_share_a_volume_which_cannot_go_while_used = (
    source.test_two_containers_share_a_volume_which_cannot_go_while_used
)
test_prune_removes_unused_volumes_only = source.test_prune_removes_unused_volumes_only
test_tmpfs_volume_from_driver_opts = source.test_tmpfs_volume_from_driver_opts
test_a_volume_whose_mount_fails_fails_the_start = (
    source.test_a_volume_whose_mount_fails_fails_the_start
)
test_image_content_is_copied_into_new_volumes_unless_nocopy = (
    source.test_image_content_is_copied_into_new_volumes_unless_nocopy
)
test_cp_of_a_stopped_container_reaches_its_volumes = (
    source.test_cp_of_a_stopped_container_reaches_its_volumes
)
test_rm_v_removes_anonymous_volumes_only = source.test_rm_v_removes_anonymous_volumes_only
test_system_df_shows_volume_usage = source.test_system_df_shows_volume_usage
test_volumes_and_their_users_survive_a_daemon_restart = (
    source.test_volumes_and_their_users_survive_a_daemon_restart
)
