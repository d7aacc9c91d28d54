#include "core/models/model_set.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/models/model_manifest.h"
#include "core/models/taggers.h"
#include "util/log.h"
#include "util/spare_threads.h"
#include "util/status_macros.h"

namespace image2song {

namespace {

// A tagger's Run, with any exception from a library (OpenCV, LibTorch) as an
// INTERNAL status: on a tagger thread an escaped exception would terminate
// the process.
absl::StatusOr<ImageTags> RunTagger(const Tagger& tagger, const RgbImage& image,
                                    ImageFacts& facts) {
  try {
    return tagger.Run(image, facts);
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("tagger ", tagger.info().name, " failed on a ",
                                            image.width, "x", image.height, " image: ", e.what()));
  }
}

// A 640x480 picture with gradients and texture, for warm-up passes.
RgbImage WarmUpImage() {
  RgbImage image;
  image.width = 640;
  image.height = 480;
  image.pixels.resize(size_t(640) * 480 * 3);
  for (int y = 0; y < 480; ++y) {
    for (int x = 0; x < 640; ++x) {
      uint8_t* p = &image.pixels[(size_t(y) * 640 + x) * 3];
      p[0] = uint8_t(x * 255 / 639);
      p[1] = uint8_t(y * 255 / 479);
      p[2] = uint8_t(((x / 8) ^ (y / 8)) & 1 ? 200 : 40);
    }
  }
  return image;
}

}  // namespace

ModelSet::ModelSet(std::unique_ptr<WordVectors> words, std::vector<std::unique_ptr<Tagger>> taggers,
                   bool parallel_taggers, std::function<void()> on_thread_start, int tagger_threads)
    : words_(std::move(words)), taggers_(std::move(taggers)) {
  std::vector<std::string> parts;
  int with_model = 0;
  for (const auto& t : taggers_) {
    parts.push_back(absl::StrCat(t->info().name, "@", t->info().version));
    if (t->info().execution != "none" && !t->info().gate.gated) ++with_model;
    if (t->info().kind == "cues") needs_colour_ = true;
  }
  version_ = absl::StrJoin(parts, ",");
  for (const auto& t : taggers_) working_size_ = std::max(working_size_, t->working_size());
  if (parallel_taggers && tagger_threads > 0) {
    // Each thread runs twice every model tagger that can be handed to it
    // (all but the manifest's first model tagger, which always runs on the
    // caller) before it takes work, so a request never pays a model's first
    // passes on a new thread. With one model tagger the threads compute the
    // colour features beside its forward pass while a core is free.
    auto warm_up = [this] {
      const RgbImage image = WarmUpImage();
      bool first_model = true;
      for (const auto& t : taggers_) {
        // Gated taggers always run on the caller's thread.
        if (t->info().execution == "none" || t->info().gate.gated) continue;
        if (first_model) {
          first_model = false;
          continue;
        }
        for (int i = 0; i < 2; ++i) {
          ImageFacts facts(image);
          (void)RunTagger(*t, image, facts);
        }
      }
    };
    const auto start = std::chrono::steady_clock::now();
    threads_ = std::make_unique<SpareThreads>(tagger_threads, on_thread_start, warm_up);
    I2S_LOG(INFO) << "parallel taggers: " << tagger_threads << " tagger threads on "
                  << threads_->cores() << " cores, warmed in "
                  << std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::steady_clock::now() - start)
                         .count()
                  << " ms";
  }
}

ModelSet::~ModelSet() = default;

