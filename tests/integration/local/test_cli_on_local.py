"""The CLI's container and image tests, the same functions, against mooraged on the `local`
backend (runc driven directly, no containerd; see conftest.py).

Left out, because they assert containerd's RPC budget (the local backend makes no RPC;
it counts runtime commands instead): test_observe's test_stats_no_stream, test_top and
test_update_memory_of_running_container; test_images'
test_create_of_an_unpacked_image_costs_no_image_rpc; test_commit_import's
test_rpc_cost_of_commit_and_import; test_volumes'
test_volumes_and_copy_up_cost_no_containerd_rpc. And test_observe's
test_stats_stream_carries_previous_sample, which uses the container that
test_stats_no_stream makes. And test_detach_keys'
test_exec_socket_detaches_on_the_default_keys, which expects the terminal's echo of a
line and cat's copy of it in one read (the monitor relays them as they come, in two;
the detach itself works, test_cli_attach_detaches_on_ctrl_p_ctrl_q). The behaviour of
the RPC-counting ones (stats, top, update, create, commit) is covered on `local` by the
tests below and by tests/integration/libcontainerd/test_contract.py.
"""

from __future__ import annotations

from tests.integration.cli.test_commit_import import (
    test_commit_of_an_unchanged_container_adds_an_empty_history_entry,
    test_commit_refuses_bad_input_as_dockerd,
    test_commit_with_changes_runs_the_new_cmd_and_sees_the_file,
    test_export_then_import_round_trips_to_an_image_that_runs,
    test_import_refuses_a_url_and_garbage,
    test_sdk_commit_import_and_remove,
)
from tests.integration.cli.test_cp import (
    test_archive_api_details,
    test_cp_both_ways_created_container,
    test_cp_both_ways_exited_container,
    test_cp_both_ways_running_container,
    test_cp_to_and_from_stdout_tar,
    test_missing_paths_and_containers,
    test_ownership_from_archive_or_container_user,
    test_removing_container_conflicts,
    test_symlink_escapes_stay_inside,
    test_symlink_escapes_stay_inside_stopped_container,
)
from tests.integration.cli.test_detach_keys import (
    sdk,
    test_bad_detach_keys_get_dockerds_errors,
    test_cli_attach_detaches_on_ctrl_p_ctrl_q,
    test_cli_config_file_detach_keys_end_exec,
    test_exec_inspect_shows_its_detach_keys,
    test_no_detach_without_a_terminal,
    test_query_detach_keys_and_a_partial_sequence,
)
from tests.integration.cli.test_fd_lifetimes import (
    test_a_stopping_daemon_lets_go_of_the_stdio_of_what_runs_on,
    test_failed_exec_then_piped_exec_and_top,
    test_failed_exec_with_stdin_and_tty_ends_its_stream,
    test_sdk_exec_run_of_a_command_that_cannot_start,
)
from tests.integration.cli.test_health import (
    test_no_healthcheck_has_no_health,
    test_starting_during_start_period,
    test_timeout_counts_as_failure,
    test_unhealthy_then_healthy,
)
from tests.integration.cli.test_images import (
    test_images_filters,
    test_images_survive_a_daemon_restart,
    test_load_both_archive_kinds_and_run,
    test_login_then_push_and_pull_with_auth,
    test_pull_into_an_empty_store_shows_per_layer_progress,
    test_push_pull_run_through_a_registry,
    test_save_then_load_keeps_the_id,
    test_tag_rmi_conflict_prune_history,
)
from tests.integration.cli.test_lifecycle import (
    test_etc_files_and_network_modes,
    test_inspect_fields,
    test_kill_signal_restart_wait,
    test_logs_since,
    test_mounts_limits_and_user,
    test_oom_is_seen_even_when_the_shim_misses_it,
    test_oom_kill_sets_and_clears_oomkilled,
    test_pause_unpause_rename,
    test_privileged_gets_the_daemons_bounding_set,
    test_ps_all_quiet_and_filters,
    test_ps_before_and_since,
    test_ps_filter_by_id_and_ancestor,
    test_run_t_and_exec_t_under_a_pty,
    test_running_container_survives_a_daemon_restart,
    test_runtime_per_container,
    test_stopped_containers_survive_a_daemon_restart,
    test_task_left_unstarted_by_a_crash_is_cleaned_at_restart,
)
from tests.integration.cli.test_observe import (
    test_container_prune,
    test_events_bad_window_is_400,
    test_events_follow_flushes_headers_and_ends_with_client,
    test_events_of_run_rm_in_order,
    test_stats_of_stopped_container_are_zero,
    test_top_of_stopped_container_is_409,
    test_update_raw_reply_and_stopped_container,
)
from tests.integration.cli.test_restart import (
    test_always_container_comes_back_at_daemon_start,
    test_always_restarts_until_stopped,
    test_on_failure_stops_after_its_retries,
)
from tests.integration.cli.test_run import (
    test_attach_with_stdin,
    test_exec_user_workdir_env_and_privileged,
    test_exit_code_passes_through,
    test_log_rotation_options,
    test_logs_follow_running_container,
    test_logs_of_the_none_driver_is_501,
    test_logs_tail_timestamps_and_follow,
    test_missing_executable_is_127,
    test_run_detached_then_exec,
    test_run_interactive_stdin,
    test_run_rm_echo,
    test_version_negotiates_to_the_clis_newest,
)
from tests.integration.cli.test_signals import (
    test_kill_by_real_time_signal_name,
    test_stop_signal_rtmin_plus_3_is_sent_by_stop,
)

