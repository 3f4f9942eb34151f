import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# `zoo train` without --out writes runs/NAME-DATE: in tests, under a temporary folder, not the checkout.
os.environ.setdefault("ZOO_RUNS_DIR", __import__("tempfile").mkdtemp(prefix="zoo-test-runs-"))
# The web format's npm packages (`zoo setup-web`) stay where the user installed them.
os.environ.setdefault("ZOO_WEB_RUNTIME", os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
                                                      "zoo", "web-runtime"))
# The bf16 probe's cache (zoo/precision.py): per test session, not the user's ~/.cache.
os.environ["XDG_CACHE_HOME"] = __import__("tempfile").mkdtemp(prefix="zoo-test-cache-")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import pipelines  # noqa: E402,F401  (first: TensorFlow's start-up lines filtered, as for any user)
import zoo  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.path.join(os.path.dirname(REPO), "shared", "data")
# JAX subprocess tests compile many small programs once each: XLA's backend optimizations cost more
# than they save there (half the compile time of the tiny models, measured on this 2-core machine).
FAST_XLA = "--xla_backend_optimization_level=0"


def small_kwargs(name):
    """Builder overrides that keep a registered model's depth but shrink its
    inputs and head, so every architecture can be exercised in seconds."""
    spec = zoo.get_spec(name)
    if spec.task in ("tabular_classification", "regression"):
        return {"input_shape": (6,), "classes": 3}
    if spec.task == "image_classification":
        if spec.family == "mlp":
            return {"classes": 3}
        return {"input_shape": (32, 32, 3), "classes": 3}
    if spec.task == "text_classification":
        return {"classes": 3}
    if spec.task == "forecasting":
        return {"horizon": 3}
    return {"source_vocab_size": 7, "target_vocab_size": 7}  # seq2seq


def expected_output_shape(name, batch, length=12):
    """The output shape `small_kwargs(name)` asks for, independent of the built model."""
    task = zoo.get_spec(name).task
    if task in ("image_classification", "text_classification", "tabular_classification", "regression"):
        return (batch, small_kwargs(name)["classes"])
    if task == "forecasting":
        return (batch, small_kwargs(name)["horizon"], 1)
    return (batch, length, small_kwargs(name)["target_vocab_size"])


def example_inputs(model, batch=2, seed=0, length=12):
    """Random inputs that fit `model`: token ids with right padding for int
    inputs (0 = padding), normal floats otherwise."""
    rng = np.random.default_rng(seed)
    out = {}
    for tensor in model.inputs:
        shape = [batch] + [length if d is None else d for d in tensor.shape[1:]]
        if "int" in str(tensor.dtype):
            vocab = _vocab_for(model, tensor.name)
            tokens = rng.integers(1, vocab, size=shape).astype("int32")
            tokens[:, -2:] = 0  # right padding
            out[tensor.name] = tokens
        else:
            out[tensor.name] = rng.normal(size=shape).astype("float32")
    if len(out) == 1:
        return next(iter(out.values()))
    return out


def _vocab_for(model, input_name):
    for layer in model.layers:
        if layer.__class__.__name__ == "Embedding":
            return layer.input_dim
        vocab = getattr(layer, "vocab_size", None)
        if vocab is not None:
            return vocab
    raise AssertionError(f"no embedding found for {input_name}")


def is_classifier(model):
    """A classifier's head outputs one distribution per example (read from its recorded task)."""
    return zoo.tasks.task_of(model).kind == "classification"


def example_targets(model, outputs, seed=1):
    return zoo.tasks.task_of(model).random_targets(np.random.default_rng(seed), tuple(outputs.shape))


def keras_loss(model):
    """The Keras loss of the model's task (from logits when its head has no softmax)."""
    task = zoo.tasks.task_of(model)
    return task.keras_loss(bool(task.metric) and zoo.tasks.from_logits(model))


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    keras.utils.set_random_seed(0)
    yield
    keras.config.set_dtype_policy("float32")


@pytest.fixture
def zoo_cli(capsys):
    """`zoo ARGS` in this process (a subprocess per command would pay TensorFlow's import each time):
    an object with returncode, stdout and stderr like `subprocess.run`'s."""
    from types import SimpleNamespace

    from app import cli

    def run(*argv):
        capsys.readouterr()
        try:
            code = cli.main(list(argv))
        except SystemExit as exit_:
            code = exit_.code
        out = capsys.readouterr()
        return SimpleNamespace(returncode=code, stdout=out.out, stderr=out.err)

    return run


