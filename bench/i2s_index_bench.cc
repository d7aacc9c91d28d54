// i2s-index-bench: what a bundle costs when serving. Prints bundle size on
// disk, load time (with and without checksum verification), resident memory
// after loading, single-query search latency (top 200, as the recommender
// asks) without and with a 1 % filter, and recall@10 of the index against an
// exact scan; then the same for the lexical channel (BM25 over lexical.bin)
// and for the whole fused first stage as Recommend runs it (dense search,
// lexical search, reciprocal-rank fusion, cosines of the lexical-only songs).
// Queries are built the way Recommend builds them: tags with the words of
// random ImageNet labels (imagenet_words.tsv next to the models), embedded
// with the bundle's common-component transform (dense) and spread over their
// words (lexical, core/lexical_query.h).
//
//   i2s-index-bench --bundle=DIR [--queries=500] [--json]
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/bundle/bundle.h"
#include "core/bundle/embedder.h"
#include "core/index/fusion.h"
#include "core/lexical_query.h"
#include "core/models/label_words.h"
#include "core/models/model_manifest.h"
#include "core/query.h"
#include "core/recommender.h"
#include "util/cli.h"
#include "util/file_util.h"
#include "util/log.h"
#include "util/stats.h"

ABSL_FLAG(std::string, bundle, "", "Index bundle directory. Required.");
ABSL_FLAG(std::string, models, "",
          "Model manifest (for the word vectors and imagenet_words.tsv). "
          "Default: $I2S_CACHE/models/default/models.json.");
ABSL_FLAG(int, queries, 500, "Queries timed.");
ABSL_FLAG(int, recall_queries, 100,
          "Of them, checked for recall against an exact scan (a scan of 1M songs takes ~2 s; "
          "0: none).");
ABSL_FLAG(int, k, image2song::RecommendOptions().candidates,
          "Songs per query (the server's --candidates).");
ABSL_FLAG(int, ef_search, image2song::SongIndexOptions().ef_search, "As i2s-server --ef_search.");
ABSL_FLAG(int, ivf_nprobe, image2song::SongIndexOptions().ivf_nprobe,
          "As i2s-server --ivf_nprobe.");
ABSL_FLAG(int, refine_factor, image2song::SongIndexOptions().refine_factor,
          "As i2s-server --refine_factor.");
ABSL_FLAG(int64_t, lexical_max_postings, image2song::LexicalIndexOptions().max_postings,
          "As i2s-server --lexical_max_postings.");
ABSL_FLAG(float, lexical_min_term_share, image2song::LexicalIndexOptions().min_term_share,
          "As i2s-server --lexical_min_term_share.");
ABSL_FLAG(bool, json, false, "Print one JSON object instead of a table.");