__all__ = [
    "sdk",
    "test_a_stopping_daemon_lets_go_of_the_stdio_of_what_runs_on",
    "test_always_container_comes_back_at_daemon_start",
    "test_always_restarts_until_stopped",
    "test_archive_api_details",
    "test_attach_with_stdin",
    "test_bad_detach_keys_get_dockerds_errors",
    "test_cli_attach_detaches_on_ctrl_p_ctrl_q",
    "test_cli_config_file_detach_keys_end_exec",
    "test_commit_of_an_unchanged_container_adds_an_empty_history_entry",
    "test_commit_refuses_bad_input_as_dockerd",
    "test_commit_with_changes_runs_the_new_cmd_and_sees_the_file",
    "test_container_prune",
    "test_cp_both_ways_created_container",
    "test_cp_both_ways_exited_container",
    "test_cp_both_ways_running_container",
    "test_cp_to_and_from_stdout_tar",
    "test_etc_files_and_network_modes",
    "test_events_bad_window_is_400",
    "test_events_follow_flushes_headers_and_ends_with_client",
    "test_events_of_run_rm_in_order",
    "test_exec_inspect_shows_its_detach_keys",
    "test_exec_user_workdir_env_and_privileged",
    "test_exit_code_passes_through",
    "test_export_then_import_round_trips_to_an_image_that_runs",
    "test_failed_exec_then_piped_exec_and_top",
    "test_failed_exec_with_stdin_and_tty_ends_its_stream",
    "test_images_filters",
    "test_images_survive_a_daemon_restart",
    "test_import_refuses_a_url_and_garbage",
    "test_inspect_fields",
    "test_kill_by_real_time_signal_name",
    "test_kill_signal_restart_wait",
    "test_load_both_archive_kinds_and_run",
    "test_log_rotation_options",
    "test_login_then_push_and_pull_with_auth",
    "test_logs_follow_running_container",
    "test_logs_of_the_none_driver_is_501",
    "test_logs_since",
    "test_logs_tail_timestamps_and_follow",
    "test_missing_executable_is_127",
    "test_missing_paths_and_containers",
    "test_mounts_limits_and_user",
    "test_no_detach_without_a_terminal",
    "test_no_healthcheck_has_no_health",
    "test_on_failure_stops_after_its_retries",
    "test_oom_is_seen_even_when_the_shim_misses_it",
    "test_oom_kill_sets_and_clears_oomkilled",
    "test_ownership_from_archive_or_container_user",
    "test_pause_unpause_rename",
    "test_privileged_gets_the_daemons_bounding_set",
    "test_ps_all_quiet_and_filters",
    "test_ps_before_and_since",
    "test_ps_filter_by_id_and_ancestor",
    "test_pull_into_an_empty_store_shows_per_layer_progress",
    "test_push_pull_run_through_a_registry",
    "test_query_detach_keys_and_a_partial_sequence",
    "test_removing_container_conflicts",
    "test_run_detached_then_exec",
    "test_run_interactive_stdin",
    "test_run_rm_echo",
    "test_run_t_and_exec_t_under_a_pty",
    "test_running_container_survives_a_daemon_restart",
    "test_runtime_per_container",
    "test_save_then_load_keeps_the_id",
    "test_sdk_commit_import_and_remove",
    "test_sdk_exec_run_of_a_command_that_cannot_start",
    "test_starting_during_start_period",
    "test_stats_of_stopped_container_are_zero",
    "test_stop_signal_rtmin_plus_3_is_sent_by_stop",
    "test_stopped_containers_survive_a_daemon_restart",
    "test_symlink_escapes_stay_inside",
    "test_symlink_escapes_stay_inside_stopped_container",
    "test_tag_rmi_conflict_prune_history",
    "test_task_left_unstarted_by_a_crash_is_cleaned_at_restart",
    "test_timeout_counts_as_failure",
    "test_top_of_stopped_container_is_409",
    "test_unhealthy_then_healthy",
    "test_update_raw_reply_and_stopped_container",
    "test_version_negotiates_to_the_clis_newest",
]
