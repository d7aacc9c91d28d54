#include "client/connection.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/flags/flag.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

ABSL_FLAG(std::string, tls_ca_file, "",
          "Connect with TLS, trusting the server certificate this PEM CA "
          "bundle signed (empty: plaintext).");
ABSL_FLAG(std::string, tls_cert_file, "",
          "TLS: PEM client certificate, for servers that require one.");
ABSL_FLAG(std::string, tls_key_file, "", "TLS: PEM key of --tls_cert_file.");
ABSL_FLAG(std::string, tls_server_name, "",
          "TLS: the name the server certificate must carry (default: the "
          "host of --server).");
ABSL_FLAG(std::string, token_file, "",
          "File holding the bearer token sent with every call (or set "
          "I2S_TOKEN).");

namespace i2s::client {
namespace {

absl::StatusOr<std::string> ReadSmallFile(const std::string& path, const char* flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat(flag, ": cannot read '", path, "'"));
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().size() > (1u << 20)) {
    return absl::InvalidArgumentError(absl::StrCat(flag, ": '", path, "' is over 1 MiB"));
  }
  return text.str();
}

}  // namespace

absl::StatusOr<Connection> ConnectFromFlags(const std::string& target,
                                            const grpc::ChannelArguments& base_args) {
  Connection c;
  grpc::ChannelArguments args = base_args;
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
  const std::string ca = absl::GetFlag(FLAGS_tls_ca_file);
  const std::string cert = absl::GetFlag(FLAGS_tls_cert_file);
  const std::string key = absl::GetFlag(FLAGS_tls_key_file);
  if (cert.empty() != key.empty()) {
    return absl::InvalidArgumentError("--tls_cert_file and --tls_key_file go together");
  }
  if (!cert.empty() && ca.empty()) {
    return absl::InvalidArgumentError("a client certificate needs TLS: set --tls_ca_file");
  }
  if (!ca.empty()) {
    grpc::SslCredentialsOptions ssl;
    auto roots = ReadSmallFile(ca, "--tls_ca_file");
    if (!roots.ok()) return roots.status();
    ssl.pem_root_certs = *roots;
    if (!cert.empty()) {
      auto chain = ReadSmallFile(cert, "--tls_cert_file");
      if (!chain.ok()) return chain.status();
      auto pkey = ReadSmallFile(key, "--tls_key_file");
      if (!pkey.ok()) return pkey.status();
      ssl.pem_cert_chain = *chain;
      ssl.pem_private_key = *pkey;
    }
    credentials = grpc::SslCredentials(ssl);
    const std::string name = absl::GetFlag(FLAGS_tls_server_name);
    if (!name.empty()) args.SetSslTargetNameOverride(name);
  }
  const std::string token_file = absl::GetFlag(FLAGS_token_file);
  if (!token_file.empty()) {
    auto token = ReadSmallFile(token_file, "--token_file");
    if (!token.ok()) return token.status();
    c.token = std::string(absl::StripAsciiWhitespace(*token));
    if (c.token.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("--token_file: '", token_file, "' is empty"));
    }
  } else if (const char* env = std::getenv("I2S_TOKEN"); env != nullptr) {
    c.token = std::string(absl::StripAsciiWhitespace(env));
  }
  // Several servers behind one DNS name (a Kubernetes headless Service):
  // spread calls over all of them instead of gRPC's default pick_first.
  if (absl::StartsWith(target, "dns:///")) args.SetLoadBalancingPolicyName("round_robin");
  c.channel = grpc::CreateCustomChannel(target, credentials, args);
  return c;
}

}  // namespace i2s::client
