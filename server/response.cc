#include "server/response.h"

#include "absl/strings/str_join.h"
#include "core/bundle/bundle.h"
#include "core/models/model_set.h"

namespace image2song {
namespace {

namespace pb = ::image2song::v1;

void FillTag(const Tag& tag, pb::ImageTag* out) {
  out->set_label(tag.label);
  out->set_score(tag.score);
  out->set_source(tag.source);
  if (tag.has_box) {
    out->mutable_box()->set_x_min(tag.box.x0);
    out->mutable_box()->set_y_min(tag.box.y0);
    out->mutable_box()->set_x_max(tag.box.x1);
    out->mutable_box()->set_y_max(tag.box.y1);
  }
  for (const std::string& w : tag.words) out->add_words(w);
  out->set_image_index(tag.image_index);
  out->set_image_count(tag.image_count);
}

void FillLyricMood(const MoodRecord& r, pb::LyricMood* m) {
  m->set_valence(r.valence);
  m->set_arousal(r.arousal);
  m->set_impression(kImpressions[r.impression]);
  m->set_scored_words(r.scored_words);
}

void FillChannelWord(const ChannelWordInfo& w, pb::ChannelWord* out) {
  out->set_word(w.word);
  out->set_score(w.score);
  out->set_count(w.count);
  for (const std::string& t : w.tags) out->add_tags(t);
}

}  // namespace

void FillRecommendResponse(const Recommendation& rec, const Snapshot& snapshot, bool explain,
                           pb::RecommendResponse* response) {
  const Bundle& bundle = *snapshot.bundle;
  for (const Tag& tag : rec.tags) FillTag(tag, response->add_tags());
  int rank = 0;
  for (const SongScore& s : rec.songs) {
    const SongMeta& meta = bundle.song(s.song);
    pb::SongMatch* m = response->add_matches();
    m->set_song_id(meta.id);
    m->set_title(meta.title);
    m->set_artist(meta.artist);
    m->set_score(s.score);
    m->set_rank(++rank);
    if (explain) {
      pb::Explanation* e = m->mutable_explanation();
      e->set_retrieval_score(s.retrieval);
      e->set_attention_score(s.attention);
      for (const MatchedTagInfo& t : s.tags) {
        pb::MatchedTag* mt = e->add_matched_tags();
        mt->set_label(t.label);
        mt->set_weight(t.weight);
        mt->set_lyric_word(t.lyric_word);
      }
      e->set_dense_rank(s.dense_rank);
      e->set_lexical_rank(s.lexical_rank);
      e->set_lexical_score(s.lexical_score);
      for (const ChannelWordInfo& w : s.dense_words) FillChannelWord(w, e->add_dense_words());
      for (const ChannelWordInfo& w : s.lexical_words) FillChannelWord(w, e->add_lexical_words());
      for (const LineInfo& l : s.lines) {
        pb::LyricLine* ll = e->add_lines();
        ll->set_line_number(l.line);
        ll->set_text(l.text);
        ll->set_weight(l.weight);
        ll->set_sentence_similarity(l.sentence_similarity);
        ll->set_sentence_tag(l.sentence_tag);
      }
      if (s.has_lyric_mood) {
        pb::SongMoodMatch* mm = e->mutable_mood();
        FillLyricMood(s.lyric_mood, mm->mutable_lyric_mood());
        mm->set_agreement(s.mood_agreement);
        mm->set_score(s.mood_score);
      }
    }
  }
  if (rec.has_mood_target) {
    pb::MoodTarget* t = response->mutable_mood_target();
    t->set_source(rec.mood_target.source);
    t->set_word(rec.mood_target.word);
    t->set_valence(rec.mood_target.point.valence);
    t->set_arousal(rec.mood_target.point.arousal);
    t->set_weight(rec.mood_target.weight);
  }
  if (rec.has_mood) {
    pb::ImageMood* mood = response->mutable_image_mood();
    mood->set_valence(rec.mood.valence);
    mood->set_arousal(rec.mood.arousal);
    for (const std::string& w : rec.mood.words) mood->add_words(w);
  }
  response->set_model_version(snapshot.models->version());
  response->set_index_version(bundle.manifest().version);
}

void FillSong(const SongMeta& m, image2song::v1::Song* s) {
  s->set_id(m.id);
  s->set_title(m.title);
  s->set_artist(m.artist);
  s->set_genre(m.genre);
  s->set_mood(m.mood);
  s->set_language(m.language);
  s->set_license(m.license);
  s->set_duration_seconds(m.duration_seconds);
  s->set_explicit_lyrics(m.explicit_lyrics);
  for (const std::string& t : m.tags) s->add_tags(t);
  s->set_lyrics(absl::StrJoin(m.lines, "\n"));
}

void FillBundleSong(const Bundle& bundle, int64_t i, pb::Song* s) {
  FillSong(bundle.song(i), s);
  const SongMoods* moods = bundle.moods();
  if (moods == nullptr) return;
  const MoodRecord r = moods->Get(i);
  if (r.flags & kHasLyricMood) FillLyricMood(r, s->mutable_lyric_mood());
  if (r.flags & kGenreImputed) {
    s->set_genre(bundle.column_value(i, kGenreColumn));
    pb::ImputedField* f = s->add_imputed();
    f->set_field("genre");
    f->set_value(s->genre());
    f->set_confidence(r.genre_confidence);
  }
  if (r.flags & kMoodImputed) {
    s->set_mood(bundle.column_value(i, kMoodColumn));
    pb::ImputedField* f = s->add_imputed();
    f->set_field("mood");
    f->set_value(s->mood());
    f->set_confidence(r.mood_confidence);
  }
}

void FillSnapshotInfo(const Snapshot& snapshot, image2song::v1::GetInfoResponse* response) {
  const BundleManifest& m = snapshot.bundle->manifest();
  response->set_index_version(m.version);
  response->set_embedder_id(m.embedder_id);
  response->set_song_count(snapshot.bundle->size());
  response->set_vocabulary_size(snapshot.models->words().size());
  response->set_dimension(m.dim);
  response->set_index_type(m.index_type);
  for (const auto& tagger : snapshot.models->taggers()) {
    const TaggerInfo& t = tagger->info();
    image2song::v1::ModelInfo* mi = response->add_models();
    mi->set_name(t.name);
    mi->set_version(t.version);
    mi->set_kind(t.kind);
    mi->set_label_count(t.label_count);
    mi->set_input_width(t.input_width);
    mi->set_input_height(t.input_height);
    mi->set_execution(t.execution);
    mi->set_max_batch(t.batching ? t.max_batch : 0);
    mi->set_weight(t.weight);
    mi->set_file(t.file);
  }
}

}  // namespace image2song
