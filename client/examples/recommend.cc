// The smallest complete C++ caller of image2song (docs/api.md, Clients):
//
//   build/client/i2s-example-recommend localhost:50051 photo.jpg [TOKEN]
//
// Sends one image, prints the ranked songs with the tag -> lyric word matches
// and the matching lyric lines. Exit 0 on OK; on an error prints the gRPC code
// and message and exits 1. Only gRPC and the generated API are needed.
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>

#include "image2song/v1/image2song.grpc.pb.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: " << argv[0] << " HOST:PORT IMAGE [TOKEN]\n";
    return 2;
  }
  std::ifstream file(argv[2], std::ios::binary);
  if (!file) {
    std::cerr << "cannot read " << argv[2] << "\n";
    return 2;
  }
  image2song::v1::RecommendRequest request;
  request.set_image(std::string(std::istreambuf_iterator<char>(file), {}));
  request.set_top_k(5);
  request.set_explain(true);  // matched tags and lyric lines
  request.mutable_filters()->add_languages("en");

  auto channel = grpc::CreateChannel(argv[1], grpc::InsecureChannelCredentials());
  auto stub = image2song::v1::SongRecommender::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  if (argc > 3) context.AddMetadata("authorization", std::string("Bearer ") + argv[3]);

  image2song::v1::RecommendResponse response;
  grpc::Status status = stub->Recommend(&context, request, &response);
  if (!status.ok()) {
    // INVALID_ARGUMENT: bad image or request; RESOURCE_EXHAUSTED/UNAVAILABLE:
    // retry later with backoff; UNAUTHENTICATED: token.
    std::cerr << "error " << status.error_code() << ": " << status.error_message() << "\n";
    return 1;
  }
  for (const auto& tag : response.tags()) {
    std::cout << "tag " << tag.label() << " " << tag.score() << "\n";
  }
  for (const auto& match : response.matches()) {
    std::cout << match.rank() << ". " << match.title() << " - " << match.artist() << " ("
              << match.song_id() << ", score " << match.score() << ")\n";
    for (const auto& t : match.explanation().matched_tags()) {
      std::cout << "   " << t.label() << " -> \"" << t.lyric_word() << "\"\n";
    }
    for (const auto& line : match.explanation().lines()) {
      std::cout << "   | " << line.text() << "\n";
    }
  }
  std::cout << "index " << response.index_version() << "\n";
  return 0;
}
