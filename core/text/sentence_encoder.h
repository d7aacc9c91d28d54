// Sentence vectors from the Universal Sentence Encoder lite: the TorchScript
// module written by tools/assets/convert_use.py (use_lite.pt: int64 piece ids
// [B, T] padded with -1 -> float32 [B, 512] unit vectors) and its SentencePiece
// vocabulary (use_vocab.txt). Vectors match the model's JavaScript library
// (@energetic-ai/embeddings 0.2.0) to ~1e-6 per value (see
// tests/models/test_sentence_encoder_parity.cc). sentence_encoder.cc is the
// only file of core/text that includes LibTorch.
//
// Thread-safety: immutable after Create(); Encode() and EncodeIds() are safe
// to call concurrently (each call runs its own forward passes, on LibTorch's
// intra-op threads: SetTorchThreads in core/models/image_model.h).
#ifndef IMAGE2SONG_CORE_TEXT_SENTENCE_ENCODER_H_
#define IMAGE2SONG_CORE_TEXT_SENTENCE_ENCODER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/text/sentencepiece.h"

namespace image2song {

struct SentenceEncoderOptions {
  // TorchScript file (use_lite.pt). Required.
  std::string model_path;
  // Vocabulary file (use_vocab.txt). Required.
  std::string vocab_path;
  // Most sentences in one forward pass; larger calls are split. Sentences
  // are grouped by token count first, so a pass pads little. Default: 64.
  int max_batch = 64;
  // Forward passes at load (the profiling executor settles on the second).
  // Default: 2.
  int warmup_runs = 2;
};

class SentenceEncoder {
 public:
  static absl::StatusOr<std::unique_ptr<SentenceEncoder>> Create(
      const SentenceEncoderOptions& options);
  ~SentenceEncoder();

  // Vector size (512).
  int dim() const { return dim_; }
  // Tokens beyond this many per sentence are ignored, as the model does (128).
  int max_tokens() const { return max_tokens_; }
  const SentencePieceTokenizer& tokenizer() const { return *tokenizer_; }

  // One unit vector per sentence, row-major: sentences.size() * dim() floats.
  // A sentence without tokens (empty) gets the model's vector for no tokens.
  absl::StatusOr<std::vector<float>> Encode(const std::vector<std::string>& sentences) const;
  // The same from piece ids (each id in [0, tokenizer().size())); writes
  // ids.size() * dim() floats to `out`.
  absl::Status EncodeIds(const std::vector<std::vector<int32_t>>& ids, float* out) const;

 private:
  struct Model;  // the TorchScript module (keeps LibTorch out of this header)
  SentenceEncoder() = default;
  absl::Status Forward(const std::vector<const std::vector<int32_t>*>& rows, float* out) const;

  std::unique_ptr<SentencePieceTokenizer> tokenizer_;
  std::unique_ptr<Model> model_;
  int dim_ = 0;
  int max_tokens_ = 0;
  int max_batch_ = 64;
};

}  // namespace image2song

#endif  // IMAGE2SONG_CORE_TEXT_SENTENCE_ENCODER_H_
