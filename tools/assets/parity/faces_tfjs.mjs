// Reference run of human's face detector (BlazeFace) and expression classifier (emotion) TF.js
// graph models with the pure-JavaScript @tensorflow/tfjs CPU backend (no native code), for
// tools/assets/check_faces_parity.py.
//
//   node faces_tfjs.mjs --tfjs-prefix DIR --human DIR --inputs IN.json --out OUT_DIR
//        [--min-confidence 0.2] [--iou 0.1] [--max-detected 10] [--scale 1.4] [--skip-human 1]
//
//   --tfjs-prefix  npm prefix holding node_modules/@tensorflow/tfjs (tools/assets/parity/package.json,
//                  installed into the cache by tools/assets/setup_assets.sh, never into the repo)
//   --human        extracted @vladmandic/human package dir (models/blazeface.*, models/emotion.*,
//                  dist/human.node-wasm.js)
//   --inputs       JSON [{name, file, height, width}]: file = raw float32 RGB 0..255, HWC, the
//                  decoded photo at its original size
//
// Per image, a replica of human 3.3.6 with the face mesh off (src/face/blazeface.ts getBoxes,
// facemeshutil.ts, facemesh.ts predict, gear/emotion.ts predict; rotation off, square off):
//   resize = tf.image.resizeBilinear(input, [256, 256]); x = resize / 127.5 - 1
//   model.execute(x) -> 4 heads sorted by size and concatenated as human does -> rows [896, 17]
//   decodeBoxes, sigmoid scores, tf.image.nonMaxSuppressionAsync, score > minConfidence,
//   box * [W / 256, H / 256], enlargeBox(scale), squarifyBox
//   face = tf.image.cropAndResize(input, box / [H, W], [256, 256]) / 255
//   emotion: resizeBilinear(face, [64, 64]), grey = sum(rgb * [0.2989, 0.587, 0.114]),
//            (grey - 0.5) * 2 -> softmax [7]
// writes <name>.input.f32 (the 256x256 resized input, 0..255), <name>.rows.f32 ([896, 17]),
// <name>.face<k>.f32 (face k's 64x64x3 emotion input, 0..1) and results.json with, per image,
//   replica: [{score, startPoint, endPoint (image px, enlarged and squared), emotion [7]}]
//   human:   the library itself (dist/human.node-wasm.js, backend 'cpu', face detector and
//            emotion only, mesh off; models served from the local files over a loopback HTTP
//            server because human loads them with fetch()), or null with --skip-human 1.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { createRequire } from 'node:module';
import { loadGraphModelFromFiles as loadFiles, writeF32 } from './tfjs_files.mjs';

