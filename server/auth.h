// Transport security and call authentication of the gRPC port: TLS (server
// certificate, optionally a required client certificate) and a bearer token
// in each call's metadata ("authorization: Bearer <token>").
#ifndef IMAGE2SONG_SERVER_AUTH_H_
#define IMAGE2SONG_SERVER_AUTH_H_

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"

namespace image2song {

struct TlsOptions {
  // PEM files. Both or neither: neither serves plaintext.
  std::string cert_file;
  std::string key_file;
  // PEM CA bundle: when set, clients must present a certificate it signed.
  std::string client_ca_file;
};

// Plaintext credentials without certificate files, TLS with them; errors
// name the file that cannot be read or the option that is missing.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsOptions& options);

// Compares in time independent of where the strings differ.
bool ConstantTimeEquals(const std::string& a, const std::string& b);

// OK when `token` is empty (authentication off) or the call carries
// "authorization: Bearer <token>"; UNAUTHENTICATED otherwise (logged with the
// peer, never with the token). `what` names the calls in the message.
absl::Status CheckBearerToken(const grpc::ServerContextBase& context, const std::string& token,
                              const std::string& what);

// A secret from a file (whitespace trimmed; the file must not be empty) or,
// without a file, from the environment variable `env` (may be unset: "").
absl::StatusOr<std::string> ReadSecret(const std::string& file, const char* env);

}  // namespace image2song

#endif  // IMAGE2SONG_SERVER_AUTH_H_