# `slow`: the tests that took 3 s or more in a full run on this project's 2-core machine (pytest --durations).
# `python -m pytest -m "not slow" -n 2 -q` is the quick tier to run while working; CI runs everything.
# Parametrized tests whose every case is slow.
SLOW_PREFIXES = ("tests/test_export.py::test_predict_gives_the_same_answer_through_every_runtime",)
SLOW = frozenset({
    "tests/test_web.py::test_the_page_shows_kerass_top_class_in_headless_chromium",
    "tests/test_web.py::test_a_table_bundle_encodes_rows_as_training_does_and_verifies_from_rows",
    "tests/test_web.py::test_the_page_predicts_a_typed_table_row_like_keras",
    "tests/test_web.py::test_a_table_regressor_predicts_in_target_units_on_the_page",
    "tests/test_web.py::test_a_forecaster_bundle_forecasts_in_series_units_in_node_and_on_the_page",
    "tests/test_web.py::test_verify_says_how_to_install_node_or_the_packages",
    "tests/test_web.py::test_a_text_bundle_verifies_in_node_from_texts",
    "tests/test_web.py::test_an_image_bundle_verifies_in_node_through_its_own_preprocessing",
    "tests/test_openvino.py::test_ir_files_equal_keras_and_int8_keeps_accuracy",
    "tests/test_openvino.py::test_full_8_bit_weights_answer_differently_on_an_avx2_host",
    "tests/test_openvino.py::test_zoo_verify_emulating_an_avx2_host_rechecks_the_budget_and_leaves_the_report",
    "tests/test_bad_inputs.py::test_a_cluster_that_does_not_answer_is_reported_and_sigterm_stops_a_waiting_run",
    "tests/test_bad_inputs.py::test_an_export_killed_while_publishing_is_completed_by_the_next_command",
    "tests/test_pretrained.py::test_imdb_weights_classify_real_test_reviews",
    "tests/test_pretrained.py::test_the_gpu_trainer_runs_the_zoo_train_recipe_without_tensorflow",
    "tests/test_readme.py::test_the_readme_python_examples_run",
    "tests/test_predict.py::test_text_from_strings_and_files_through_every_runtime",
    "tests/test_predict.py::test_table_rows_with_missing_values_and_a_missing_column",
    "tests/test_predict.py::test_a_forecast_in_series_units_through_every_runtime",
    "tests/test_bad_inputs.py::test_concurrent_exports_to_one_folder_get_distinct_versions",
    "tests/test_bad_inputs.py::test_text_export_has_one_sequence_length_and_truncates_long_inputs",
    "tests/test_bench.py::test_results_render_from_json",
    "tests/test_compress.py::test_distilled_student_beats_the_same_student_trained_alone",
    "tests/test_compress.py::test_pruning_reaches_the_target_sparsity_and_the_pruned_model_exports",
    "tests/test_compress.py::test_transfer_learning_head_freeze_and_two_phase",
    "tests/test_export.py::test_cli_export_of_a_run_folder_and_verify",
    "tests/test_export.py::test_cli_quickstart_runs_offline_and_prints_its_table",
    "tests/test_export.py::test_every_format_matches_keras_and_tflite_is_builtins_only[densenet_tiny]",
    "tests/test_export.py::test_every_format_matches_keras_and_tflite_is_builtins_only[gru_classifier_tiny]",
    "tests/test_export.py::test_every_format_matches_keras_and_tflite_is_builtins_only[lstm_classifier_tiny]",
    "tests/test_export.py::test_every_format_matches_keras_and_tflite_is_builtins_only[nasnet_tiny]",
    "tests/test_export.py::test_every_format_matches_keras_and_tflite_is_builtins_only[mobilenet_v2_tiny]",
    "tests/test_export.py::test_every_format_matches_keras_and_tflite_is_builtins_only[efficientnet_tiny]",
    "tests/test_export.py::test_every_format_matches_keras_and_tflite_is_builtins_only[vit_nano]",
    "tests/test_models.py::test_one_fit_step_is_finite_and_moves_weights[vit_nano]",
    "tests/test_registry.py::test_registry_metadata_and_catalog_match_the_built_model[vit_base]",
    "tests/test_export.py::test_every_format_matches_keras_and_tflite_is_builtins_only[efficientnet_lite_tiny]",
    "tests/test_models.py::test_one_fit_step_is_finite_and_moves_weights[efficientnet_tiny]",
    "tests/test_models.py::test_one_fit_step_is_finite_and_moves_weights[efficientnet_lite_tiny]",
    "tests/test_registry.py::test_registry_metadata_and_catalog_match_the_built_model[efficientnet_b7]",
    "tests/test_registry.py::test_registry_metadata_and_catalog_match_the_built_model[efficientnet_b6]",
    "tests/test_registry.py::test_registry_metadata_and_catalog_match_the_built_model[efficientnet_b5]",
    "tests/test_weights.py::test_efficientnet_parameter_counts",
    "tests/test_export.py::test_every_format_matches_keras_and_tflite_is_builtins_only[mobilenet_v3_tiny]",
    "tests/test_models.py::test_one_fit_step_is_finite_and_moves_weights[mobilenet_v2_tiny]",
    "tests/test_models.py::test_one_fit_step_is_finite_and_moves_weights[mobilenet_v3_tiny]",
    "tests/test_models.py::test_keras_file_save_load_safe_mode[mobilenet_v3_tiny]",
    "tests/test_weights.py::test_mobilenet_v3_variants_are_recognised_and_load_their_imagenet_files[builder0-kwargs0-expected0]",
    "tests/test_weights.py::test_mobilenet_v3_variants_are_recognised_and_load_their_imagenet_files[builder1-kwargs1-expected1]",
    "tests/test_weights.py::test_mobilenet_v2_widths_load_keras_applications_files_by_name[0.35]",
    "tests/test_export.py::test_every_format_matches_keras_and_tflite_is_builtins_only[resnet8]",
    "tests/test_export.py::test_every_format_matches_keras_and_tflite_is_builtins_only[resnet_tiny]",
    "tests/test_export.py::test_every_format_matches_keras_and_tflite_is_builtins_only[transformer_seq2seq_tiny]",
    "tests/test_export.py::test_every_format_matches_keras_and_tflite_is_builtins_only[transformer_tiny]",
    "tests/test_export.py::test_int8_agrees_with_float_on_real_digits",
    "tests/test_export.py::test_text_model_takes_raw_strings_and_ships_its_vocabulary",
    "tests/test_jax.py::test_tiny_models_train_and_text_models_keep_the_id_and_length_policy_on_jax",
    "tests/test_models.py::test_keras_file_save_load_safe_mode[nasnet_tiny]",
    "tests/test_models.py::test_one_fit_step_is_finite_and_moves_weights[densenet_bc_100_k12]",
    "tests/test_models.py::test_one_fit_step_is_finite_and_moves_weights[densenet_tiny]",
    "tests/test_models.py::test_one_fit_step_is_finite_and_moves_weights[nasnet_tiny]",
    "tests/test_models.py::test_one_fit_step_is_finite_and_moves_weights[resnet_tiny]",
    "tests/test_models.py::test_one_fit_step_is_finite_and_moves_weights[transformer_seq2seq_tiny]",
    "tests/test_notebooks.py::test_notebook_executes[01_quickstart.ipynb]",
    "tests/test_notebooks.py::test_notebook_executes[02_transfer_learning.ipynb]",
    "tests/test_notebooks.py::test_notebook_executes[03_text.ipynb]",
    "tests/test_notebooks.py::test_notebook_executes[04_deploy.ipynb]",
    "tests/test_own_data.py::test_a_regression_target_in_the_hundreds_of_thousands_trains_with_the_defaults",
    "tests/test_own_data.py::test_a_table_with_missing_values_trains_exports_and_verifies_through_every_file",
    "tests/test_own_data.py::test_a_tabular_regression_run_beats_the_mean_and_exports_its_rmse",
    "tests/test_own_data.py::test_a_tabular_run_classifies_and_its_saved_model_takes_raw_named_columns",
    "tests/test_own_data.py::test_a_text_folder_run_trains_exports_and_verifies_with_its_class_names",
    "tests/test_own_data.py::test_a_text_run_exports_with_its_class_names_and_real_accuracy",
    "tests/test_own_data.py::test_an_idx_run_with_class_names_trains_exports_int8_and_verifies",
    "tests/test_own_data.py::test_an_npz_run_in_keras_datasets_layout_trains_exports_and_verifies",
    "tests/test_own_data.py::test_text_folders_split_folders_tar_archives_limit_and_stable_splits",
    "tests/test_own_data.py::test_text_tfrecords_with_custom_keys_train_export_and_verify",
    "tests/test_registry.py::test_every_registered_name_imports_from_zoo_in_a_fresh_process",
    "tests/test_registry.py::test_registry_metadata_and_catalog_match_the_built_model[densenet169]",
    "tests/test_registry.py::test_registry_metadata_and_catalog_match_the_built_model[densenet201]",
    "tests/test_registry.py::test_registry_metadata_and_catalog_match_the_built_model[nasnet_cifar]",
    "tests/test_registry.py::test_registry_metadata_and_catalog_match_the_built_model[nasnet_large]",
    "tests/test_registry.py::test_registry_metadata_and_catalog_match_the_built_model[nasnet_mobile]",
    "tests/test_registry.py::test_registry_metadata_and_catalog_match_the_built_model[resnet152]",
    "tests/test_registry.py::test_zoo_train_prints_no_tensorflow_log_lines",
    "tests/test_sequence_limits.py::test_exported_files_map_out_of_range_ids_like_keras[lstm_classifier_tiny]",
    "tests/test_sequence_limits.py::test_exported_files_map_out_of_range_ids_like_keras[transformer_tiny]",
    "tests/test_tasks.py::test_a_logits_classifier_trains_like_the_softmax_one_and_exports_logits",
    "tests/test_tasks.py::test_a_plain_keras_classifier_with_another_head_name_trains_with_cross_entropy",
    "tests/test_tasks.py::test_every_builder_records_its_task_and_it_survives_save_and_load",
    "tests/test_tasks.py::test_keras_callbacks_and_the_distiller_run_under_fit",
    "tests/test_text_vocab.py::test_a_run_saved_before_the_fix_is_repaired_and_exports",
    "tests/test_text_vocab.py::test_a_tricky_text_run_trains_saves_reloads_and_exports",
    "tests/test_text_vocab.py::test_an_imdb_run_exports_and_verifies_through_the_cli",
    "tests/test_train.py::test_a_short_run_evaluates_with_batch_norm_statistics_of_its_data",
    "tests/test_train.py::test_killed_run_resumes_to_the_same_weights_as_an_uninterrupted_one",
    "tests/test_train.py::test_mirrored_over_two_cpus_matches_one_device",
    "tests/test_train.py::test_multi_worker_two_processes_end_with_identical_weights",
    "tests/test_train.py::test_output_redirected_to_a_file_has_epoch_lines_and_no_bar",
    "tests/test_train.py::test_parameter_server_cluster_trains_and_a_killed_chief_resumes",
    "tests/test_weights.py::test_imagenet_weights_are_fetched_with_keras_get_file",
    "tests/test_weights.py::test_legacy_h5_weights_file_loads_through_the_builder",
    "tests/test_weights.py::test_mismatched_weights_raise_and_leave_the_model_untouched",
    "tests/test_weights.py::test_nasnet_imagenet_weights_are_fetched_with_the_pinned_hash",
    "tests/test_weights.py::test_weights_copied_from_a_keras_applications_model_give_equal_outputs[densenet121-True]",
    "tests/test_weights.py::test_weights_copied_from_a_keras_applications_model_give_equal_outputs[nasnet_mobile-True]",
})


# The longest tests (measured: 30-190 s each on 2 cores) start first, so the two xdist workers do not
# end with one of them running a long test alone.
SLOW_FIRST = ("test_notebook_executes", "on_jax", "jax", "test_an_imdb_run", "parameter_server", "killed_run",
              "multi_worker", "nasnet_tiny", "test_a_text_run", "test_a_tricky", "test_a_run_saved_before")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.nodeid in SLOW or item.nodeid.startswith(SLOW_PREFIXES):
            item.add_marker(pytest.mark.slow)
    items.sort(key=lambda item: not any(key in item.nodeid for key in SLOW_FIRST))