function args() {
  const a = { 'min-confidence': 0.2, iou: 0.1, 'max-detected': 10, scale: 1.4 };
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
process.env.NODE_PATH = path.join(prefix, 'node_modules');
const require = createRequire(path.join(prefix, 'package.json'));
require('module').Module._initPaths();
const tf = require('@tensorflow/tfjs');
const loadGraphModelFromFiles = (jsonPath) => loadFiles(tf, jsonPath);
await tf.setBackend('cpu');
await tf.ready();

const humanDir = path.resolve(A.human);
const EMOTIONS = ['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral'];

// human 3.3.6 src/face/facemeshutil.ts generateAnchors (BlazeFace branch)
function generateAnchors(inputSize) {
  const spec = { strides: [inputSize / 16, inputSize / 8], anchors: [2, 6] };
  const anchors = [];
  for (let i = 0; i < spec.strides.length; i++) {
    const stride = spec.strides[i];
    const gridRows = Math.floor((inputSize + stride - 1) / stride);
    const gridCols = Math.floor((inputSize + stride - 1) / stride);
    for (let gridY = 0; gridY < gridRows; gridY++) {
      const anchorY = stride * (gridY + 0.5);
      for (let gridX = 0; gridX < gridCols; gridX++) {
        const anchorX = stride * (gridX + 0.5);
        for (let n = 0; n < spec.anchors[i]; n++) anchors.push([anchorX, anchorY]);
      }
    }
  }
  return anchors;
}

// facemeshutil.ts box helpers, verbatim logic
const getBoxSize = (box) => [Math.abs(box.endPoint[0] - box.startPoint[0]), Math.abs(box.endPoint[1] - box.startPoint[1])];
const getBoxCenter = (box) => [box.startPoint[0] + (box.endPoint[0] - box.startPoint[0]) / 2, box.startPoint[1] + (box.endPoint[1] - box.startPoint[1]) / 2, 1];
function enlargeBox(box, factor) {
  const center = getBoxCenter(box);
  const size = getBoxSize(box);
  const halfSize = [factor * size[0] / 2, factor * size[1] / 2];
  return { startPoint: [center[0] - halfSize[0], center[1] - halfSize[1]], endPoint: [center[0] + halfSize[0], center[1] + halfSize[1]], confidence: box.confidence, size };
}
function squarifyBox(box) {
  const centers = getBoxCenter(box);
  const size = getBoxSize(box);
  const halfSize = Math.max(...size) / 2;
  return { startPoint: [Math.round(centers[0] - halfSize), Math.round(centers[1] - halfSize)], endPoint: [Math.round(centers[0] + halfSize), Math.round(centers[1] + halfSize)], confidence: box.confidence, size: [Math.round(size[0]), Math.round(size[1])] };
}

async function detectFaces(model, anchorsT, input, inputSize, cfg) {
  const t = {};
  t.resized = tf.image.resizeBilinear(input, [inputSize, inputSize]);
  t.div = tf.div(t.resized, 127.5);
  t.normalized = tf.sub(t.div, 1);
  const res = model.execute(t.normalized);
  const sorted = res.sort((a, b) => a.size - b.size);
  t.concat384 = tf.concat([sorted[0], sorted[2]], 2);
  t.concat512 = tf.concat([sorted[1], sorted[3]], 2);
  t.concat = tf.concat([t.concat512, t.concat384], 1);
  t.batch = tf.squeeze(t.concat, [0]);
  tf.dispose(res);
  // decodeBoxes
  const d = {};
  d.boxStarts = tf.slice(t.batch, [0, 1], [-1, 2]);
  d.centers = tf.add(d.boxStarts, anchorsT);
  d.boxSizes = tf.slice(t.batch, [0, 3], [-1, 2]);
  d.boxSizesNormalized = tf.div(d.boxSizes, inputSize);
  d.centersNormalized = tf.div(d.centers, inputSize);
  d.halfBoxSize = tf.div(d.boxSizesNormalized, 2);
  d.starts = tf.sub(d.centersNormalized, d.halfBoxSize);
  d.ends = tf.add(d.centersNormalized, d.halfBoxSize);
  d.startNormalized = tf.mul(d.starts, inputSize);
  d.endNormalized = tf.mul(d.ends, inputSize);
  t.boxes = tf.concat2d([d.startNormalized, d.endNormalized], 1);
  Object.keys(d).forEach((k) => tf.dispose(d[k]));
  t.logits = tf.slice(t.batch, [0, 0], [-1, 1]);
  t.sigmoid = tf.sigmoid(t.logits);
  t.scores = tf.squeeze(t.sigmoid);
  t.nms = await tf.image.nonMaxSuppressionAsync(t.boxes, t.scores, cfg.maxDetected, cfg.iouThreshold, cfg.minConfidence);
  const nms = await t.nms.array();
  const scores = await t.scores.data();
  const boxesArr = await t.boxes.array();
  const faces = [];
  for (const i of nms) {
    const confidence = scores[i];
    if (!(confidence > cfg.minConfidence)) continue;
    const p = boxesArr[i];
    const factor = [input.shape[2] / inputSize, input.shape[1] / inputSize];
    const scaled = { startPoint: [p[0] * factor[0], p[1] * factor[1]], endPoint: [p[2] * factor[0], p[3] * factor[1]], confidence };
    const sq = squarifyBox(enlargeBox(scaled, cfg.scale));
    faces.push({ index: i, score: confidence, raw: p, startPoint: sq.startPoint, endPoint: sq.endPoint, size: sq.size });
  }
  const out = { resized: t.resized, rows: t.batch, faces };
  delete t.resized;
  delete t.batch;
  Object.keys(t).forEach((k) => tf.dispose(t[k]));
  return out;
}

async function emotionOf(model, input, face, cropSize) {
  const h = input.shape[1];
  const w = input.shape[2];
  const cutBox = [face.startPoint[1] / h, face.startPoint[0] / w, face.endPoint[1] / h, face.endPoint[0] / w];
  const t = {};
  t.crop = tf.image.cropAndResize(input, [cutBox], [0], [cropSize, cropSize]);
  t.face = tf.div(t.crop, 255);
  const size = model.inputs[0].shape[2];
  const resize = tf.image.resizeBilinear(t.face, [size, size], false);
  t.channels = tf.mul(resize, tf.tensor1d([0.2989, 0.5870, 0.1140], 'float32'));
  t.grayscale = tf.sum(t.channels, 3, true);
  t.grayscaleSub = tf.sub(t.grayscale, 0.5);
  t.grayscaleMul = tf.mul(t.grayscaleSub, 2);
  t.emotion = model.execute(t.grayscaleMul);
  const probs = Array.from(await t.emotion.data());
  Object.keys(t).forEach((k) => tf.dispose(t[k]));
  return { resize, probs };
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
    warmup: 'none', cacheModels: false, async: true, cacheSensitivity: 0, filter: { enabled: false },
    face: {
      enabled: true,
      detector: { modelPath: 'blazeface.json', rotation: false, maxDetected: cfg.maxDetected, minConfidence: cfg.minConfidence, iouThreshold: cfg.iouThreshold, scale: cfg.scale, skipFrames: 0, skipTime: 0, return: false },
      mesh: { enabled: false }, iris: { enabled: false }, attention: { enabled: false },
      emotion: { enabled: true, modelPath: 'emotion.json', minConfidence: 0, skipFrames: 0, skipTime: 0 },
      description: { enabled: false }, antispoof: { enabled: false }, liveness: { enabled: false }, gear: { enabled: false },
    },
    body: { enabled: false }, hand: { enabled: false }, object: { enabled: false },
    gesture: { enabled: false }, segmentation: { enabled: false },
  });
  await human.load();
  const m = human.models.models || human.models;
  if (!m.blazeface || !m.emotion) throw new Error(`human did not load blazeface and emotion: ${Object.keys(m).filter((k) => m[k])}`);
  return { human, server, version: human.version };
}

