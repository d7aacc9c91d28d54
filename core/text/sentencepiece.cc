#include "core/text/sentencepiece.h"

#include <unicode/normalizer2.h>
#include <unicode/unistr.h>
#include <unicode/utf16.h>

#include <algorithm>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "util/file_util.h"
#include "util/status_macros.h"

namespace image2song {
namespace {

constexpr char32_t kSeparator = 0x2581;  // "▁"
constexpr absl::string_view kHeader = "# i2s-sentencepiece-vocab 1";

// Strict UTF-8 -> code points (vocabulary pieces); false on malformed input.
bool DecodeUtf8(absl::string_view s, std::u32string* out) {
  out->clear();
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    int n = 0;
    char32_t c = 0;
    if (b < 0x80) {
      n = 1, c = b;
    } else if ((b & 0xE0) == 0xC0) {
      n = 2, c = b & 0x1F;
    } else if ((b & 0xF0) == 0xE0) {
      n = 3, c = b & 0x0F;
    } else if ((b & 0xF8) == 0xF0) {
      n = 4, c = b & 0x07;
    } else {
      return false;
    }
    if (i + n > s.size()) return false;
    for (int k = 1; k < n; ++k) {
      const auto t = static_cast<unsigned char>(s[i + k]);
      if ((t & 0xC0) != 0x80) return false;
      c = (c << 6) | (t & 0x3F);
    }
    static constexpr char32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < kMin[n] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return false;
    out->push_back(c);
    i += n;
  }
  return true;
}

void AppendUtf8(char32_t c, std::string* out) {
  if (c >= 0xD800 && c <= 0xDFFF) c = 0xFFFD;  // a lone surrogate (not in UTF-8)
  if (c < 0x80) {
    out->push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (c >> 6)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (c >> 12)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (c >> 18)));
    out->push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

// The library's processInput(): NFKC, then "▁" in front and for each space,
// as code points (JavaScript's for...of: a lone surrogate is one symbol).
std::u32string Symbols(absl::string_view text) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* nfkc = icu::Normalizer2::getNFKCInstance(status);
  icu::UnicodeString src = icu::UnicodeString::fromUTF8(
      icu::StringPiece(text.data(), static_cast<int32_t>(text.size())));
  icu::UnicodeString norm;
  if (U_SUCCESS(status)) norm = nfkc->normalize(src, status);
  if (U_FAILURE(status)) norm = src;  // ICU data missing: cannot happen with libicu
  std::u32string out;
  if (norm.isEmpty()) return out;
  out.reserve(norm.length() + 1);
  out.push_back(kSeparator);
  for (int32_t i = 0; i < norm.length();) {
    const UChar32 c = norm.char32At(i);
    out.push_back(c == 0x20 ? kSeparator : static_cast<char32_t>(c));
    i += U16_LENGTH(c);
  }
  return out;
}

}  // namespace

std::string SentencePieceTokenizer::Normalize(absl::string_view text) {
  std::string out;
  for (char32_t c : Symbols(text)) AppendUtf8(c, &out);
  return out;
}

absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> SentencePieceTokenizer::Load(
    const std::string& path) {
  ASSIGN_OR_RETURN(std::string data, ReadFile(path, int64_t{64} << 20));
  std::vector<Piece> pieces;
  bool header = false;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(data, '\n')) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line_no == 1) {
      header = line == kHeader;
      if (!header) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": not a vocabulary file (first line must be '", kHeader, "')"));
      }
      continue;
    }
    if (line.empty() || line[0] == '#') continue;
    const size_t tab = line.find('\t');
    Piece p;
    if (tab == absl::string_view::npos || !absl::SimpleAtod(line.substr(0, tab), &p.score)) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", line_no, ": expected score<TAB>piece"));
    }
    p.text = std::string(line.substr(tab + 1));
    pieces.push_back(std::move(p));
  }
  auto tokenizer = FromPieces(std::move(pieces));
  if (!tokenizer.ok()) return WithContext(path, tokenizer.status());
  return tokenizer;
}

absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> SentencePieceTokenizer::FromPieces(
    std::vector<Piece> pieces, int reserved) {
  std::unique_ptr<SentencePieceTokenizer> t(new SentencePieceTokenizer());
  t->pieces_ = std::move(pieces);
  RETURN_IF_ERROR(t->Build(reserved));
  return t;
}

