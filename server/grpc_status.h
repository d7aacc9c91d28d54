// The one place absl::Status becomes grpc::Status.
#ifndef IMAGE2SONG_SERVER_GRPC_STATUS_H_
#define IMAGE2SONG_SERVER_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace image2song {

// Same code; the message is cut to 1 KiB.
grpc::Status ToGrpcStatus(const absl::Status& status);

// "INVALID_ARGUMENT" etc. (metric labels, logs).
const char* GrpcCodeName(grpc::StatusCode code);

}  // namespace image2song

#endif  // IMAGE2SONG_SERVER_GRPC_STATUS_H_
