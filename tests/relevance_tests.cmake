# i2s-eval, the relevance benchmark (bench/i2s_eval.cc, tools/eval/):
#   test_relevance_tiny    label unit: tiny generated models and bundle
#   test_relevance_models  label models: default models, the demo catalogue and the
#                          evaluation set of tools/eval/make_eval_set.sh;
#                          exits 77 (skipped) when the cache lacks them
add_executable(test_relevance test_relevance.cc)
target_compile_options(test_relevance PRIVATE ${I2S_WARNINGS})
target_link_libraries(test_relevance PRIVATE i2s_test_util i2s_core
  nlohmann_json::nlohmann_json absl::str_format)
add_dependencies(test_relevance i2s-eval i2s-index)

add_test(NAME test_relevance_tiny COMMAND test_relevance "[tiny]")
set_tests_properties(test_relevance_tiny PROPERTIES
  LABELS unit FIXTURES_REQUIRED bundle TIMEOUT 120
  ENVIRONMENT "OPENBLAS_NUM_THREADS=1;I2S_EVAL_BIN=$<TARGET_FILE:i2s-eval>")

add_test(NAME test_relevance_models
  COMMAND test_relevance --needs-cache "[models]")
set_tests_properties(test_relevance_models PROPERTIES
  LABELS models SKIP_RETURN_CODE 77 TIMEOUT 300
  ENVIRONMENT "OPENBLAS_NUM_THREADS=1;I2S_EVAL_BIN=$<TARGET_FILE:i2s-eval>")
