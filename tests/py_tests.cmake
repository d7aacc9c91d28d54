# End-to-end tests in Python (label `e2e`): the HTTP gateway, the Python
# client, Prometheus scraping a live server, and the web page in headless
# Chromium. Each starts the real i2s-server with the tiny generated models
# and bundle (fixture `bundle`); helpers in tests/e2e_py/i2s_testlib.py.
set(I2S_PY_TEST_ENV
  "OPENBLAS_NUM_THREADS=1"
  "PYTHONPATH=${CMAKE_CURRENT_SOURCE_DIR}/e2e_py"
  "I2S_PYTHON_STUBS=${CMAKE_BINARY_DIR}/python"
  "I2S_SERVER_BIN=$<TARGET_FILE:i2s-server>"
  "I2S_CLIENT_BIN=$<TARGET_FILE:i2s-client>"
  "I2S_TEST_ASSETS=${I2S_TEST_ASSETS}"
  "I2S_TEST_BUNDLE=${I2S_TEST_BUNDLE}"
  "I2S_SOURCE_DIR=${PROJECT_SOURCE_DIR}"
  "I2S_ARTIFACTS=${CMAKE_BINARY_DIR}/tests/artifacts")
foreach(name http_gateway http_slow_clients python_client ghz_config examples prometheus web_page)
  add_test(NAME py_${name}
    COMMAND ${I2S_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/e2e_py/test_${name}.py)
  set_tests_properties(py_${name} PROPERTIES
    ENVIRONMENT "${I2S_PY_TEST_ENV}" LABELS e2e FIXTURES_REQUIRED bundle TIMEOUT 600)
endforeach()
