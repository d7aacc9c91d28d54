#include "server/http/http_api.h"

#include <google/protobuf/util/json_util.h>
#include <grpcpp/support/status.h>

#include <cstdlib>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "server/grpc_status.h"
#include "server/request.h"
#include "util/status_macros.h"

namespace image2song {
namespace {

namespace pb = ::image2song::v1;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

absl::StatusOr<std::string> PercentDecode(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%') {
      const int hi = i + 2 < s.size() ? HexValue(s[i + 1]) : -1;
      const int lo = i + 2 < s.size() ? HexValue(s[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("bad percent escape in the query at offset ", i));
      }
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// Value of a `key=value` or `key="value"` parameter in a header value such
// as `form-data; name="image"; filename="a.jpg"`.
std::string HeaderParam(absl::string_view header, absl::string_view key) {
  for (absl::string_view item : absl::StrSplit(header, ';')) {
    item = absl::StripAsciiWhitespace(item);
    size_t eq = item.find('=');
    if (eq == absl::string_view::npos) continue;
    if (!absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(item.substr(0, eq)), key)) {
      continue;
    }
    absl::string_view v = absl::StripAsciiWhitespace(item.substr(eq + 1));
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') {
      v = v.substr(1, v.size() - 2);
    }
    return std::string(v);
  }
  return "";
}

absl::Status BadOption(absl::string_view name, absl::string_view value, absl::string_view want) {
  return absl::InvalidArgumentError(
      absl::StrCat("parameter ", name, "=\"", value.substr(0, 64), "\": ", want));
}

absl::StatusOr<bool> ParseBool(absl::string_view name, absl::string_view value) {
  std::string v = absl::AsciiStrToLower(absl::StripAsciiWhitespace(value));
  if (v == "" || v == "1" || v == "true" || v == "yes" || v == "on") return true;
  if (v == "0" || v == "false" || v == "no" || v == "off") return false;
  return BadOption(name, value, "want true or false");
}

void AddList(absl::string_view value, google::protobuf::RepeatedPtrField<std::string>* out) {
  for (absl::string_view item : absl::StrSplit(value, ',')) {
    item = absl::StripAsciiWhitespace(item);
    if (!item.empty()) out->Add(std::string(item));
  }
}

bool IsImageType(absl::string_view type) {
  return absl::StartsWithIgnoreCase(type, "image/") ||
         absl::EqualsIgnoreCase(type, "application/octet-stream");
}

}  // namespace

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ParseQuery(
    absl::string_view query) {
  std::vector<std::pair<std::string, std::string>> out;
  for (absl::string_view item : absl::StrSplit(query, '&', absl::SkipEmpty())) {
    size_t eq = item.find('=');
    absl::StatusOr<std::string> key = PercentDecode(item.substr(0, eq));
    if (!key.ok()) return key.status();
    absl::StatusOr<std::string> value =
        PercentDecode(eq == absl::string_view::npos ? absl::string_view() : item.substr(eq + 1));
    if (!value.ok()) return value.status();
    out.emplace_back(std::move(*key), std::move(*value));
  }
  return out;
}

absl::StatusOr<std::string> MultipartBoundary(absl::string_view content_type) {
  std::string boundary = HeaderParam(content_type, "boundary");
  if (boundary.empty() || boundary.size() > 200) {
    return absl::InvalidArgumentError("multipart/form-data without a valid boundary parameter");
  }
  return boundary;
}

