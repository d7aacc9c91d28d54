// Dynamic batching for an ImageModel: concurrent Run() calls wait in a
// bounded queue and one executor thread runs them as one forward pass (up to
// max_batch images, waiting at most max_delay for the batch to fill), then
// hands each caller its rows of every output. Like Triton's dynamic batcher,
// but inside the process and for one model.
//
// Batching changes results only within the tolerance checked at creation:
// Create() runs two reference images separately and as one batch and keeps
// the plain model (with a log line) when a model cannot batch (fixed batch
// dimension, outputs not batch-major, or different numbers).
//
// Thread-safety: Run() may be called from any number of threads.
#ifndef IMAGE2SONG_CORE_MODELS_BATCHING_MODEL_H_
#define IMAGE2SONG_CORE_MODELS_BATCHING_MODEL_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/models/image_model.h"

namespace image2song {

struct BatchingOptions {
  // Shown in log lines and errors. Required.
  std::string name;
  // Input size of the model (for the reference images). Required.
  int input_width = 0;
  int input_height = 0;
  // Most images (rows) in one forward pass. A single call with more rows
  // runs alone. Default: 8.
  int max_batch = 8;
  // How long the first call of a batch waits for more. Default: 2 ms.
  int64_t max_delay_us = 2000;
  // Most images waiting; a call that would exceed it fails with
  // RESOURCE_EXHAUSTED at once. Default: 64.
  int max_queue = 64;
  // Largest |batched - single| / max|single| per output accepted by the
  // creation check. Default: 1e-3.
  float tolerance = 1e-3f;
  // Told after every forward pass: images in it, calls in it, and how long
  // its oldest call waited in the queue (seconds). Optional; runs on the
  // executor thread.
  std::function<void(int images, int calls, double wait_seconds)> on_batch;
  // Runs first on the executor thread (e.g. to set LibTorch's thread count
  // there). Optional.
  std::function<void()> on_thread_start;
};

// Returns `model` wrapped in a batcher, or `model` itself when it fails the
// batching check (logged with the reason). Fails only on bad options.
absl::StatusOr<std::unique_ptr<ImageModel>> MakeBatchingModel(std::unique_ptr<ImageModel> model,
                                                              const BatchingOptions& options);

// True when `model` came back wrapped from MakeBatchingModel.
bool IsBatching(const ImageModel& model);

}  // namespace image2song

#endif  // IMAGE2SONG_CORE_MODELS_BATCHING_MODEL_H_
