// Reference run of human's CenterNet TF.js graph model with the pure-JavaScript
// @tensorflow/tfjs CPU backend (no native code), for tools/assets/check_centernet_parity.py.
//
//   node centernet_tfjs.mjs --tfjs-prefix DIR --human DIR --inputs IN.json --out OUT_DIR
//        [--min-confidence 0.2] [--iou 0.4] [--max-detected 10] [--skip-human 1]
//
//   --tfjs-prefix  npm prefix holding node_modules/@tensorflow/tfjs (tools/assets/parity/package.json,
//                  installed into the cache by tools/assets/setup_assets.sh, never into the repo)
//   --human        extracted @vladmandic/human package dir (models/centernet.json + .bin,
//                  src/object/labels.ts, dist/human.node-wasm.js)
//   --inputs       JSON [{name, file, height, width}]: file = raw float32 RGB 0..255, HWC, the
//                  decoded photo at its original size
//
// Per image, exactly as human 3.3.6 src/object/centernet.ts predict():
//   resize = tf.image.resizeBilinear(input, [512, 512])  (align_corners=false, half_pixel=false)
//   model.execute(resize, ['tower_0/keypoints', 'tower_0/wh', 'tower_0/detections'])
// writes <name>.input.f32 (the resized input, fed to the PyTorch side too), <name>.keypoints.f32,
// <name>.wh.f32, <name>.detections.f32 (float32, NHWC / [1,100,6]) and results.json with
//   replica: human's process() (tf.image.nonMaxSuppressionAsync on the graph's detections,
//            class-agnostic; score truncated to 2 decimals as human reports it, raw kept too)
//   human:   the library itself (dist/human.node-wasm.js, backend 'cpu', object detection only,
//            models served from the local files over a loopback HTTP server because human loads
//            them with fetch()), when --human has dist/human.node-wasm.js; otherwise null.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { createRequire } from 'node:module';
import { loadGraphModelFromFiles as loadFiles, writeF32 } from './tfjs_files.mjs';

function args() {
  const a = { 'min-confidence': 0.2, iou: 0.4, 'max-detected': 10 };
  const v = process.argv.slice(2);
  for (let i = 0; i < v.length; i += 2) {
    if (!v[i].startsWith('--') || i + 1 >= v.length) throw new Error(`bad argument ${v[i]}`);
    a[v[i].slice(2)] = v[i + 1];
  }
  for (const k of ['tfjs-prefix', 'human', 'inputs', 'out']) if (!a[k]) throw new Error(`--${k} is required`);
  return a;
}

const A = args();
const prefix = path.resolve(A['tfjs-prefix']);
// human's CJS bundle requires @tensorflow/tfjs-core etc.: resolve them from the cache prefix
process.env.NODE_PATH = path.join(prefix, 'node_modules');
const require = createRequire(path.join(prefix, 'package.json'));
require('module').Module._initPaths();
const tf = require('@tensorflow/tfjs');
const loadGraphModelFromFiles = (jsonPath) => loadFiles(tf, jsonPath);
await tf.setBackend('cpu');
await tf.ready();

const humanDir = path.resolve(A.human);
const modelJson = path.join(humanDir, 'models', 'centernet.json');
const labels = [...fs.readFileSync(path.join(humanDir, 'src', 'object', 'labels.ts'), 'utf8')
  .matchAll(/class:\s*(\d+),\s*label:\s*'([^']*)'/g)].map((m) => ({ class: +m[1], label: m[2] }));

