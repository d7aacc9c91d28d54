#include "server/http/http_wire.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "server/http/http_api.h"

namespace image2song {
namespace {

using Result = HttpHeadParse::Result;

HttpHeadParse Error(int status, std::string message) {
  HttpHeadParse p;
  p.result = Result::kError;
  p.status = status;
  p.message = std::move(message);
  return p;
}

// RFC 9110 tchar: the characters of methods and field names.
bool IsTokenChar(char c) {
  if (absl::ascii_isalnum(static_cast<unsigned char>(c))) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

bool IsToken(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsTokenChar(c)) return false;
  }
  return true;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Quotes at most 64 bytes of request text in a message.
std::string Quote(absl::string_view s) {
  std::string out(s.substr(0, 64));
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return absl::StrCat("\"", out, s.size() > 64 ? "...\"" : "\"");
}

// Removes one trailing CR (lines may end in CRLF or LF).
absl::string_view StripCr(absl::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

// Percent-decodes a request path ('+' stays '+').
bool DecodePath(absl::string_view in, std::string* out) {
  out->clear();
  out->reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out->push_back(in[i]);
      continue;
    }
    const int hi = i + 2 < in.size() ? HexDigit(in[i + 1]) : -1;
    const int lo = i + 2 < in.size() ? HexDigit(in[i + 2]) : -1;
    if (hi < 0 || lo < 0) return false;
    const char c = static_cast<char>(hi * 16 + lo);
    if (c == '\0') return false;
    out->push_back(c);
    i += 2;
  }
  return true;
}

// The request line: METHOD SP request-target SP HTTP/1.x
HttpHeadParse ParseRequestLine(absl::string_view line, HttpRequestHead* head) {
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == absl::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == absl::string_view::npos || line.find(' ', sp2 + 1) != absl::string_view::npos) {
    return Error(
        400, absl::StrCat("malformed request line ", Quote(line), ": want METHOD /path HTTP/1.1"));
  }
  const absl::string_view method = line.substr(0, sp1);
  absl::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const absl::string_view version = line.substr(sp2 + 1);
  if (!IsToken(method) || method.size() > 32) {
    return Error(400, absl::StrCat("malformed method ", Quote(method)));
  }
  if (version.size() != 8 || !absl::StartsWith(version, "HTTP/") ||
      !absl::ascii_isdigit(static_cast<unsigned char>(version[5])) || version[6] != '.' ||
      !absl::ascii_isdigit(static_cast<unsigned char>(version[7]))) {
    return Error(400, absl::StrCat("malformed HTTP version ", Quote(version)));
  }
  if (version[5] != '1') {
    return Error(505, absl::StrCat(version, " is not supported: use HTTP/1.1"));
  }
  head->minor_version = version[7] - '0';
  // absolute-form (a proxy's request): keep the path.
  for (absl::string_view scheme : {"http://", "https://"}) {
    if (absl::StartsWithIgnoreCase(target, scheme)) {
      target.remove_prefix(scheme.size());
      const size_t slash = target.find_first_of("/?");
      target = slash == absl::string_view::npos ? absl::string_view("/") : target.substr(slash);
      if (target.front() == '?') {
        return Error(400, "absolute request target without a path");
      }
    }
  }
  if (target.empty() || target.front() != '/') {
    return Error(400,
                 absl::StrCat("request target ", Quote(target), " is not a path starting with /"));
  }
  for (char c : target) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return Error(400, "control character in the request target");
    }
  }
  const size_t hash = target.find('#');
  if (hash != absl::string_view::npos) target = target.substr(0, hash);
  const size_t q = target.find('?');
  head->method = std::string(method);
  head->query = q == absl::string_view::npos ? "" : std::string(target.substr(q + 1));
  if (!DecodePath(target.substr(0, q), &head->path)) {
    return Error(400, absl::StrCat("bad percent escape in the path ", Quote(target.substr(0, q))));
  }
  return HttpHeadParse();
}

// A Content-Length value: one decimal number.
bool ParseLength(absl::string_view v, int64_t* out) {
  if (v.empty() || v.size() > 18) return false;
  int64_t n = 0;
  for (char c : v) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
    n = n * 10 + (c - '0');
  }
  *out = n;
  return true;
}

}  // namespace

absl::string_view HttpRequestHead::Header(absl::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return value;
  }
  return {};
}