absl::StatusOr<std::unique_ptr<ModelSet>> ModelSet::Load(const ModelSetOptions& options) {
  ASSIGN_OR_RETURN(ModelManifest manifest, ReadModelManifest(options.manifest_path));
  ASSIGN_OR_RETURN(auto words, LoadManifestWordVectors(manifest));
  std::vector<std::unique_ptr<Tagger>> taggers;
  std::vector<std::string> labels;  // of the label files, for the phrase vectors
  if (!options.words_only) {
    if (manifest.taggers.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("model manifest ", manifest.path, " lists no taggers"));
    }
    for (TaggerSpec& spec : manifest.taggers) {
      if (!spec.labels.empty() && !manifest.sentence_encoder.model_path.empty() &&
          options.sentence_encoder) {
        ASSIGN_OR_RETURN(std::vector<LabelEntry> entries, LoadLabelFile(spec.labels));
        for (const LabelEntry& e : entries) labels.push_back(e.label);
      }
      ASSIGN_OR_RETURN(auto tagger,
                       MakeTagger(std::move(spec), *words, manifest.expand_words, options));
      taggers.push_back(std::move(tagger));
    }
  }
  auto set =
      std::make_unique<ModelSet>(std::move(words), std::move(taggers), options.parallel_taggers,
                                 options.on_thread_start, options.tagger_threads);
  set->set_calibration(manifest.query);
  if (!options.words_only && options.sentence_encoder &&
      !manifest.sentence_encoder.model_path.empty()) {
    const auto start = std::chrono::steady_clock::now();
    auto phrases = TagPhrases::Load(manifest.sentence_encoder, labels);
    if (!phrases.ok()) return WithContext("sentence encoder", phrases.status());
    I2S_LOG(INFO) << "sentence encoder " << manifest.sentence_encoder.id << ": "
                  << (*phrases)->cached() << " label phrases embedded in "
                  << std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::steady_clock::now() - start)
                         .count()
                  << " ms";
    set->set_phrases(std::move(*phrases));
  }
  if (!options.words_only && !manifest.mood.file.empty()) {
    auto mood = ReadImageMoodModel(manifest.mood.file);
    if (!mood.ok()) return WithContext("image mood", mood.status());
    I2S_LOG(INFO) << "image mood model " << manifest.mood.file << ": " << mood->lexicon.size()
                  << " lexicon entries";
    set->set_mood(std::make_shared<const ImageMoodModel>(std::move(*mood)));
    set->set_mood_weights(manifest.mood.weight, manifest.mood.request_weight);
  }
  if (!manifest.query.identity()) {
    I2S_LOG(INFO) << "query calibration: score_power " << manifest.query.score_power << ", damping "
                  << manifest.query.damping;
  }
  return set;
}

absl::StatusOr<ImageTags> ModelSet::TagImage(const RgbImage& image) const {
  ImageFacts facts(image);
  std::vector<const Tagger*> run;
  int with_model = 0;
  for (const auto& tagger : taggers_) {
    if (tagger->info().max_backdrop < 1 && facts.backdrop_share() > tagger->info().max_backdrop) {
      continue;
    }
    run.push_back(tagger.get());
    if (tagger->info().execution != "none" && !tagger->info().gate.gated) ++with_model;
  }
  // With parallel_taggers, every ungated model tagger but the first goes to
  // a tagger thread; the rest run here. Gated taggers run after all of them,
  // here, in the manifest's order (TaggerGate). Results keep the manifest's
  // order.
  std::vector<bool> on_thread(run.size(), false);
  if (threads_ != nullptr && with_model > 1) {
    bool first_model = true;
    for (size_t i = 0; i < run.size(); ++i) {
      if (run[i]->info().execution == "none" || run[i]->info().gate.gated) continue;
      on_thread[i] = !first_model;
      first_model = false;
    }
  }
  std::vector<absl::StatusOr<ImageTags>> results(run.size(), ImageTags{});
  std::mutex mu;
  std::condition_variable done;
  int pending = 0;
  // The colour features beside the first model's forward pass: every tagger
  // reads them after its forward pass (ClassifierTagger's backdrop gate) or
  // has no model (cues), and ImageFacts computes them once.
  if (threads_ != nullptr && with_model > 0 && needs_colour_) {
    {
      std::lock_guard<std::mutex> lock(mu);
      ++pending;
    }
    const bool handed = threads_->TryRunOnSpareCore([&] {
      try {
        (void)facts.colour_features();
      } catch (const std::exception&) {
        // Computed again (and the error reported) by the tagger that reads them.
      }
      std::lock_guard<std::mutex> lock(mu);
      if (--pending == 0) done.notify_all();
    });
    if (!handed) {
      std::lock_guard<std::mutex> lock(mu);
      --pending;
    }
  }
  for (size_t i = 0; i < run.size(); ++i) {
    if (!on_thread[i]) continue;
    {
      std::lock_guard<std::mutex> lock(mu);
      ++pending;
    }
    const bool handed = threads_->TryRun([&, i] {
      absl::StatusOr<ImageTags> r = RunTagger(*run[i], image, facts);
      std::lock_guard<std::mutex> lock(mu);
      results[i] = std::move(r);
      if (--pending == 0) done.notify_all();
    });
    if (!handed) {  // every tagger thread is busy: run it here, after the rest
      on_thread[i] = false;
      std::lock_guard<std::mutex> lock(mu);
      --pending;
    }
  }
  for (size_t i = 0; i < run.size(); ++i) {
    if (!on_thread[i] && !run[i]->info().gate.gated) results[i] = RunTagger(*run[i], image, facts);
  }
  {
    std::unique_lock<std::mutex> lock(mu);
    done.wait(lock, [&] { return pending == 0; });
  }
  for (size_t i = 0; i < run.size(); ++i) {
    if (!run[i]->info().gate.gated) continue;
    std::vector<Tag> earlier;
    for (size_t j = 0; j < i; ++j) {
      if (!results[j].ok()) return results[j].status();
      earlier.insert(earlier.end(), results[j]->tags.begin(), results[j]->tags.end());
    }
    if (GateOpen(run[i]->info().gate, earlier)) results[i] = RunTagger(*run[i], image, facts);
  }
  // Forward passes on other threads overlap this thread's: the image spent
  // max(here, each thread's) in forward passes.
  ImageTags all;
  double here = 0, there = 0;
  for (size_t i = 0; i < run.size(); ++i) {
    if (!results[i].ok()) return results[i].status();
    if (on_thread[i]) {
      there = std::max(there, results[i]->forward_ms);
    } else {
      here += results[i]->forward_ms;
    }
    for (Tag& t : results[i]->tags) all.tags.push_back(std::move(t));
  }
  all.forward_ms = std::max(here, there);
  // Only the mood reads them (a set without cues would compute them for it).
  if (mood_ != nullptr) all.colour = facts.colour_features();
  CalibrateTags(calibration_, &all.tags);
  std::stable_sort(all.tags.begin(), all.tags.end(), [](const Tag& a, const Tag& b) {
    return a.score * a.weight > b.score * b.weight;
  });
  return all;
}

