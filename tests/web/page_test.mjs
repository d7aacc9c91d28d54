// Browser test of the web page served by i2s-server (GET /): a person drops
// an image and sees the tags and the ranked songs with their lyric lines.
// Run by tests/e2e/py/test_web_page.py with Debian's chromium and
// playwright-core from npm (no browser download).
//
// Environment: I2S_HTTP_BASE (http://127.0.0.1:PORT), I2S_TEST_ASSETS,
// I2S_SCREENSHOT (PNG path), CHROMIUM (default /usr/bin/chromium).
import { chromium } from "playwright-core";
import { readFileSync } from "node:fs";
import assert from "node:assert/strict";

const base = process.env.I2S_HTTP_BASE;
const assets = process.env.I2S_TEST_ASSETS;
const shot = process.env.I2S_SCREENSHOT;
assert.ok(base && assets && shot, "I2S_HTTP_BASE, I2S_TEST_ASSETS and I2S_SCREENSHOT are required");

async function expected(image, type, topK, mood = "") {
  const resp = await fetch(`${base}/v1/recommend?top_k=${topK}&explain=true&mood=${mood}`, {
    method: "POST", headers: { "Content-Type": type }, body: image });
  assert.equal(resp.status, 200);
  return resp.json();
}

async function pageState(page) {
  return page.evaluate(() => ({
    state: document.body.dataset.state || "",
    ids: [...document.querySelectorAll("#songs li.song")].map((li) => li.dataset.songId),
    titles: [...document.querySelectorAll("#songs .song-title")].map((e) => e.textContent),
    ranks: [...document.querySelectorAll("#songs .rank")].map((e) => e.textContent),
    tags: [...document.querySelectorAll("#tags .tag")].map((e) => e.firstChild.textContent),
    firstLines: [...document.querySelectorAll("#songs li.song:first-child ul.lines li")]
        .map((e) => e.textContent),
    firstWhy: [...document.querySelectorAll("#songs li.song:first-child .why .match")]
        .map((e) => e.textContent),
    pictureMood: document.querySelector("#mood-info .picture-mood")?.textContent || "",
    moodTarget: document.querySelector("#mood-info .mood-target")?.textContent || "",
    songMoods: document.querySelectorAll("#songs .song-mood").length,
    error: document.getElementById("error").textContent,
    errorShown: getComputedStyle(document.getElementById("error")).display !== "none",
    status: document.getElementById("status").textContent,
    preview: document.getElementById("preview").naturalWidth,
  }));
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
});
const problems = [];
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on("console", (m) => {
    // The browser logs every non-2xx fetch; step 3 makes one on purpose.
    if (m.type() === "error" && !/status of 400/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  const resp = await page.goto(`${base}/`);
  assert.equal(resp.status(), 200);
  assert.equal(await page.title(), "image2song");

  // 1. Drop a picture on the drop zone (a real drop event with a File).
  const blue = readFileSync(`${assets}/images/blue.png`);
  const want = await expected(blue, "image/png", 10);
  const dataTransfer = await page.evaluateHandle(({ b64, name, type }) => {
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const dt = new DataTransfer();
    dt.items.add(new File([bytes], name, { type }));
    return dt;
  }, { b64: blue.toString("base64"), name: "blue.png", type: "image/png" });
  await page.dispatchEvent("#drop", "drop", { dataTransfer });
  await page.waitForSelector("body[data-state=done]", { timeout: 30000 });
  let got = await pageState(page);
  assert.deepEqual(got.ids, want.matches.map((m) => m.song_id), "songs in the server's order");
  assert.deepEqual(got.titles, want.matches.map((m) => m.title));
  assert.deepEqual(got.ranks, want.matches.map((m) => String(m.rank)));
  assert.deepEqual(got.tags, want.tags.map((t) => t.label));
  assert.equal(got.tags[0], "ocean");
  assert.deepEqual(got.ids.slice(0, 2).sort(), ["sea-01", "sea-02"]);
  assert.deepEqual(got.firstLines, want.matches[0].explanation.lines.map((l) => l.text));
  assert.ok(got.firstLines.length > 0, "the first song shows its matching lyric lines");
  assert.ok(got.firstWhy.length > 0 && got.firstWhy[0].startsWith("ocean"), got.firstWhy.join());
  assert.ok(got.preview > 0, "the dropped picture is shown");
  assert.match(got.status, /^\d+ songs in \d+ ms$/);
  assert.equal(got.errorShown, false);
  // The picture's mood, and each song's lyric mood where the bundle has one.
  assert.match(got.pictureMood, /^picture: [a-z]+/);
  assert.equal(got.moodTarget, "");
  assert.equal(got.songMoods, want.matches.filter((m) => m.explanation.mood).length);
  assert.ok(got.songMoods > 0, "songs show their lyric mood");
  await page.screenshot({ path: shot, fullPage: true });
  const summary = { dropped: "blue.png", tags: got.tags, songs: got.titles, lines: got.firstLines };

  // 2. Choose a file with the picker, with fewer songs: the answer changes.
  await page.selectOption("#top_k", "5");
  const red = readFileSync(`${assets}/images/red.jpg`);
  await page.setInputFiles("#file", { name: "red.jpg", mimeType: "image/jpeg", buffer: red });
  await page.waitForFunction(() => document.body.dataset.state === "done" &&
      document.querySelector("#tags .tag")?.firstChild.textContent === "fire", null,
      { timeout: 30000 });
  got = await pageState(page);
  const wantRed = await expected(red, "image/jpeg", 5);
  assert.deepEqual(got.ids, wantRed.matches.map((m) => m.song_id));
  assert.equal(got.ids.length, 5);

  // 2b. Steer towards a mood: the ranking is the server's for that mood.
  await page.selectOption("#mood", "sad");
  await page.waitForFunction(() => document.body.dataset.state === "done" &&
      (document.querySelector("#mood-info .mood-target")?.textContent || "").includes("sad"),
      null, { timeout: 30000 });
  got = await pageState(page);
  const wantSad = await expected(red, "image/jpeg", 5, "sad");
  assert.deepEqual(got.ids, wantSad.matches.map((m) => m.song_id));
  assert.match(got.moodTarget, /^ranking steered towards sad \(asked\)/);
  summary.mood = { picture: got.pictureMood, target: got.moodTarget };

  // 3. A broken image: the server's error is shown, the lists are cleared.
  const broken = Buffer.concat([blue.subarray(0, 40)]);
  await page.setInputFiles("#file", { name: "broken.png", mimeType: "image/png", buffer: broken });
  await page.waitForSelector("body[data-state=error]", { timeout: 30000 });
  got = await pageState(page);
  assert.equal(got.errorShown, true);
  assert.match(got.error, /^INVALID_ARGUMENT: .*PNG/);
  assert.deepEqual(got.ids, []);
  summary.error = got.error;

  assert.deepEqual(problems, [], "no console errors or CSP violations");
  console.log(JSON.stringify(summary, null, 1));
} finally {
  await browser.close();
}
