// Requests and responses of the methods served raw (grpc::ByteBuffer): the
// service parses them itself so that what gRPC's parser would answer with an
// empty UNIMPLEMENTED gets INVALID_ARGUMENT naming the problem.
#ifndef IMAGE2SONG_SERVER_RAW_CALL_H_
#define IMAGE2SONG_SERVER_RAW_CALL_H_

#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace google {
namespace protobuf {
class Message;
}  // namespace protobuf
}  // namespace google

namespace image2song {

// Parses `buffer` into `message`; errors as request.h
// ParseRequestBytes (INVALID_ARGUMENT naming the field that is not UTF-8).
absl::Status ParseRequest(const grpc::ByteBuffer& buffer, google::protobuf::Message* message);

// Serializes `message` into `out` (INTERNAL on failure).
absl::Status SerializeResponse(const google::protobuf::Message& message, grpc::ByteBuffer* out);

}  // namespace image2song

#endif  // IMAGE2SONG_SERVER_RAW_CALL_H_