// human 3.3.6 src/object/centernet.ts process(), verbatim logic (outputShape = [width, height])
async function humanProcess(res, outputShape, inputSize, cfg) {
  const results = [];
  const detections = await res.array();
  const t = {};
  t.squeeze = tf.squeeze(res);
  const arr = tf.split(t.squeeze, 6, 1); // x1, y1, x2, y2, score, class
  t.stack = tf.stack([arr[1], arr[0], arr[3], arr[2]], 1); // reorder dims as tf.nms expects y, x
  t.boxes = tf.squeeze(t.stack);
  t.scores = tf.squeeze(arr[4]);
  t.classes = tf.squeeze(arr[5]);
  tf.dispose(arr);
  t.nms = await tf.image.nonMaxSuppressionAsync(t.boxes, t.scores, cfg.maxDetected || 0, cfg.iouThreshold, (cfg.minConfidence || 0));
  const nms = await t.nms.data();
  let i = 0;
  for (const id of Array.from(nms)) {
    const scoreRaw = detections[0][id][4];
    const score = Math.trunc(100 * scoreRaw) / 100;
    const classVal = detections[0][id][5];
    if (Number.isNaN(classVal)) continue;
    const label = labels[classVal].label;
    const [x, y] = [detections[0][id][0] / inputSize, detections[0][id][1] / inputSize];
    const boxRaw = [x, y, detections[0][id][2] / inputSize - x, detections[0][id][3] / inputSize - y];
    const box = [Math.trunc(boxRaw[0] * outputShape[0]), Math.trunc(boxRaw[1] * outputShape[1]),
      Math.trunc(boxRaw[2] * outputShape[0]), Math.trunc(boxRaw[3] * outputShape[1])];
    results.push({ id: i++, score, scoreRaw, class: classVal, label, box, boxRaw, index: id });
  }
  Object.keys(t).forEach((k) => tf.dispose(t[k]));
  return results;
}

async function startHuman(cfg) {
  const dist = path.join(humanDir, 'dist', 'human.node-wasm.js');
  if (A['skip-human'] === '1' || !fs.existsSync(dist)) return null;
  const modelsDir = path.join(humanDir, 'models');
  const server = http.createServer((req, res) => {
    const f = path.join(modelsDir, path.basename(new URL(req.url, 'http://localhost').pathname));
    if (!fs.existsSync(f)) { res.writeHead(404); res.end(); return; }
    res.writeHead(200, { 'Content-Type': f.endsWith('.json') ? 'application/json' : 'application/octet-stream' });
    res.end(fs.readFileSync(f));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const H = require(dist);
  const human = new H.Human({
    backend: 'cpu', modelBasePath: `http://127.0.0.1:${server.address().port}/`, debug: false,
    warmup: 'none', cacheModels: false, async: true, filter: { enabled: false },
    face: { enabled: false }, body: { enabled: false }, hand: { enabled: false },
    gesture: { enabled: false }, segmentation: { enabled: false },
    object: { enabled: true, modelPath: 'centernet.json', ...cfg },
  });
  await human.load();
  if (!(human.models.models || human.models).centernet) throw new Error('human did not load centernet');
  return { human, server, version: human.version };
}

const cfg = { minConfidence: +A['min-confidence'], iouThreshold: +A.iou, maxDetected: +A['max-detected'] };
const model = await loadGraphModelFromFiles(modelJson);
const inputSize = model.inputs[0].shape[2]; // as human: modelSignature inputs dim[2]
const H = await startHuman(cfg);
const inputs = JSON.parse(fs.readFileSync(A.inputs, 'utf8'));
const inDir = path.dirname(path.resolve(A.inputs));
fs.mkdirSync(A.out, { recursive: true });
const out = { tfjs: tf.version.tfjs, backend: tf.getBackend(), human: H ? H.version : null, inputSize, config: cfg, images: [] };
for (const im of inputs) {
  const buf = fs.readFileSync(path.join(inDir, im.file));
  const data = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  const input = tf.tensor4d(data, [1, im.height, im.width, 3], 'float32');
  const t0 = Date.now();
  const resize = tf.image.resizeBilinear(input, [inputSize, inputSize]);
  const [heat, wh, det] = model.execute(resize, ['tower_0/keypoints', 'tower_0/wh', 'tower_0/detections']);
  const ms = Date.now() - t0;
  for (const [suffix, t] of [['input', resize], ['keypoints', heat], ['wh', wh], ['detections', det]]) writeF32(path.join(A.out, `${im.name}.${suffix}.f32`), t);
  const rec = { name: im.name, ms, shapes: { input: resize.shape, keypoints: heat.shape, wh: wh.shape, detections: det.shape } };
  rec.replica = await humanProcess(det, [im.width, im.height], inputSize, cfg); // disposes det
  tf.dispose([resize, heat, wh]);
  if (H) {
    const r = await H.human.detect(input);
    if (r.error) throw new Error(`human: ${r.error}`);
    rec.human = r.object;
  } else rec.human = null;
  tf.dispose(input);
  out.images.push(rec);
  process.stderr.write(`[tfjs] ${im.name}: ${ms} ms, ${rec.replica.length} detections\n`);
}
if (H) H.server.close();
fs.writeFileSync(path.join(A.out, 'results.json'), JSON.stringify(out, null, 1));
