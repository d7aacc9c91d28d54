#include "server/request.h"

#include <string>
#include <vector>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/reflection.h>
#include <google/protobuf/stubs/logging.h>
#include <google/protobuf/unknown_field_set.h>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "util/log.h"
#include "util/status_macros.h"

namespace image2song {
namespace {

namespace pb = ::image2song::v1;

// "<problem>" for a request with one image, "image: <problem>" /
// "images[2]: <problem>" for one with several.
absl::Status NameImage(const pb::RecommendRequest& request, int i, const absl::Status& status) {
  if (request.images_size() == 0) return status;
  return WithContext(i < 0 ? "image" : absl::StrCat("images[", i, "]"), status);
}

void AddLower(const google::protobuf::RepeatedPtrField<std::string>& values,
              absl::flat_hash_set<std::string>* out) {
  for (const std::string& v : values) {
    std::string s(absl::StripAsciiWhitespace(v));
    if (!s.empty()) out->insert(absl::AsciiStrToLower(s));
  }
}

}  // namespace

absl::Status CheckRequestImages(const pb::RecommendRequest& request, const DecodeOptions& decode) {
  for (int i = -1; i < request.images_size(); ++i) {
    const std::string& bytes = i < 0 ? request.image() : request.images(i);
    if (i < 0 && bytes.empty()) continue;
    absl::StatusOr<ImageHeader> header = CheckImageBytes(bytes, decode);
    if (!header.ok()) return NameImage(request, i, header.status());
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<RgbImage>> DecodeRequestImages(const pb::RecommendRequest& request,
                                                          const DecodeOptions& decode) {
  std::vector<RgbImage> images;
  for (int i = -1; i < request.images_size(); ++i) {
    const std::string& bytes = i < 0 ? request.image() : request.images(i);
    if (i < 0 && bytes.empty()) continue;
    absl::StatusOr<RgbImage> image = DecodeImage(bytes, decode);
    if (!image.ok()) {
      return absl::IsInvalidArgument(image.status()) ? NameImage(request, i, image.status())
                                                     : image.status();
    }
    images.push_back(std::move(*image));
  }
  return images;
}

RecommendOptions ToRecommendOptions(const pb::RecommendRequest& request,
                                    const RecommendOptions& base, int default_top_k) {
  RecommendOptions ro = base;
  ro.top_k = request.top_k() == 0 ? default_top_k : request.top_k();
  ro.explain = request.explain();
  const pb::Filters& f = request.filters();
  AddLower(f.genres(), &ro.filters.genres);
  AddLower(f.moods(), &ro.filters.moods);
  AddLower(f.languages(), &ro.filters.languages);
  AddLower(f.licenses(), &ro.filters.licenses);
  for (const std::string& id : f.exclude_song_ids()) ro.filters.exclude_ids.insert(id);
  ro.filters.exclude_explicit = f.exclude_explicit();
  ro.filters.catalogue_values_only = f.catalogue_values_only();
  ro.filters.min_duration_seconds = f.min_duration_seconds();
  ro.filters.max_duration_seconds = f.max_duration_seconds();
  ro.mood = request.mood();
  return ro;
}

absl::Status CheckRecommendRequest(const image2song::v1::RecommendRequest& request,
                                   const RequestLimits& limits) {
  auto invalid = [](auto&&... parts) { return absl::InvalidArgumentError(absl::StrCat(parts...)); };
  if (request.top_k() < 0 || request.top_k() > limits.max_top_k) {
    return invalid("top_k must be between 1 and ", limits.max_top_k, " (0 means ",
                   limits.default_top_k, "); got ", request.top_k());
  }
  const int count = (request.image().empty() ? 0 : 1) + request.images_size();
  if (count == 0 && request.text().empty()) {
    return invalid(
        "image is empty: send the encoded image bytes (JPEG, PNG, "
        "WebP or BMP) in 'image' or 'images', or a 'text' hint");
  }
  if (count > limits.max_images) {
    return invalid(count, " images; the limit is ", limits.max_images, " per request");
  }
  if (static_cast<int64_t>(request.text().size()) > limits.max_text_bytes) {
    return invalid("text is ", request.text().size(), " bytes; the limit is ",
                   limits.max_text_bytes);
  }
  // The word itself is checked against the mood model (ResolveMoodTarget).
  if (request.mood().size() > 64) {
    return invalid("mood is ", request.mood().size(),
                   " bytes; a mood is one word such as calm or happy");
  }
  const float min_d = request.filters().min_duration_seconds();
  const float max_d = request.filters().max_duration_seconds();
  if (!(min_d >= 0) || !(max_d >= 0) || (max_d > 0 && min_d > max_d)) {
    return invalid("filters: duration range [", min_d, ", ", max_d,
                   "] is invalid (seconds >= 0, min <= max, 0 = open)");
  }
  int64_t total = 0;
  for (int i = -1; i < request.images_size(); ++i) {
    const std::string& img = i < 0 ? request.image() : request.images(i);
    if (i < 0 && img.empty()) continue;
    const std::string name = i < 0 ? "image" : absl::StrCat("images[", i, "]");
    if (img.empty()) return invalid(name, " is empty");
    if (static_cast<int64_t>(img.size()) > limits.max_image_bytes) {
      return invalid(name, " is ", img.size(), " bytes; the limit is ", limits.max_image_bytes);
    }
    total += static_cast<int64_t>(img.size());
  }
  if (total > limits.max_request_image_bytes) {
    return invalid("the images total ", total, " bytes; the limit is ",
                   limits.max_request_image_bytes, " per request");
  }
  return absl::OkStatus();
}

namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::UnknownField;
using google::protobuf::UnknownFieldSet;

absl::Status NotUtf8(const std::string& path) {
  return absl::InvalidArgumentError(
      absl::StrCat("field '", path,
                   "' is not valid UTF-8 (string fields must be UTF-8 "
                   "text; send binary data in a bytes field)"));
}

std::string FieldPath(const std::string& prefix, const FieldDescriptor& field, int index) {
  std::string path = prefix.empty() ? field.name() : absl::StrCat(prefix, ".", field.name());
  if (field.is_repeated()) absl::StrAppend(&path, "[", index, "]");
  return path;
}

// Finds the first known string field of `fields` (a message of `type`, at
// any depth) that is not UTF-8, or a nested message that does not parse.
absl::Status WalkUnknown(const UnknownFieldSet& fields, const Descriptor& type,
                         const std::string& prefix, int depth) {
  if (depth > 32) return absl::InvalidArgumentError("request nests too deeply");
  absl::flat_hash_map<int, int> count;  // values of each field so far
  for (int i = 0; i < fields.field_count(); ++i) {
    const UnknownField& f = fields.field(i);
    const FieldDescriptor* field = type.FindFieldByNumber(f.number());
    if (field == nullptr) continue;  // unknown fields are kept, not errors
    const int index = count[f.number()]++;
    const std::string path = FieldPath(prefix, *field, index);
    // A known field with another wire type is kept as unknown by protobuf,
    // not an error: only length-delimited values can hold what fails.
    if (f.type() != UnknownField::TYPE_LENGTH_DELIMITED) continue;
    if (field->type() == FieldDescriptor::TYPE_STRING) {
      if (!IsValidUtf8(f.length_delimited())) return NotUtf8(path);
    } else if (field->type() == FieldDescriptor::TYPE_MESSAGE) {
      UnknownFieldSet nested;
      if (!nested.ParseFromString(f.length_delimited())) {
        return absl::InvalidArgumentError(absl::StrCat(
            "field '", path, "' is not a valid serialized ", field->message_type()->full_name()));
      }
      absl::Status s = WalkUnknown(nested, *field->message_type(), path, depth + 1);
      if (!s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

absl::Status CheckMessageUtf8(const Message& message, const std::string& prefix, int depth) {
  if (depth > 32) return absl::InvalidArgumentError("request nests too deeply");
  const Descriptor& type = *message.GetDescriptor();
  const google::protobuf::Reflection& r = *message.GetReflection();
  for (int i = 0; i < type.field_count(); ++i) {
    const FieldDescriptor& field = *type.field(i);
    if (field.type() != FieldDescriptor::TYPE_STRING &&
        field.type() != FieldDescriptor::TYPE_MESSAGE) {
      continue;
    }
    const int n =
        field.is_repeated()
            ? r.FieldSize(message, &field)
            : (r.HasField(message, &field) || field.type() == FieldDescriptor::TYPE_STRING ? 1 : 0);
    for (int k = 0; k < n; ++k) {
      const std::string path = FieldPath(prefix, field, k);
      if (field.type() == FieldDescriptor::TYPE_STRING) {
        std::string scratch;
        const std::string& value = field.is_repeated()
                                       ? r.GetRepeatedStringReference(message, &field, k, &scratch)
                                       : r.GetStringReference(message, &field, &scratch);
        if (!IsValidUtf8(value)) return NotUtf8(path);
      } else {
        const Message& nested = field.is_repeated() ? r.GetRepeatedMessage(message, &field, k)
                                                    : r.GetMessage(message, &field);
        absl::Status s = CheckMessageUtf8(nested, path, depth + 1);
        if (!s.ok()) return s;
      }
    }
  }
  return absl::OkStatus();
}

void ProtobufLog(google::protobuf::LogLevel level, const char* filename, int line,
                 const std::string& message) {
  if (absl::StrContains(message, "invalid UTF-8")) return;
  if (level >= google::protobuf::LOGLEVEL_ERROR) {
    I2S_LOG(ERROR) << "protobuf " << filename << ":" << line << ": " << message;
  } else {
    I2S_LOG(WARNING) << "protobuf " << filename << ":" << line << ": " << message;
  }
}

}  // namespace

bool IsValidUtf8(absl::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  size_t i = 0;
  while (i < n) {
    const unsigned char c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    int len;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;  // continuation byte, overlong lead (C0, C1) or > F4
    }
    if (i + len > n) return false;
    for (int k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += len;
  }
  return true;
}

absl::Status ExplainUnparseable(absl::string_view bytes, const Descriptor& type) {
  UnknownFieldSet fields;
  if (!fields.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::InvalidArgumentError(absl::StrCat("the request is not a serialized ",
                                                   type.full_name(), " (malformed protobuf data, ",
                                                   bytes.size(), " bytes)"));
  }
  absl::Status s = WalkUnknown(fields, type, "", 0);
  if (!s.ok()) return s;
  return absl::InvalidArgumentError(
      absl::StrCat("the request is not a valid serialized ", type.full_name()));
}

absl::Status ParseRequestBytes(absl::string_view bytes, Message* message) {
  if (bytes.size() > size_t{INT32_MAX}) {
    return absl::InvalidArgumentError("the request is over 2 GiB");
  }
  if (message->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::OkStatus();
  }
  message->Clear();
  return ExplainUnparseable(bytes, *message->GetDescriptor());
}

absl::Status CheckStringsAreUtf8(const Message& message) {
  return CheckMessageUtf8(message, "", 0);
}

void RouteProtobufLogs() { google::protobuf::SetLogHandler(&ProtobufLog); }

}  // namespace image2song
