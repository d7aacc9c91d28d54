# Tests with the downloaded default models (label `models`). They exit 77 and
# count as skipped when tools/setup_assets.sh has not prepared the cache.
add_executable(test_full_models test_full_models.cc)
target_compile_options(test_full_models PRIVATE ${I2S_WARNINGS})
target_link_libraries(test_full_models PRIVATE i2s_test_util i2s_core)
add_dependencies(test_full_models i2s-index)
add_test(NAME test_full_models COMMAND test_full_models)
set_tests_properties(test_full_models PROPERTIES
  LABELS models SKIP_RETURN_CODE 77 TIMEOUT 600
  ENVIRONMENT "OPENBLAS_NUM_THREADS=1")

add_test(NAME check_classifier
  COMMAND ${I2S_PYTHON} ${PROJECT_SOURCE_DIR}/tools/check_classifier.py)
set_tests_properties(check_classifier PROPERTIES
  LABELS models SKIP_RETURN_CODE 77 TIMEOUT 600)

# CenterNet: converted TorchScript vs the original TF.js graph model run by
# @tensorflow/tfjs (pure JavaScript CPU backend) in Node, on sample photos.
add_test(NAME check_centernet_parity
  COMMAND ${I2S_PYTHON} ${PROJECT_SOURCE_DIR}/tools/check_centernet_parity.py --no-human)
set_tests_properties(check_centernet_parity PROPERTIES
  LABELS models SKIP_RETURN_CODE 77 TIMEOUT 900)

# tools/bench_index.sh end to end at 5,000 songs (the 1M benchmark's script).
add_test(NAME bench_index_smoke COMMAND ${PROJECT_SOURCE_DIR}/tests/bench_index_smoke.sh)
set_tests_properties(bench_index_smoke PROPERTIES
  LABELS models SKIP_RETURN_CODE 77 TIMEOUT 600
  ENVIRONMENT "I2S_BUILD_DIR=${CMAKE_BINARY_DIR};OPENBLAS_NUM_THREADS=1")
