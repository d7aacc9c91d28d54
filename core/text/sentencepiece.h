// Scored-piece (SentencePiece unigram) segmentation, exactly as the
// Universal Sentence Encoder lite's JavaScript library tokenizes
// (@energetic-ai/embeddings 0.2.0 lib/tokenizer.ts, the same code as
// tfjs-models' universal-sentence-encoder):
//
//   1. NFKC-normalise the text (no lowercasing: the vocabulary has cased
//      pieces such as "▁The"); a non-empty result gets U+2581 "▁" in front and
//      every U+0020 space replaced by "▁" (other whitespace stays as it is).
//   2. Viterbi over code points: every vocabulary piece that starts at a
//      position is an arc scored by the piece's score (log probability); a
//      position where no piece starts gets a one-code-point unknown arc (id 0,
//      score 0). For each end position, arcs are taken by start position,
//      ascending, and one replaces the best when the best is still exactly 0
//      or its total is >= the best (the library's rule, ties to the later
//      start; a best that sums to exactly 0 is replaced too).
//   3. Back from the end, each step moves back by the chosen piece's length in
//      UTF-16 code units (the library's string length); consecutive unknowns
//      merge into one id 0.
//
// Reserved ids (0 unknown, 1 <s>, 2 </s>, 3..5 extra) are not matched; when
// a piece appears twice the later id wins (the library's trie overwrites).
// Input is UTF-8; invalid bytes become U+FFFD before normalisation.
//
// The vocabulary file (use_vocab.txt, written by tools/assets/convert_use.py):
// UTF-8 lines; '#' lines are comments, the first must be
// "# i2s-sentencepiece-vocab 1"; then one line per id in id order,
// "score<TAB>piece", the score a decimal that parses to the library's double.
//
// Thread-safety: immutable after creation; Encode() is safe to call
// concurrently.
#ifndef IMAGE2SONG_CORE_TEXT_SENTENCEPIECE_H_
#define IMAGE2SONG_CORE_TEXT_SENTENCEPIECE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace image2song {

class SentencePieceTokenizer {
 public:
  static constexpr int32_t kUnknownId = 0;
  // Ids below this are reserved (not matched). Default of the library: 6.
  static constexpr int kDefaultReserved = 6;

  struct Piece {
    std::string text;  // UTF-8, non-empty
    double score = 0;
  };

  // Reads a vocabulary file (format above).
  static absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> Load(const std::string& path);
  // From pieces in id order (tests, tools). Piece 0 is the unknown piece.
  static absl::StatusOr<std::unique_ptr<SentencePieceTokenizer>> FromPieces(
      std::vector<Piece> pieces, int reserved = kDefaultReserved);

  // Piece ids of `text`; empty for a text that normalises to nothing.
  std::vector<int32_t> Encode(absl::string_view text) const;

  // NFKC, then "▁" in front and for each space: the string the Viterbi
  // segments (UTF-8). Empty when the normalised text is empty.
  static std::string Normalize(absl::string_view text);

  int32_t size() const { return static_cast<int32_t>(pieces_.size()); }
  const Piece& piece(int32_t id) const { return pieces_[id]; }

 private:
  struct Node {
    int32_t id = -1;  // piece ending here, or -1
    double score = 0;
  };
  SentencePieceTokenizer() = default;
  absl::Status Build(int reserved);
  int32_t Child(int32_t node, char32_t c) const;

  std::vector<Piece> pieces_;
  std::vector<int32_t> utf16_length_;  // per id: the library's piece length
  std::vector<Node> nodes_;            // trie; node 0 is the root
  // (node << 21 | code point) -> child node
  absl::flat_hash_map<uint64_t, int32_t> children_;
};

}  // namespace image2song

#endif  // IMAGE2SONG_CORE_TEXT_SENTENCEPIECE_H_