absl::StatusOr<std::vector<FormPart>> ParseMultipart(absl::string_view body,
                                                     absl::string_view boundary, int max_parts) {
  const std::string delimiter = absl::StrCat("--", boundary);
  std::vector<FormPart> parts;
  // The body starts with the first delimiter (a preamble is allowed).
  size_t pos = body.find(delimiter);
  if (pos == absl::string_view::npos) {
    return absl::InvalidArgumentError("multipart body does not contain its boundary");
  }
  pos += delimiter.size();
  const std::string next_delimiter = absl::StrCat("\r\n", delimiter);
  while (true) {
    absl::string_view rest = body.substr(pos);
    if (absl::StartsWith(rest, "--")) return parts;  // closing delimiter
    if (!absl::ConsumePrefix(&rest, "\r\n")) {
      return absl::InvalidArgumentError("malformed multipart delimiter line");
    }
    size_t headers_end = rest.find("\r\n\r\n");
    size_t part_end = rest.find(next_delimiter);
    if (part_end == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          "truncated multipart body: the closing boundary is missing");
    }
    if (static_cast<int>(parts.size()) >= max_parts) {
      return absl::InvalidArgumentError(absl::StrCat("more than ", max_parts, " multipart parts"));
    }
    FormPart part;
    absl::string_view headers;
    if (absl::StartsWith(rest, "\r\n")) {  // no headers
      // The blank line that ends the (empty) headers cannot also be the one
      // before the next delimiter.
      if (part_end < 2) return absl::InvalidArgumentError("malformed multipart part headers");
      part.data = rest.substr(2, part_end - 2);
    } else {
      // The headers end with a blank line before the part's end; a blank
      // line that runs into the next delimiter leaves no body line (the
      // data would otherwise run to the end of the body).
      if (headers_end == absl::string_view::npos || headers_end + 4 > part_end) {
        return absl::InvalidArgumentError("malformed multipart part headers");
      }
      headers = rest.substr(0, headers_end);
      part.data = rest.substr(headers_end + 4, part_end - headers_end - 4);
    }
    for (absl::string_view line : absl::StrSplit(headers, "\r\n")) {
      size_t colon = line.find(':');
      if (colon == absl::string_view::npos) continue;
      absl::string_view name = absl::StripAsciiWhitespace(line.substr(0, colon));
      absl::string_view value = absl::StripAsciiWhitespace(line.substr(colon + 1));
      if (absl::EqualsIgnoreCase(name, "content-disposition")) {
        part.name = HeaderParam(value, "name");
        part.filename = HeaderParam(value, "filename");
      } else if (absl::EqualsIgnoreCase(name, "content-type")) {
        part.content_type = std::string(value);
      }
    }
    parts.push_back(std::move(part));
    pos += (rest.data() - body.substr(pos).data()) + part_end + next_delimiter.size();
  }
}

absl::Status ApplyRecommendOption(absl::string_view name, absl::string_view value,
                                  pb::RecommendRequest* request) {
  pb::Filters* f = request->mutable_filters();
  if (name == "top_k") {
    int k = 0;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(value), &k)) {
      return BadOption(name, value, "want an integer");
    }
    request->set_top_k(k);
  } else if (name == "explain") {
    absl::StatusOr<bool> b = ParseBool(name, value);
    if (!b.ok()) return b.status();
    request->set_explain(*b);
  } else if (name == "text") {
    request->set_text(std::string(value));
  } else if (name == "genres" || name == "genre") {
    AddList(value, f->mutable_genres());
  } else if (name == "moods") {
    AddList(value, f->mutable_moods());
  } else if (name == "mood") {  // steers (RecommendRequest.mood); the filter is "moods"
    request->set_mood(std::string(absl::StripAsciiWhitespace(value)));
  } else if (name == "languages" || name == "language") {
    AddList(value, f->mutable_languages());
  } else if (name == "licenses" || name == "license") {
    AddList(value, f->mutable_licenses());
  } else if (name == "exclude" || name == "exclude_song_ids") {
    AddList(value, f->mutable_exclude_song_ids());
  } else if (name == "exclude_explicit") {
    absl::StatusOr<bool> b = ParseBool(name, value);
    if (!b.ok()) return b.status();
    f->set_exclude_explicit(*b);
  } else if (name == "catalogue_values_only") {
    absl::StatusOr<bool> b = ParseBool(name, value);
    if (!b.ok()) return b.status();
    f->set_catalogue_values_only(*b);
  } else if (name == "min_duration_seconds" || name == "max_duration_seconds") {
    float seconds = 0;
    if (!absl::SimpleAtof(absl::StripAsciiWhitespace(value), &seconds)) {
      return BadOption(name, value, "want a number of seconds");
    }
    if (name == "min_duration_seconds") {
      f->set_min_duration_seconds(seconds);
    } else {
      f->set_max_duration_seconds(seconds);
    }
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown parameter \"", name.substr(0, 64),
                     "\" (known: top_k, explain, text, mood, genres, moods, languages, licenses, "
                     "exclude, exclude_explicit, catalogue_values_only, min_duration_seconds, "
                     "max_duration_seconds)"));
  }
  return absl::OkStatus();
}

