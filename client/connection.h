// How the command-line clients reach the server: plaintext or TLS (with an
// optional client certificate) and an optional bearer token per call. The
// flags (--tls_ca_file, --tls_cert_file, --tls_key_file, --tls_server_name,
// --token_file; I2S_TOKEN) are defined here for every client binary.
#ifndef IMAGE2SONG_CLIENT_CONNECTION_H_
#define IMAGE2SONG_CLIENT_CONNECTION_H_

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"

namespace i2s::client {

struct Connection {
  std::shared_ptr<grpc::Channel> channel;
  // Added to each call as "authorization: Bearer <token>" when not empty.
  std::string token;

  void Authorize(grpc::ClientContext* context) const {
    if (!token.empty()) context->AddMetadata("authorization", "Bearer " + token);
  }
};

// A channel to `target` from the flags; errors name the flag or file.
absl::StatusOr<Connection> ConnectFromFlags(const std::string& target,
                                            const grpc::ChannelArguments& args);

}  // namespace i2s::client

#endif  // IMAGE2SONG_CLIENT_CONNECTION_H_
