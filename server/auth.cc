#include "server/auth.h"

#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "util/file_util.h"
#include "util/log.h"

namespace image2song {
namespace {

absl::StatusOr<std::string> ReadPem(const std::string& path, const char* what) {
  auto text = ReadFile(path, int64_t{1} << 20);
  if (!text.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot read the TLS ", what, " ", path, ": ", text.status().message()));
  }
  if (text->find("-----BEGIN") == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("the TLS ", what, " ", path, " is not a PEM file"));
  }
  return text;
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const TlsOptions& options) {
  if (options.cert_file.empty() != options.key_file.empty()) {
    return absl::InvalidArgumentError(
        "TLS needs both a certificate (--tls_cert_file) and its key (--tls_key_file)");
  }
  if (options.cert_file.empty()) {
    if (!options.client_ca_file.empty()) {
      return absl::InvalidArgumentError(
          "--tls_client_ca_file needs TLS (--tls_cert_file and --tls_key_file)");
    }
    return grpc::InsecureServerCredentials();
  }
  grpc::SslServerCredentialsOptions ssl;
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  auto cert = ReadPem(options.cert_file, "certificate");
  if (!cert.ok()) return cert.status();
  auto key = ReadPem(options.key_file, "key");
  if (!key.ok()) return key.status();
  pair.cert_chain = *cert;
  pair.private_key = *key;
  ssl.pem_key_cert_pairs.push_back(std::move(pair));
  if (!options.client_ca_file.empty()) {
    auto ca = ReadPem(options.client_ca_file, "client CA");
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *ca;
    ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  } else {
    ssl.client_certificate_request = GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE;
  }
  return grpc::SslServerCredentials(ssl);
}

bool ConstantTimeEquals(const std::string& a, const std::string& b) {
  // Compare over the longer length so timing does not reveal a prefix.
  const size_t n = std::max(a.size(), b.size());
  volatile unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? a[i] : 0;
    const unsigned char y = i < b.size() ? b[i] : 0;
    diff = diff | (x ^ y);
  }
  return diff == 0;
}

absl::Status CheckBearerToken(const grpc::ServerContextBase& context, const std::string& token,
                              const std::string& what) {
  if (token.empty()) return absl::OkStatus();
  const auto& md = context.client_metadata();
  auto it = md.find("authorization");
  const std::string given =
      it == md.end() ? std::string() : std::string(it->second.data(), it->second.size());
  if (ConstantTimeEquals(given, "Bearer " + token)) return absl::OkStatus();
  I2S_LOG(WARNING) << what << " from " << context.peer()
                   << (it == md.end() ? ": no token" : ": wrong token");
  return absl::UnauthenticatedError(
      absl::StrCat(what, " need 'authorization: Bearer <token>'",
                   it == md.end() ? "" : " (the token given is wrong)"));
}

absl::StatusOr<std::string> ReadSecret(const std::string& file, const char* env) {
  if (file.empty()) {
    const char* v = std::getenv(env);
    return v == nullptr ? std::string() : std::string(absl::StripAsciiWhitespace(v));
  }
  auto text = ReadFile(file, 4096);
  if (!text.ok()) return text.status();
  std::string secret(absl::StripAsciiWhitespace(*text));
  if (secret.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("the secret file ", file, " is empty"));
  }
  return secret;
}

}  // namespace image2song
