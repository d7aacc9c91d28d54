// Tests for the memory-mapped song store (core/bundle/song_store.h): round
// trip, O(1) ids, every filter against a reference, damaged files refused.
#include "core/bundle/song_store.h"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tests/support/test_util.h"

namespace image2song {
namespace {

using ::image2song::testing::ReadWholeFile;
using ::image2song::testing::TempDir;
using ::image2song::testing::WriteWholeFile;

constexpr int kSongs = 5000;
const char* const kGenres[] = {"Rock", "pop", "Folk", "jazz"};
const char* const kLicenses[] = {"standard", "ads", "cc-by"};

// Song i: genre i % 4, license "ads" for every 100th song (1 %), explicit
// every 7th, duration 100 + i % 200 s (0 = unknown for every 50th).
SongRecord Record(int i) {
  SongRecord r;
  r.id = absl::StrCat("song-", i);
  r.title = absl::StrCat("Title ", i);
  r.artist = absl::StrCat("Artist ", i % 17);
  r.genre = kGenres[i % 4];
  r.mood = i % 2 ? "happy" : "calm";
  r.language = i % 10 ? "en" : "es";
  r.license = i % 100 == 0 ? "ads" : kLicenses[i % 2 == 0 ? 0 : 2];
  r.explicit_lyrics = i % 7 == 0;
  r.duration_seconds = i % 50 == 0 ? 0 : float(100 + i % 200);
  r.tags = {absl::StrCat("t", i % 3)};
  return r;
}

std::vector<std::string> Lines(int i) {
  return {absl::StrCat("line one of ", i), "", absl::StrCat("line three ", i)};
}

std::string WriteStore(const TempDir& tmp) {
  const std::string dir = tmp.path();
  auto w = SongStoreWriter::Create(dir);
  REQUIRE(w.ok());
  for (int i = 0; i < kSongs; ++i) {
    REQUIRE(w->Add(Record(i), Lines(i)).ok());
  }
  REQUIRE(w->Finish().ok());
  return dir;
}

bool Has(const std::vector<uint8_t>& bits, int64_t i) { return (bits[i >> 3] >> (i & 7)) & 1; }

TEST_CASE("SongStore round trip and O(1) id lookup") {
  TempDir tmp;
  const std::string dir = WriteStore(tmp);
  auto store = SongStore::Open(dir, kSongs);
  INFO(store.status().ToString());
  REQUIRE(store.ok());
  CHECK(store->size() == kSongs);
  for (int i : {0, 1, 49, 50, 777, kSongs - 1}) {
    INFO(i);
    const SongRecord want = Record(i);
    const SongMeta got = store->Get(i);
    CHECK(got.id == want.id);
    CHECK(got.title == want.title);
    CHECK(got.artist == want.artist);
    CHECK(got.genre == want.genre);  // original case kept for display
    CHECK(got.license == want.license);
    CHECK(got.explicit_lyrics == want.explicit_lyrics);
    CHECK(got.duration_seconds == want.duration_seconds);
    CHECK(got.tags == want.tags);
    CHECK(got.lines == Lines(i));  // the empty line survives
    CHECK(store->LineCount(i) == 3);
  }
  for (int i = 0; i < kSongs; ++i) REQUIRE(store->Find(absl::StrCat("song-", i)) == i);
  CHECK(store->Find("song-5000") == -1);
  CHECK(store->Find("") == -1);
  CHECK(store->Find("Song-1") == -1);  // ids are case-sensitive
}

TEST_CASE("SongStore::Select applies every filter from the columns") {
  TempDir tmp;
  auto store = SongStore::Open(WriteStore(tmp), kSongs);
  REQUIRE(store.ok());
  int64_t kept = -1;
  auto expect = [&](const Filters& f, auto pred) {
    std::vector<uint8_t> bits = store->Select(f, &kept);
    int64_t want = 0;
    for (int i = 0; i < kSongs; ++i) {
      const bool pass = pred(Record(i));
      want += pass;
      if (Has(bits, i) != pass) {
        FAIL_CHECK("song " << i << " expected " << pass);
        break;
      }
    }
    CHECK(kept == want);
  };
  Filters none;
  expect(none, [](const SongRecord&) { return true; });
  Filters rock;
  rock.genres = {"rock"};  // lowercase filter values match "Rock"
  expect(rock, [](const SongRecord& r) { return r.genre == "Rock"; });
  Filters ads;
  ads.licenses = {"ads"};
  expect(ads, [](const SongRecord& r) { return r.license == "ads"; });
  CHECK(kept == kSongs / 100);
  Filters combo;
  combo.genres = {"rock", "pop"};
  combo.languages = {"en"};
  combo.exclude_explicit = true;
  combo.min_duration_seconds = 150;
  combo.max_duration_seconds = 250;
  expect(combo, [](const SongRecord& r) {
    return (r.genre == "Rock" || r.genre == "pop") && r.language == "en" && !r.explicit_lyrics &&
           r.duration_seconds >= 150 && r.duration_seconds <= 250;
  });
  Filters open_max;
  open_max.max_duration_seconds = 120;  // unknown durations (0) are left out
  expect(open_max,
         [](const SongRecord& r) { return r.duration_seconds > 0 && r.duration_seconds <= 120; });
  Filters excl;
  excl.exclude_ids = {"song-3", "song-4", "no-such-song"};
  expect(excl, [](const SongRecord& r) { return r.id != "song-3" && r.id != "song-4"; });
  Filters nothing;
  nothing.genres = {"polka"};
  expect(nothing, [](const SongRecord&) { return false; });
  CHECK(kept == 0);
}

TEST_CASE("SongStore::Open refuses damaged files with DATA_LOSS") {
  TempDir tmp;
  const std::string dir = WriteStore(tmp);
  auto expect = [&](const std::string& file, const std::string& data, const std::string& needle) {
    const std::string path = dir + "/" + file;
    const std::string saved = ReadWholeFile(path);
    WriteWholeFile(path, data);
    auto s = SongStore::Open(dir, kSongs);
    WriteWholeFile(path, saved);
    INFO(file << ": " << s.status().ToString());
    CHECK(s.status().code() == absl::StatusCode::kDataLoss);
    CHECK(absl::StrContains(s.status().message(), file));
    CHECK(absl::StrContains(s.status().message(), needle));
  };
  const std::string songs = ReadWholeFile(dir + "/songs.bin");
  const std::string columns = ReadWholeFile(dir + "/columns.bin");
  expect("songs.bin", songs.substr(0, songs.size() - 9), "truncated");
  expect("songs.bin", "XXXX" + songs.substr(4), "bad header");
  expect("columns.bin", columns.substr(0, columns.size() - 8), "truncated");
  std::string bad_code = columns;
  bad_code[24] = '\x7f';  // genre code of song 0 past the dictionary
  expect("columns.bin", bad_code, "genre code out of range");
  CHECK(SongStore::Open(dir, kSongs + 1).status().code() == absl::StatusCode::kDataLoss);
  CHECK(SongStore::Open(dir, kSongs).ok());
}

}  // namespace
}  // namespace image2song