const cfg = { minConfidence: +A['min-confidence'], iouThreshold: +A.iou, maxDetected: +A['max-detected'], scale: +A.scale };
const detector = await loadGraphModelFromFiles(path.join(humanDir, 'models', 'blazeface.json'));
const emotion = await loadGraphModelFromFiles(path.join(humanDir, 'models', 'emotion.json'));
const inputSize = detector.inputs[0].shape[2]; // as human
const anchorsT = tf.tensor2d(generateAnchors(inputSize));
const H = await startHuman(cfg);
const inputs = JSON.parse(fs.readFileSync(A.inputs, 'utf8'));
const inDir = path.dirname(path.resolve(A.inputs));
fs.mkdirSync(A.out, { recursive: true });
const out = { tfjs: tf.version.tfjs, backend: tf.getBackend(), human: H ? H.version : null, inputSize, emotions: EMOTIONS, config: cfg, images: [] };
for (const im of inputs) {
  const buf = fs.readFileSync(path.join(inDir, im.file));
  const data = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  const input = tf.tensor4d(data, [1, im.height, im.width, 3], 'float32');
  const t0 = Date.now();
  const det = await detectFaces(detector, anchorsT, input, inputSize, cfg);
  const ms = Date.now() - t0;
  writeF32(path.join(A.out, `${im.name}.input.f32`), det.resized);
  writeF32(path.join(A.out, `${im.name}.rows.f32`), det.rows);
  tf.dispose([det.resized, det.rows]);
  const rec = { name: im.name, ms, replica: [] };
  for (let k = 0; k < det.faces.length; k++) {
    const f = det.faces[k];
    const e = await emotionOf(emotion, input, f, inputSize);
    writeF32(path.join(A.out, `${im.name}.face${k}.f32`), e.resize);
    tf.dispose(e.resize);
    rec.replica.push({ ...f, emotion: e.probs });
  }
  if (H) {
    const r = await H.human.detect(input);
    if (r.error) throw new Error(`human: ${r.error}`);
    rec.human = r.face.map((f) => ({ box: f.box, boxRaw: f.boxRaw, score: f.score, boxScore: f.boxScore, emotion: f.emotion }));
  } else rec.human = null;
  tf.dispose(input);
  out.images.push(rec);
  process.stderr.write(`[tfjs] ${im.name}: detector ${ms} ms, ${rec.replica.length} faces\n`);
}
if (H) H.server.close();
fs.writeFileSync(path.join(A.out, 'results.json'), JSON.stringify(out, null, 1));
