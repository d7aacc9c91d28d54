# Deployment files (deploy/, docker-compose.yml) checked without Docker or Kubernetes:
# promtool, the binaries' --help, ldd + dpkg -S against the Dockerfile's runtime packages.
# Skipped (77) when promtool (Debian package prometheus) is missing.
add_test(NAME test_deploy_files
  COMMAND ${I2S_PYTHON} ${PROJECT_SOURCE_DIR}/tests/deploy/test_deploy_files.py
          ${PROJECT_SOURCE_DIR} ${CMAKE_BINARY_DIR})
set_tests_properties(test_deploy_files PROPERTIES LABELS unit SKIP_RETURN_CODE 77 TIMEOUT 120)