HttpHeadParse ParseRequestHead(absl::string_view data, const HttpHeadLimits& limits,
                               HttpRequestHead* head) {
  *head = HttpRequestHead();
  // Empty lines before the request line (a client's CRLF after a body).
  size_t start = 0;
  while (start < data.size() && (data[start] == '\r' || data[start] == '\n')) {
    if (data[start] == '\r' && (start + 1 >= data.size() || data[start + 1] != '\n')) break;
    start += data[start] == '\r' ? 2 : 1;
    if (start > 64) return Error(400, "too many empty lines before the request line");
  }
  // The head ends at the first empty line.
  size_t end = absl::string_view::npos;  // index just past the empty line
  for (size_t i = data.find('\n', start); i != absl::string_view::npos;
       i = data.find('\n', i + 1)) {
    if (i + 1 < data.size() && data[i + 1] == '\n') {
      end = i + 2;
      break;
    }
    if (i + 2 < data.size() && data[i + 1] == '\r' && data[i + 2] == '\n') {
      end = i + 3;
      break;
    }
    if (i - start > limits.max_head_bytes) break;
  }
  if (end == absl::string_view::npos || end - start > limits.max_head_bytes) {
    if (data.size() - start > limits.max_head_bytes) {
      return Error(431, absl::StrCat("the request head is over the limit of ",
                                     limits.max_head_bytes, " bytes"));
    }
    HttpHeadParse more;
    more.result = Result::kIncomplete;
    return more;
  }

  std::vector<absl::string_view> lines = absl::StrSplit(data.substr(start, end - start), '\n');
  // The last two entries are the empty line and what follows its LF ("").
  lines.resize(lines.size() - 2);
  HttpHeadParse line = ParseRequestLine(StripCr(lines[0]), head);
  if (line.result == Result::kError) return line;

  bool has_length = false;
  for (size_t i = 1; i < lines.size(); ++i) {
    const absl::string_view field = StripCr(lines[i]);
    if (field.empty()) continue;  // cannot happen: the head ends there
    if (field.front() == ' ' || field.front() == '\t') {
      return Error(400, "folded header lines (obs-fold) are not accepted");
    }
    const size_t colon = field.find(':');
    if (colon == absl::string_view::npos || !IsToken(field.substr(0, colon))) {
      return Error(400, absl::StrCat("malformed header line ", Quote(field)));
    }
    const absl::string_view value = absl::StripAsciiWhitespace(field.substr(colon + 1));
    for (char c : value) {
      const unsigned char u = static_cast<unsigned char>(c);
      if ((u < 0x20 && c != '\t') || u == 0x7f) {
        return Error(400,
                     absl::StrCat("control character in header ", Quote(field.substr(0, colon))));
      }
    }
    if (static_cast<int>(head->headers.size()) >= limits.max_headers) {
      return Error(431, absl::StrCat("more than ", limits.max_headers, " header fields"));
    }
    head->headers.emplace_back(absl::AsciiStrToLower(field.substr(0, colon)), std::string(value));
  }

  bool close = false, keep_alive = false;
  for (const auto& [name, value] : head->headers) {
    if (name == "content-length") {
      int64_t n = 0;
      if (!ParseLength(value, &n)) {
        return Error(400, absl::StrCat("bad Content-Length ", Quote(value)));
      }
      if (has_length && n != head->content_length) {
        return Error(400, "several different Content-Length values");
      }
      has_length = true;
      head->content_length = n;
    } else if (name == "transfer-encoding") {
      if (!absl::EqualsIgnoreCase(value, "chunked")) {
        return Error(501, absl::StrCat("Transfer-Encoding ", Quote(value),
                                       " is not supported (only chunked)"));
      }
      if (head->chunked) return Error(400, "Transfer-Encoding given twice");
      head->chunked = true;
    } else if (name == "connection") {
      for (absl::string_view token : absl::StrSplit(value, ',')) {
        token = absl::StripAsciiWhitespace(token);
        if (absl::EqualsIgnoreCase(token, "close")) close = true;
        if (absl::EqualsIgnoreCase(token, "keep-alive")) keep_alive = true;
      }
    } else if (name == "expect") {
      if (absl::EqualsIgnoreCase(value, "100-continue")) head->expect_continue = true;
    }
  }
  if (head->chunked && has_length) {
    return Error(400, "both Content-Length and Transfer-Encoding");
  }
  if (head->chunked && head->minor_version == 0) {
    return Error(400, "Transfer-Encoding in an HTTP/1.0 request");
  }
  head->keep_alive = !close && (head->minor_version >= 1 || keep_alive);
  HttpHeadParse done;
  done.result = Result::kComplete;
  done.size = end;
  return done;
}