absl::Status SentencePieceTokenizer::Build(int reserved) {
  if (pieces_.empty() || reserved < 1 || static_cast<size_t>(reserved) > pieces_.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("vocabulary of ", pieces_.size(), " pieces with ", reserved, " reserved ids"));
  }
  if (pieces_.size() > (size_t{1} << 30)) {
    return absl::InvalidArgumentError("vocabulary too large");
  }
  nodes_.assign(1, Node());
  children_.clear();
  utf16_length_.assign(pieces_.size(), 0);
  std::u32string cps;
  for (size_t id = 0; id < pieces_.size(); ++id) {
    const Piece& p = pieces_[id];
    if (p.text.empty() || !DecodeUtf8(p.text, &cps)) {
      return absl::InvalidArgumentError(
          absl::StrCat("piece ", id, " is ", p.text.empty() ? "empty" : "not UTF-8"));
    }
    int32_t len16 = 0;
    for (char32_t c : cps) len16 += c > 0xFFFF ? 2 : 1;
    utf16_length_[id] = len16;
    if (static_cast<int>(id) < reserved) continue;
    int32_t node = 0;
    for (char32_t c : cps) {
      const uint64_t key = (uint64_t(node) << 21) | c;
      auto it = children_.find(key);
      if (it == children_.end()) {
        nodes_.emplace_back();
        it = children_.emplace(key, static_cast<int32_t>(nodes_.size() - 1)).first;
      }
      node = it->second;
    }
    nodes_[node].id = static_cast<int32_t>(id);  // a later duplicate wins
    nodes_[node].score = p.score;
  }
  return absl::OkStatus();
}

int32_t SentencePieceTokenizer::Child(int32_t node, char32_t c) const {
  auto it = children_.find((uint64_t(node) << 21) | c);
  return it == children_.end() ? -1 : it->second;
}

std::vector<int32_t> SentencePieceTokenizer::Encode(absl::string_view text) const {
  const std::u32string s = Symbols(text);
  const int n = static_cast<int>(s.size());
  std::vector<int32_t> out;
  if (n == 0) return out;

  // Arcs (start, end, score, id) in the library's order: start ascending,
  // then length ascending; bucketed by end, keeping that order.
  struct Arc {
    int start, end;
    double score;
    int32_t id;
  };
  std::vector<Arc> arcs;
  arcs.reserve(size_t(n) * 3);
  for (int i = 0; i < n; ++i) {
    const size_t before = arcs.size();
    int32_t node = 0;
    for (int j = i; j < n; ++j) {
      node = Child(node, s[j]);
      if (node < 0) break;
      if (nodes_[node].id >= 0) arcs.push_back({i, j + 1, nodes_[node].score, nodes_[node].id});
    }
    if (arcs.size() == before) arcs.push_back({i, i + 1, 0.0, kUnknownId});
  }
  std::vector<int> first(n + 2, 0);
  for (const Arc& a : arcs) ++first[a.end + 1];
  for (int e = 1; e <= n + 1; ++e) first[e] += first[e - 1];
  std::vector<const Arc*> by_end(arcs.size());
  {
    std::vector<int> fill(first.begin(), first.end() - 1);
    for (const Arc& a : arcs) by_end[fill[a.end]++] = &a;
  }

  std::vector<double> best(n + 1, 0.0);
  std::vector<int32_t> words(n + 1, kUnknownId);
  for (int e = 0; e <= n; ++e) {
    for (int k = first[e]; k < first[e + 1]; ++k) {
      const Arc& a = *by_end[k];
      const double score = a.score + best[a.start];
      if (best[e] == 0 || score >= best[e]) {
        best[e] = score;
        words[e] = a.id;
      }
    }
  }

  std::vector<int32_t> back;
  for (int it = n; it > 0; it -= utf16_length_[words[it]]) back.push_back(words[it]);
  out.reserve(back.size());
  bool previous_unknown = false;
  for (int32_t id : back) {
    if (!(previous_unknown && id == kUnknownId)) out.push_back(id);
    previous_unknown = id == kUnknownId;
  }
  std::reverse(out.begin(), out.end());
  return out;
}

}  // namespace image2song