namespace image2song {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

double Ms(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// Memory of this process from /proc/self/status, MiB: resident, of which
// anonymous (heap: the index) and file-backed (mapped bundle pages, which
// the kernel can reclaim), and the peak.
struct Rss {
  double total = 0, anon = 0, file = 0, peak = 0;
};
Rss RssMiB() {
  std::ifstream in("/proc/self/status");
  std::string line;
  Rss r;
  while (std::getline(in, line)) {
    long kb = 0;
    if (std::sscanf(line.c_str(), "VmRSS: %ld kB", &kb) == 1) r.total = kb / 1024.0;
    if (std::sscanf(line.c_str(), "RssAnon: %ld kB", &kb) == 1) r.anon = kb / 1024.0;
    if (std::sscanf(line.c_str(), "RssFile: %ld kB", &kb) == 1) r.file = kb / 1024.0;
    if (std::sscanf(line.c_str(), "VmHWM: %ld kB", &kb) == 1) r.peak = kb / 1024.0;
  }
  return r;
}

int Run() {
  const std::string dir = absl::GetFlag(FLAGS_bundle);
  if (dir.empty()) {
    std::cerr << "i2s-index-bench: --bundle is required\n";
    return 2;
  }
  const std::string models_path =
      absl::GetFlag(FLAGS_models).empty() ? DefaultModelsPath() : absl::GetFlag(FLAGS_models);
  auto loaded_words = LoadManifestWordVectors(models_path);
  if (!loaded_words.ok()) {
    std::cerr << "i2s-index-bench: " << loaded_words.status() << "\n";
    return 1;
  }
  const WordVectors& words = **loaded_words;

  // Query tags: words of random ImageNet labels, else frequent words.
  std::vector<std::vector<std::string>> label_words;
  {
    const std::string labels_path = JoinPath(ParentDir(models_path), "imagenet_words.tsv");
    if (auto labels = LoadLabelFile(labels_path); labels.ok()) {
      for (const LabelEntry& e : *labels) {
        if (!e.words.empty()) label_words.push_back(e.words);
      }
    }
    if (label_words.empty()) {
      for (int32_t i = 200; i < std::min<int32_t>(5000, words.size()); ++i) {
        label_words.push_back({std::string(words.Word(i))});
      }
    }
  }

  const Rss before = RssMiB();
  BundleLoadOptions fast;
  fast.verify_checksums = false;
  fast.index.ef_search = absl::GetFlag(FLAGS_ef_search);
  fast.index.ivf_nprobe = absl::GetFlag(FLAGS_ivf_nprobe);
  fast.index.refine_factor = absl::GetFlag(FLAGS_refine_factor);
  fast.lexical.max_postings = absl::GetFlag(FLAGS_lexical_max_postings);
  fast.lexical.min_term_share = absl::GetFlag(FLAGS_lexical_min_term_share);
  BundleLoadOptions verified = fast;
  verified.verify_checksums = true;
  auto start = Clock::now();
  auto bundle = Bundle::Load(dir, verified);
  const double load_verified_ms = Ms(start);
  if (!bundle.ok()) {
    std::cerr << "i2s-index-bench: " << bundle.status() << "\n";
    return 1;
  }
  bundle->reset();
  start = Clock::now();
  bundle = Bundle::Load(dir, fast);
  const double load_ms = Ms(start);
  if (!bundle.ok()) {
    std::cerr << "i2s-index-bench: " << bundle.status() << "\n";
    return 1;
  }
  const Rss loaded = RssMiB();
  const Bundle& b = **bundle;
  const int64_t n = b.size();
  int64_t disk = 0;
  for (const auto& [name, file] : b.manifest().files) disk += file.bytes;
  const int dim = b.manifest().dim;

  std::mt19937 rng(42);
  const int nq = absl::GetFlag(FLAGS_queries);
  const int k = absl::GetFlag(FLAGS_k);
  std::vector<std::vector<float>> queries;
  std::vector<LexicalQuery> lexical_queries;
  while (int(queries.size()) < nq) {
    std::vector<Tag> tags;
    const int nt = 1 + int(rng() % 4);
    for (int t = 0; t < nt; ++t) {
      Tag tag;
      tag.label = "q";
      tag.score = 0.2f + 0.8f * float(rng() % 1000) / 1000.0f;
      tag.words = label_words[rng() % label_words.size()];
      tags.push_back(std::move(tag));
    }
    std::vector<float> q;
    std::vector<std::vector<float>> tv;
    if (BuildQuery(tags, words, b.manifest().common, &q, &tv)) {
      queries.push_back(q);
      lexical_queries.push_back(BuildLexicalQuery(tags, words));
    }
  }
  // A 1 % filter: every 100th song.
  std::vector<uint8_t> one_percent((n + 7) / 8, 0);
  int64_t kept = 0;
  for (int64_t i = 0; i < n; i += 100) {
    one_percent[i >> 3] |= uint8_t(1u << (i & 7));
    ++kept;
  }

  // Warm up (page in the index), then time.
  for (int i = 0; i < std::min(nq, 20); ++i) (void)b.index().Search(queries[i].data(), k, nullptr);
  std::vector<double> lat, lat_filtered;
  std::vector<std::vector<ScoredId>> got(nq);
  for (int i = 0; i < nq; ++i) {
    start = Clock::now();
    auto r = b.index().Search(queries[i].data(), k, nullptr);
    lat.push_back(Ms(start));
    if (!r.ok()) {
      std::cerr << "i2s-index-bench: " << r.status() << "\n";
      return 1;
    }
    got[i] = std::move(*r);
  }
  int64_t filtered_short = 0;
  for (int i = 0; i < nq; ++i) {
    start = Clock::now();
    auto r = b.index().Search(queries[i].data(), k, &one_percent, kept);
    lat_filtered.push_back(Ms(start));
    if (r.ok() && int64_t(r->size()) < std::min<int64_t>(k, kept)) ++filtered_short;
  }
  const Rss serving = RssMiB();  // after the timed searches, before the scans
  // Recall@10 against an exact scan (of the first 100 queries: a scan of a
  // large bundle takes a while).
  const int nr = std::max(0, std::min(nq, absl::GetFlag(FLAGS_recall_queries)));
  double recall = 0;
  std::vector<double> lat_exact;
  for (int i = 0; i < nr; ++i) {
    start = Clock::now();
    std::vector<ScoredId> exact = b.index().SearchExact(queries[i].data(), 10);
    lat_exact.push_back(Ms(start));
    int hit = 0;
    for (const ScoredId& e : exact) {
      for (int j = 0; j < std::min<int>(10, int(got[i].size())); ++j) {
        hit += got[i][j].id == e.id;
      }
    }
    recall += exact.empty() ? 1.0 : double(hit) / exact.size();
  }
  recall = nr > 0 ? recall / nr : 0;

  // The lexical channel: the same tags as BM25 queries.
  const LexicalIndex& lex = b.lexical();
  const Rss before_lexical = RssMiB();
  for (int i = 0; i < std::min(nq, 20); ++i) (void)lex.Search(lexical_queries[i].terms, k, nullptr);
  std::vector<double> lat_lex, lat_lex_filtered, postings;
  int64_t lex_empty = 0, lex_not_allowed = 0, lex_filtered_hits = 0;
  double all_postings = 0, terms_searched = 0, terms_skipped = 0;
  for (int i = 0; i < nq; ++i) {
    for (const LexicalTerm& t : lexical_queries[i].terms) {
      all_postings += double(lex.DocumentFrequency(t.word)) / nq;
    }
    LexicalSearchStats stats;
    start = Clock::now();
    std::vector<ScoredId> r = lex.Search(lexical_queries[i].terms, k, nullptr, &stats);
    lat_lex.push_back(Ms(start));
    postings.push_back(double(stats.postings));
    terms_searched += double(stats.terms) / nq;
    terms_skipped += double(stats.skipped) / nq;
    lex_empty += r.empty();
  }
  for (int i = 0; i < nq; ++i) {
    start = Clock::now();
    std::vector<ScoredId> r = lex.Search(lexical_queries[i].terms, k, &one_percent);
    lat_lex_filtered.push_back(Ms(start));
    for (const ScoredId& h : r) lex_not_allowed += !(one_percent[h.id >> 3] & (1u << (h.id & 7)));
    lex_filtered_hits += int64_t(r.size());
  }
  const Rss after_lexical = RssMiB();

  // The fused first stage, as Recommend runs it.
  auto first_stage = [&](int i, const std::vector<uint8_t>* allowed, int64_t allowed_count) {
    auto dense = b.index().Search(queries[i].data(), k, allowed, allowed_count);
    std::vector<ScoredId> lexical = lex.Search(lexical_queries[i].terms, k, allowed);
    std::vector<FusedCandidate> fused = FuseReciprocalRank(
        dense.ok() ? *dense : std::vector<ScoredId>{}, lexical, RecommendOptions().fusion, k);
    std::vector<int64_t> lexical_only;
    for (const FusedCandidate& c : fused) {
      if (c.dense_rank == 0) lexical_only.push_back(c.id);
    }
    (void)b.index().Score(queries[i].data(), lexical_only);
    return lexical_only.size();
  };
  std::vector<double> lat_fused, lat_fused_filtered;
  double lexical_only_share = 0;
  for (int i = 0; i < nq; ++i) {
    start = Clock::now();
    const size_t only = first_stage(i, nullptr, -1);
    lat_fused.push_back(Ms(start));
    lexical_only_share += double(only) / k / nq;
  }
  for (int i = 0; i < nq; ++i) {
    start = Clock::now();
    (void)first_stage(i, &one_percent, kept);
    lat_fused_filtered.push_back(Ms(start));
  }
  // Opening lexical.bin alone (mapping + the full structure check).
  start = Clock::now();
  auto reopened = LexicalIndex::Open(JoinPath(dir, kLexicalIndexFile), n,
                                     b.manifest().vocabulary_size, LexicalIndexOptions{});
  const double lexical_load_ms = Ms(start);
  if (!reopened.ok()) {
    std::cerr << "i2s-index-bench: " << reopened.status() << "\n";
    return 1;
  }
  int64_t lexical_disk = 0;
  if (auto it = b.manifest().files.find(kLexicalIndexFile); it != b.manifest().files.end()) {
    lexical_disk = it->second.bytes;
  }

  json out = {
      {"bundle", dir},
      {"version", b.manifest().version},
      {"songs", n},
      {"dim", dim},
      {"index", b.index().Describe()},
      {"disk_mib", disk / 1048576.0},
      {"load_ms", load_ms},
      {"load_verified_ms", load_verified_ms},
      {"rss_before_bundle_mib", before.total},
      {"rss_loaded_mib", loaded.total},
      {"rss_serving_mib", serving.total},
      {"rss_serving_anon_mib", serving.anon},
      {"rss_serving_file_mib", serving.file},
      {"bundle_rss_serving_mib", serving.total - before.total},
      {"peak_rss_mib", serving.peak},
      {"k", k},
      {"queries", nq},
      {"search_p50_ms", Percentile(lat, 0.5)},
      {"search_p99_ms", Percentile(lat, 0.99)},
      {"filtered_1pct_p50_ms", Percentile(lat_filtered, 0.5)},
      {"filtered_1pct_p99_ms", Percentile(lat_filtered, 0.99)},
      {"filtered_1pct_short_results", filtered_short},
      {"exact_scan_p50_ms", Percentile(lat_exact, 0.5)},
      {"recall_at_10", recall},
      {"lexical_disk_mib", lexical_disk / 1048576.0},
      {"lexical_terms", lex.term_count()},
      {"lexical_load_ms", lexical_load_ms},
      {"lexical_postings_mib", lex.postings_bytes() / 1048576.0},
      {"lexical_rss_mib", after_lexical.total - before_lexical.total},
      {"lexical_rss_anon_mib", after_lexical.anon - before_lexical.anon},
      {"lexical_rss_file_mib", after_lexical.file - before_lexical.file},
      {"lexical_postings_per_query_mean", Mean(postings)},
      {"lexical_postings_of_the_query_words_mean", all_postings},
      {"lexical_terms_searched_mean", terms_searched},
      {"lexical_terms_skipped_mean", terms_skipped},
      {"lexical_postings_per_query_p99", Percentile(postings, 0.99)},
      {"lexical_queries_without_songs", lex_empty},
      {"lexical_p50_ms", Percentile(lat_lex, 0.5)},
      {"lexical_p99_ms", Percentile(lat_lex, 0.99)},
      {"lexical_filtered_1pct_p50_ms", Percentile(lat_lex_filtered, 0.5)},
      {"lexical_filtered_1pct_p99_ms", Percentile(lat_lex_filtered, 0.99)},
      {"lexical_filtered_1pct_songs_per_query", double(lex_filtered_hits) / nq},
      {"lexical_filtered_1pct_not_allowed", lex_not_allowed},
      {"fused_p50_ms", Percentile(lat_fused, 0.5)},
      {"fused_p99_ms", Percentile(lat_fused, 0.99)},
      {"fused_filtered_1pct_p50_ms", Percentile(lat_fused_filtered, 0.5)},
      {"fused_filtered_1pct_p99_ms", Percentile(lat_fused_filtered, 0.99)},
      {"fused_lexical_only_share", lexical_only_share},
  };
  if (absl::GetFlag(FLAGS_json)) {
    std::cout << out.dump(1) << "\n";
    return 0;
  }
  std::cout << absl::StrFormat(
      "bundle %s (%s): %d songs, %d-d, %s\n\n"
      "| measure | value |\n|---|---:|\n"
      "| size on disk | %.1f MiB |\n"
      "| load (no checksums / sha256 verified) | %.0f ms / %.0f ms |\n"
      "| resident memory after load / after the searches (process) | %.0f / %.0f MiB |\n"
      "| of which the bundle (heap + mapped pages) | %.0f MiB (%.0f + %.0f) |\n"
      "| search top %d, p50 / p99 | %.2f / %.2f ms |\n"
      "| search with a 1 %% filter, p50 / p99 (short results) | %.2f / %.2f ms (%d) |\n"
      "| exact scan, p50 | %.1f ms |\n"
      "| recall@10 vs exact (%d queries) | %.3f |\n"
      "| lexical.bin on disk (postings) | %.1f MiB (%.1f MiB, %d words) |\n"
      "| lexical.bin load (map + full check; part of the load above) | %.0f ms |\n"
      "| lexical: resident memory after its searches (heap + mapped pages) | %.0f MiB "
      "(%.0f + %.0f) |\n"
      "| lexical: words a query, searched / left out (mean) | %.1f / %.1f |\n"
      "| lexical: postings read a query, mean / p99 (of all its words' postings: %.0f) | %.0f / "
      "%.0f |\n"
      "| lexical search top %d, p50 / p99 | %.2f / %.2f ms |\n"
      "| lexical search with a 1 %% filter, p50 / p99 (songs a query, outside the filter) | "
      "%.2f / %.2f ms (%.1f, %d) |\n"
      "| fused first stage (dense + lexical + RRF + cosines), p50 / p99 | %.2f / %.2f ms |\n"
      "| fused first stage with a 1 %% filter, p50 / p99 | %.2f / %.2f ms |\n"
      "| fused candidates only the lexical channel found | %.1f %% |\n",
      dir, b.manifest().version, n, dim, b.index().Describe(), disk / 1048576.0, load_ms,
      load_verified_ms, loaded.total, serving.total, serving.total - before.total,
      serving.anon - before.anon, serving.file - before.file, k, Percentile(lat, 0.5),
      Percentile(lat, 0.99), Percentile(lat_filtered, 0.5), Percentile(lat_filtered, 0.99),
      filtered_short, Percentile(lat_exact, 0.5), nr, recall, lexical_disk / 1048576.0,
      lex.postings_bytes() / 1048576.0, lex.term_count(), lexical_load_ms,
      after_lexical.total - before_lexical.total, after_lexical.anon - before_lexical.anon,
      after_lexical.file - before_lexical.file, terms_searched, terms_skipped, all_postings,
      Mean(postings), Percentile(postings, 0.99), k, Percentile(lat_lex, 0.5),
      Percentile(lat_lex, 0.99), Percentile(lat_lex_filtered, 0.5),
      Percentile(lat_lex_filtered, 0.99), double(lex_filtered_hits) / nq, lex_not_allowed,
      Percentile(lat_fused, 0.5), Percentile(lat_fused, 0.99), Percentile(lat_fused_filtered, 0.5),
      Percentile(lat_fused_filtered, 0.99), 100 * lexical_only_share);
  return 0;
}

}  // namespace
}  // namespace image2song

int main(int argc, char** argv) {
  image2song::ParseCommandLineOrHelp(
      argc, argv,
      {"i2s-index-bench",
       "size, load time, memory, search latency and recall of an index "
       "bundle.\n\nusage: i2s-index-bench --bundle=DIR [flags]",
       "i2s_index_bench", "dev"});
  return image2song::Run();
}
