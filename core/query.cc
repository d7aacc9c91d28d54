#include "core/query.h"

namespace image2song {

bool BuildQuery(const std::vector<Tag>& tags, const WordVectors& words,
                const CommonComponent& common, std::vector<float>* query,
                std::vector<std::vector<float>>* tag_vectors, float cooccurrence_weight) {
  const int dim = words.dim();
  query->assign(dim, 0.0f);
  tag_vectors->assign(tags.size(), std::vector<float>(dim, 0.0f));
  bool any = false;
  for (size_t i = 0; i < tags.size(); ++i) {
    std::vector<float>& tv = (*tag_vectors)[i];
    bool known = false;
    const std::vector<std::string>& tw = tags[i].words;
    for (size_t k = 0; k < tw.size(); ++k) {
      int32_t id = words.Find(tw[k]);
      if (id == WordVectors::kNoWord) continue;
      known = true;
      // Expansion words (past core_words) count half.
      const float ww = tags[i].core_words >= 0 && int(k) >= tags[i].core_words ? 0.5f : 1.0f;
      const float* u = words.UnitVector(id);
      for (int d = 0; d < dim; ++d) tv[d] += ww * u[d];
    }
    if (!known) continue;
    if (cooccurrence_weight > 0) {
      for (const std::string& word : tags[i].cooccurring_words) {
        const int32_t id = words.Find(word);
        if (id == WordVectors::kNoWord) continue;
        const float* u = words.UnitVector(id);
        for (int d = 0; d < dim; ++d) tv[d] += cooccurrence_weight * u[d];
      }
    }
    any = true;
    Normalize(tv.data(), dim);
    float w = tags[i].score * tags[i].weight;
    for (int d = 0; d < dim; ++d) (*query)[d] += w * tv[d];
  }
  if (!any) return false;
  Normalize(query->data(), dim);
  common.Apply(query->data(), dim);
  return true;
}

}  // namespace image2song
