#include "server/raw_call.h"

#include <google/protobuf/message.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/support/proto_buffer_reader.h>
#include <grpcpp/support/proto_buffer_writer.h>
#include <grpcpp/support/slice.h>

#include "absl/strings/str_cat.h"
#include "server/request.h"

namespace image2song {

absl::Status ParseRequest(const grpc::ByteBuffer& buffer, google::protobuf::Message* message) {
  // Parsed from the received slices, as gRPC does (no extra copy); only a
  // failure is looked at again, in one piece.
  grpc::ByteBuffer view(buffer);  // shares the slices
  grpc::ProtoBufferReader reader(&view);
  if (message->ParseFromZeroCopyStream(&reader)) return absl::OkStatus();
  message->Clear();
  grpc::Slice slice;
  if (!buffer.DumpToSingleSlice(&slice).ok()) {
    return absl::InvalidArgumentError("the request could not be read");
  }
  return ParseRequestBytes(
      absl::string_view(reinterpret_cast<const char*>(slice.begin()), slice.size()), message);
}

absl::Status SerializeResponse(const google::protobuf::Message& message, grpc::ByteBuffer* out) {
  bool own_buffer = false;
  grpc::Status s = grpc::GenericSerialize<grpc::ProtoBufferWriter, google::protobuf::Message>(
      message, out, &own_buffer);
  if (!s.ok()) {
    return absl::InternalError(
        absl::StrCat("the response could not be serialized: ", s.error_message()));
  }
  return absl::OkStatus();
}

}  // namespace image2song