absl::StatusOr<ImageTags> ModelSet::TagImages(const std::vector<RgbImage>& images) const {
  if (images.size() == 1) return TagImage(images[0]);
  struct Seen {
    Tag best;
    std::vector<bool> in;  // per image
  };
  std::vector<Seen> seen;
  double forward_ms = 0;
  std::map<std::string, float> colour;  // summed
  for (size_t i = 0; i < images.size(); ++i) {
    ASSIGN_OR_RETURN(ImageTags tagged, TagImage(images[i]));
    forward_ms += tagged.forward_ms;
    for (const auto& [name, value] : tagged.colour) colour[name] += value;
    for (Tag& t : tagged.tags) {
      t.image_index = static_cast<int>(i);
      auto it = std::find_if(seen.begin(), seen.end(), [&](const Seen& s) {
        return s.best.source == t.source && s.best.label == t.label;
      });
      if (it == seen.end()) {
        seen.push_back(Seen{t, std::vector<bool>(images.size(), false)});
        it = seen.end() - 1;
      } else if (t.score * t.weight > it->best.score * it->best.weight) {
        it->best = t;
      }
      it->in[i] = true;
    }
  }
  ImageTags merged;
  merged.forward_ms = forward_ms;
  merged.colour = std::move(colour);
  for (auto& [name, value] : merged.colour) value /= images.size();
  const float n = static_cast<float>(images.size());
  for (Seen& s : seen) {
    s.best.image_count = static_cast<int>(std::count(s.in.begin(), s.in.end(), true));
    s.best.score *= 0.5f + 0.5f * s.best.image_count / n;
    merged.tags.push_back(std::move(s.best));
  }
  std::stable_sort(merged.tags.begin(), merged.tags.end(), [](const Tag& a, const Tag& b) {
    return a.score * a.weight > b.score * b.weight;
  });
  return merged;
}

void ModelSet::set_mood(std::shared_ptr<const ImageMoodModel> m) {
  mood_ = std::move(m);
  if (mood_ != nullptr) needs_colour_ = true;
  face_sources_.clear();
  for (const auto& t : taggers_) {
    if (t->info().kind == "faces") face_sources_.push_back(t->info().name);
  }
}

bool ModelSet::ImageMoodOf(const ImageTags& tagged, ImageMood* out) const {
  if (mood_ == nullptr) return false;
  *out = ComputeImageMood(*mood_, tagged.tags, tagged.colour, face_sources_);
  return true;
}

std::vector<Tag> ModelSet::TagText(absl::string_view text, float weight, int max_words) const {
  std::vector<std::string> tokens;
  Tokenize(text, &tokens);
  std::vector<Tag> tags;
  const int32_t stop = StopwordRank(*words_);
  for (const std::string& token : tokens) {
    if (int(tags.size()) >= max_words) break;
    int32_t id = words_->FindToken(token);
    if (id == WordVectors::kNoWord || id < stop) continue;
    std::string word(words_->Word(id));
    if (std::any_of(tags.begin(), tags.end(), [&](const Tag& t) { return t.label == word; })) {
      continue;
    }
    Tag t;
    t.label = word;
    t.score = 1;
    t.weight = weight;
    t.source = "text";
    t.role = TagRole::kText;
    t.words = {word};
    tags.push_back(std::move(t));
  }
  return tags;
}

DecodeOptions DecodeOptionsFor(const ModelSet& models, DecodeOptions base) {
  if (models.working_size() > 0) base.working_size = models.working_size();
  return base;
}

}  // namespace image2song
