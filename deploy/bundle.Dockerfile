# A bundle image: one index bundle at /bundle, for the init container of
# deploy/k8s/deployment.yaml (which copies it with `cp`, hence a Debian base). Build the bundle
# with the i2s-index of the server image it will be served by, so the word vectors match
# (a bundle that does not fit the models stops the new pod, and the rollout with it):
#
#   mkdir -p out && docker run --rm --user "$(id -u):$(id -g)" \
#       -v "$PWD/catalogue:/catalogue:ro" -v "$PWD/out:/out" image2song/i2s-server:0.1.0 \
#       i2s-index --catalogue=/catalogue/songs.jsonl --output=/out/bundle --bundle_version=songs-2
#   docker build -f deploy/bundle.Dockerfile -t registry.example.com/i2s-bundle:songs-2 out
FROM debian:bookworm-slim
COPY bundle/ /bundle/
USER 10001:10001