namespace {

absl::StatusOr<pb::RecommendRequest> ParseHttpRecommendFields(absl::string_view query,
                                                              absl::string_view content_type,
                                                              absl::string_view body,
                                                              const HttpRecommendLimits& limits) {
  pb::RecommendRequest request;
  absl::string_view type =
      absl::StripAsciiWhitespace(content_type.substr(0, content_type.find(';')));

  if (absl::EqualsIgnoreCase(type, "application/json")) {
    google::protobuf::util::JsonParseOptions options;
    options.ignore_unknown_fields = false;
    auto status = google::protobuf::util::JsonStringToMessage(
        google::protobuf::StringPiece(body.data(), body.size()), &request, options);
    if (!status.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the JSON body is not a RecommendRequest: ",
          absl::string_view(status.message().data(), status.message().size()).substr(0, 300)));
    }
    return request;
  }

  request.set_explain(true);
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> params = ParseQuery(query);
  if (!params.ok()) return params.status();
  for (const auto& [name, value] : *params) {
    if (absl::Status s = ApplyRecommendOption(name, value, &request); !s.ok()) {
      return s;
    }
  }

  if (absl::EqualsIgnoreCase(type, "multipart/form-data")) {
    absl::StatusOr<std::string> boundary = MultipartBoundary(content_type);
    if (!boundary.ok()) return boundary.status();
    absl::StatusOr<std::vector<FormPart>> parts = ParseMultipart(body, *boundary, limits.max_parts);
    if (!parts.ok()) return parts.status();
    std::vector<absl::string_view> images;
    for (const FormPart& part : *parts) {
      if (part.name == "image" || part.name == "images") {
        images.push_back(part.data);
      } else if (!part.filename.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "file field \"", part.name.substr(0, 64), "\": send images in fields named \"image\""));
      } else if (absl::Status s = ApplyRecommendOption(part.name, part.data, &request); !s.ok()) {
        return s;
      }
    }
    if (images.size() == 1) {
      request.set_image(std::string(images[0]));
    } else {
      for (absl::string_view image : images) request.add_images(std::string(image));
    }
    return request;
  }

  if (type.empty() || IsImageType(type)) {
    if (!body.empty()) request.set_image(std::string(body));
    return request;
  }
  return absl::UnimplementedError(
      absl::StrCat("unsupported Content-Type \"", content_type.substr(0, 100),
                   "\": send image/*, application/octet-stream, multipart/form-data or "
                   "application/json"));
}

}  // namespace

absl::StatusOr<pb::RecommendRequest> ParseHttpRecommend(absl::string_view query,
                                                        absl::string_view content_type,
                                                        absl::string_view body,
                                                        const HttpRecommendLimits& limits) {
  absl::StatusOr<pb::RecommendRequest> request =
      ParseHttpRecommendFields(query, content_type, body, limits);
  // Query and form values are bytes: a string field must be UTF-8 before
  // the request is serialized (server/request.h).
  if (request.ok()) RETURN_IF_ERROR(CheckStringsAreUtf8(*request));
  return request;
}

int HttpStatusForGrpcCode(int grpc_code) {
  switch (grpc_code) {
    case grpc::OK:
      return 200;
    case grpc::CANCELLED:
      return 499;
    case grpc::INVALID_ARGUMENT:
    case grpc::FAILED_PRECONDITION:
    case grpc::OUT_OF_RANGE:
      return 400;
    case grpc::DEADLINE_EXCEEDED:
      return 504;
    case grpc::NOT_FOUND:
      return 404;
    case grpc::ALREADY_EXISTS:
    case grpc::ABORTED:
      return 409;
    case grpc::PERMISSION_DENIED:
      return 403;
    case grpc::UNAUTHENTICATED:
      return 401;
    case grpc::RESOURCE_EXHAUSTED:
      return 429;
    case grpc::UNIMPLEMENTED:
      return 501;
    case grpc::UNAVAILABLE:
      return 503;
    default:
      return 500;
  }
}

const char* HttpReason(int http_status) {
  switch (http_status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 413:
      return "Payload Too Large";
    case 415:
      return "Unsupported Media Type";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 499:
      return "Client Closed Request";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Internal Server Error";
  }
}

std::string ErrorJson(int grpc_code, absl::string_view message) {
  nlohmann::json error = {{"code", grpc_code},
                          {"status", GrpcCodeName(static_cast<grpc::StatusCode>(grpc_code))},
                          {"message", std::string(message)}};
  // Messages may quote request bytes: invalid UTF-8 becomes U+FFFD.
  return nlohmann::json{{"error", std::move(error)}}.dump(-1, ' ', false,
                                                          nlohmann::json::error_handler_t::replace);
}

std::string ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(message, &out, options);
  return out;
}

}  // namespace image2song
