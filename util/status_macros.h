// Status propagation macros. Our abseil (Debian 20220623) ships none.
#ifndef IMAGE2SONG_UTIL_STATUS_MACROS_H_
#define IMAGE2SONG_UTIL_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

#define I2S_CONCAT_INNER_(a, b) a##b
#define I2S_CONCAT_(a, b) I2S_CONCAT_INNER_(a, b)

// Returns from the current function when `expr` yields a non-OK status.
#define RETURN_IF_ERROR(expr)                  \
  do {                                         \
    ::absl::Status i2s_status_ = (expr);       \
    if (!i2s_status_.ok()) return i2s_status_; \
  } while (0)

// `ASSIGN_OR_RETURN(auto x, MakeX());` unwraps a StatusOr or returns its
// status.
#define ASSIGN_OR_RETURN(lhs, rexpr) \
  I2S_ASSIGN_OR_RETURN_IMPL_(I2S_CONCAT_(i2s_statusor_, __LINE__), lhs, rexpr)

#define I2S_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                               \
  if (!statusor.ok()) return statusor.status();          \
  lhs = std::move(statusor).value()

// `status` with "what: " before its message and the same code (OK stays OK).
inline absl::Status WithContext(absl::string_view what, const absl::Status& status) {
  if (status.ok()) return status;
  return absl::Status(status.code(), absl::StrCat(what, ": ", status.message()));
}

#endif  // IMAGE2SONG_UTIL_STATUS_MACROS_H_
