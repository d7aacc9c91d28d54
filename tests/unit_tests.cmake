# Unit tests: one Catch2 executable per module (label `unit`, the default of
# i2s_test). Included by tests/CMakeLists.txt, which defines i2s_test() and
# the `assets` / `bundle` fixtures.

i2s_test(test_image SOURCES test_image.cc FIXTURES assets
  LIBS i2s_image opencv_core opencv_imgproc opencv_imgcodecs)
target_include_directories(test_image SYSTEM PRIVATE ${OpenCV_INCLUDE_DIRS})

i2s_test(test_word_vectors SOURCES test_word_vectors.cc
  LIBS i2s_words FIXTURES assets)

i2s_test(test_catalogue SOURCES test_catalogue.cc
  LIBS i2s_bundle FIXTURES assets)

i2s_test(test_embedder_bundle SOURCES test_embedder_bundle.cc
  LIBS i2s_core nlohmann_json::nlohmann_json FIXTURES assets)

i2s_test(test_song_store SOURCES test_song_store.cc LIBS i2s_bundle)

i2s_test(test_recommender SOURCES test_recommender.cc
  LIBS i2s_core nlohmann_json::nlohmann_json FIXTURES bundle)

i2s_test(test_model_set SOURCES test_model_set.cc
  LIBS i2s_models FIXTURES assets)

i2s_test(test_work_queue SOURCES test_work_queue.cc
  LIBS i2s_service)

# Runs the real i2s-index binary ($I2S_INDEX_BIN).
i2s_test(test_index_cli SOURCES test_index_cli.cc LIBS i2s_bundle FIXTURES assets)
add_dependencies(test_index_cli i2s-index)

i2s_test(test_client_format SOURCES test_client_format.cc
  LIBS i2s_client_format i2s_proto nlohmann_json::nlohmann_json
 )

i2s_test(test_colour_cues SOURCES test_colour_cues.cc
  LIBS i2s_models FIXTURES assets)

i2s_test(test_batching_model SOURCES test_batching_model.cc LIBS i2s_models)

i2s_test(test_http_api SOURCES test_http_api.cc LIBS i2s_http)
i2s_test(test_http_wire SOURCES test_http_wire.cc LIBS i2s_http)
i2s_test(test_http_server SOURCES test_http_server.cc LIBS i2s_http)

# The flag reference in docs/configuration.md equals the binaries' --help (tools/gen_flag_docs.py).
add_test(NAME flag_reference
  COMMAND ${I2S_PYTHON} ${PROJECT_SOURCE_DIR}/tools/gen_flag_docs.py ${CMAKE_BINARY_DIR} --check
          --doc=${PROJECT_SOURCE_DIR}/docs/configuration.md)
set_tests_properties(flag_reference PROPERTIES LABELS unit TIMEOUT 120)

# Every relative link and #anchor in README.md and docs/*.md resolves (tools/check_doc_links.py).
add_test(NAME doc_links
  COMMAND ${I2S_PYTHON} ${PROJECT_SOURCE_DIR}/tools/check_doc_links.py ${PROJECT_SOURCE_DIR})
set_tests_properties(doc_links PROPERTIES LABELS unit TIMEOUT 60)

i2s_test(test_request_check SOURCES test_request_check.cc LIBS i2s_service)
