// What the Node parity scripts (centernet_tfjs.mjs, faces_tfjs.mjs) share: a TF.js graph model
// loaded from its model.json and weight shards on disk (no fetch), and float32 tensors written
// as raw little-endian files for the Python checks.
import fs from 'node:fs';
import path from 'node:path';

// tf: the @tensorflow/tfjs module the caller resolved from its cache prefix.
export function loadGraphModelFromFiles(tf, jsonPath) {
  const mj = JSON.parse(fs.readFileSync(jsonPath, 'utf8'));
  const specs = [];
  const bufs = [];
  for (const g of mj.weightsManifest) {
    specs.push(...g.weights);
    for (const p of g.paths) bufs.push(fs.readFileSync(path.join(path.dirname(jsonPath), p)));
  }
  const all = Buffer.concat(bufs);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  return tf.loadGraphModel(tf.io.fromMemory({
    modelTopology: mj.modelTopology, weightSpecs: specs, weightData,
    format: mj.format, generatedBy: mj.generatedBy, convertedBy: mj.convertedBy,
    signature: mj.signature, userDefinedMetadata: mj.userDefinedMetadata,
  }));
}

export function writeF32(file, t) {
  const d = t.dataSync();
  fs.writeFileSync(file, Buffer.from(d.buffer, d.byteOffset, d.byteLength));
}
