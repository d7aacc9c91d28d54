// Text and JSON rendering for the i2s-client command line tool.
//
// Pure functions over the generated API messages: no I/O, no channels, so
// tests can check the output without a server. All functions are
// thread-compatible (they only read their arguments).
#ifndef I2S_CLIENT_CLIENT_FORMAT_H_
#define I2S_CLIENT_CLIENT_FORMAT_H_

#include <cstddef>
#include <string>
#include <vector>

#include <grpcpp/support/status.h>

#include "absl/strings/string_view.h"
#include "image2song/v1/image2song.pb.h"

namespace google::protobuf {
class Message;
}  // namespace google::protobuf

namespace i2s::client {

// Canonical name of a gRPC status code, e.g. "INVALID_ARGUMENT".
// Unknown values render as "CODE_<n>".
std::string StatusCodeName(grpc::StatusCode code);

// "error: <CODE_NAME>: <message>" (no trailing newline).
std::string FormatRpcError(const grpc::Status& status);

// Splits a comma-separated flag value into trimmed, non-empty items.
std::vector<std::string> SplitList(absl::string_view value);

// Quotes and escapes `text` as a JSON string literal (UTF-8 passes through).
std::string JsonQuote(absl::string_view text);

// Proto3 JSON (snake_case field names, default values printed), one line.
// Returns false and sets *error when conversion fails.
bool MessageToJson(const google::protobuf::Message& message, std::string* json, std::string* error);

// Cuts `text` to at most `max_chars` code points, ending with "..." when cut.
// Never splits a UTF-8 sequence.
std::string Truncate(absl::string_view text, size_t max_chars);

// Readable rendering of one Recommend answer for `image` (a file name).
// `explain` adds matched tags and lyric lines under each song when present.
std::string FormatRecommend(absl::string_view image,
                            const image2song::v1::RecommendResponse& response, bool explain);

// Readable rendering of one song (metadata, then the lyrics).
std::string FormatSong(const image2song::v1::Song& song);

// Readable rendering of the server's info.
std::string FormatInfo(const image2song::v1::GetInfoResponse& info);

}  // namespace i2s::client

#endif  // I2S_CLIENT_CLIENT_FORMAT_H_