absl::StatusOr<size_t> ChunkedDecoder::Feed(absl::string_view in, std::string* body) {
  constexpr size_t kMaxLine = 4096;  // a size line with extensions
  constexpr size_t kMaxTrailer = 16 * 1024;
  if (state_ == State::kFailed) {
    return absl::FailedPreconditionError("the chunked body was malformed");
  }
  size_t pos = 0;
  while (pos < in.size() && state_ != State::kDone && state_ != State::kFailed) {
    if (state_ == State::kData) {
      const size_t take =
          static_cast<size_t>(std::min<int64_t>(remaining_, static_cast<int64_t>(in.size() - pos)));
      body->append(in.data() + pos, take);
      pos += take;
      remaining_ -= static_cast<int64_t>(take);
      if (remaining_ == 0) state_ = State::kDataEnd;
      continue;
    }
    // A line: up to its LF.
    const size_t lf = in.find('\n', pos);
    const size_t stop = lf == absl::string_view::npos ? in.size() : lf;
    line_.append(in.data() + pos, stop - pos);
    if (state_ == State::kTrailer) trailer_bytes_ += stop - pos + 1;
    pos = lf == absl::string_view::npos ? in.size() : lf + 1;
    const bool data_end = state_ == State::kDataEnd;
    if (line_.size() > (data_end ? 1 : kMaxLine) || trailer_bytes_ > kMaxTrailer) {
      state_ = State::kFailed;
      return absl::InvalidArgumentError(data_end ? "chunk data longer than its size"
                                                 : "chunked body: line too long");
    }
    if (lf == absl::string_view::npos) break;
    absl::Status s = Line(StripCr(line_));
    line_.clear();
    if (!s.ok()) {
      state_ = State::kFailed;
      return s;
    }
  }
  return pos;
}

absl::Status ChunkedDecoder::Line(absl::string_view line) {
  switch (state_) {
    case State::kSizeLine: {
      size_t i = 0;
      int64_t size = 0;
      while (i < line.size() && HexDigit(line[i]) >= 0) {
        if (i >= 15) return absl::InvalidArgumentError("chunk size too large");
        size = size * 16 + HexDigit(line[i]);
        ++i;
      }
      if (i == 0) {
        return absl::InvalidArgumentError(absl::StrCat("bad chunk size line ", Quote(line)));
      }
      absl::string_view rest = absl::StripLeadingAsciiWhitespace(line.substr(i));
      if (!rest.empty() && rest.front() != ';') {
        return absl::InvalidArgumentError(absl::StrCat("bad chunk size line ", Quote(line)));
      }
      if (size == 0) {
        state_ = State::kTrailer;
        return absl::OkStatus();
      }
      if (decoded_ + size > max_body_) {
        return absl::ResourceExhaustedError(
            absl::StrCat("request body is over the limit of ", max_body_, " bytes"));
      }
      decoded_ += size;
      remaining_ = size;
      state_ = State::kData;
      return absl::OkStatus();
    }
    case State::kDataEnd:
      if (!line.empty()) return absl::InvalidArgumentError("chunk data longer than its size");
      state_ = State::kSizeLine;
      return absl::OkStatus();
    case State::kTrailer:
      if (line.empty()) state_ = State::kDone;
      return absl::OkStatus();
    case State::kData:
    case State::kDone:
    case State::kFailed:
      break;
  }
  return absl::OkStatus();
}

std::string FormatReplyHead(int status, absl::string_view content_type, size_t content_length,
                            absl::string_view extra_headers, bool close) {
  return absl::StrCat("HTTP/1.1 ", status, " ", HttpReason(status),
                      "\r\nContent-Type: ", content_type, "\r\nContent-Length: ", content_length,
                      "\r\nCache-Control: no-store\r\n", close ? "Connection: close\r\n" : "",
                      extra_headers, "\r\n");
}

}  // namespace image2song
