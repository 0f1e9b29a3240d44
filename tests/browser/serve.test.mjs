// The page of `vivify serve` in a real browser: Debian's chromium, headless, driven by
// playwright-core.  Drops a file that is not an image (the page must say so), a face-less
// image (the server's "no face found" must reach the page), then a portrait; picks a motion,
// animates, waits for the result, checks the <video> really plays, downloads it, takes a
// screenshot and deletes the job.  The options (engine, background, the eyes and lips
// gains beside the expression strength) are checked as shown and as sent.
// usage: node serve.test.mjs PATH/TO/vivify [SCREENSHOT.png]
// exit 0 pass, 1 fail, 77 skipped (no chromium, no playwright-core or no ffmpeg).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run'];
const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..');
const [vivify, screenshotPath] = process.argv.slice(2);

function skip(why) { console.log(`SKIPPED: ${why}`); process.exit(77); }
if (!vivify) { console.error('usage: node serve.test.mjs PATH/TO/vivify [SCREENSHOT.png]'); process.exit(2); }
if (!existsSync(CHROMIUM)) skip(`${CHROMIUM} is not installed (apt-get install chromium; ./dev test does)`);
let chromium;
try {
  ({ chromium } = await import('playwright-core'));
} catch (e) {
  skip('npm playwright-core is not installed in tests/browser (npm ci there; ./dev test does)');
}
if (spawnSync('ffmpeg', ['-version']).status !== 0) skip('no ffmpeg to make the test images');

let passed = 0, failed = 0;
function check(condition, what) {
  if (condition) passed++;
  else { failed++; console.log(`FAIL: ${what}`); }
}

const tmp = mkdtempSync(join(tmpdir(), 'vivify-browser-'));
const work = join(tmp, 'work');
spawnSync('mkdir', ['-p', work]);
const portrait = join(tmp, 'portrait.png'), noface = join(tmp, 'noface.png');
spawnSync('ffmpeg', ['-loglevel', 'error', '-i', join(root, 'examples', 'mona_lisa.png'), '-vf', 'scale=320:-2', portrait]);
spawnSync('ffmpeg', ['-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc=size=200x150:duration=1', '-frames:v', '1', noface]);
if (!existsSync(portrait) || !existsSync(noface)) skip('could not make the test images');

// The server on a free port; its first stdout line names the URL.
const server = spawn(vivify, ['serve', '--port', '0', '--temp', work], { stdio: ['ignore', 'pipe', 'pipe'] });
let serverLog = '';
server.stderr.on('data', (d) => { serverLog += d; });
const url = await new Promise((ok, fail) => {
  let out = '';
  server.stdout.on('data', (d) => {
    out += d;
    const m = out.match(/http:\/\/[^ ]+\//);
    if (m) ok(m[0]);
  });
  server.on('exit', (code) => fail(new Error(`vivify serve exited (${code}): ${serverLog}`)));
  setTimeout(() => fail(new Error('vivify serve did not start in 20 s')), 20000);
});

let browser;
const started = Date.now();
try {
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
  const page = await browser.newPage({ viewport: { width: 1120, height: 900 }, deviceScaleFactor: 1 });
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(m.text()); });
  const externalRequests = [];
  page.on('request', (r) => { if (!r.url().startsWith(url) && !r.url().startsWith('blob:') && !r.url().startsWith('data:')) externalRequests.push(r.url()); });

  await page.goto(url);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 15000 });
  const motions = await page.$$eval('.motion', (cards) => cards.map((c) => c.dataset.motion));
  check(motions.join() === 'talk,blink,nod,smile,surprise', `motion picker: ${motions}`);
  // the previews animate: a canvas changes between two moments
  const frameA = await page.$eval('.motion[data-motion="talk"] canvas', (c) => c.toDataURL());
  await page.waitForTimeout(400);
  const frameB = await page.$eval('.motion[data-motion="talk"] canvas', (c) => c.toDataURL());
  check(frameA !== frameB && frameA.length > 1000, 'motion previews draw and move');

  // drag and drop, as a person does: a DataTransfer with the file, dropped on the zone
  const drop = async (selector, file, name, type) => {
    const base64 = readFileSync(file).toString('base64');
    await page.evaluate(({ selector, base64, name, type }) => {
      const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
      const transfer = new DataTransfer();
      transfer.items.add(new File([bytes], name, { type }));
      const zone = document.querySelector(selector);
      for (const kind of ['dragenter', 'dragover', 'drop'])
        zone.dispatchEvent(new DragEvent(kind, { bubbles: true, cancelable: true, dataTransfer: transfer }));
    }, { selector, base64, name, type });
  };
  const message = async () => (await page.isVisible('#message')) ? (await page.textContent('#message')) : '';

  // 1. not an image (named like one): the page says so and keeps Animate disabled
  await drop('#source-drop', join(root, 'tests', 'cli_serve.sh'), 'photo.png', 'image/png');
  await page.waitForSelector('#message:not([hidden])', { timeout: 5000 });
  check(/Unsupported file: photo\.png is not a PNG or JPEG image/.test(await message()), `not an image: "${await message()}"`);
  check(await page.isDisabled('#animate'), 'Animate stays disabled without a portrait');

  // 2. a picture without a face: the server's error reaches the page in plain words
  await drop('#source-drop', noface, 'pattern.png', 'image/png');
  await page.waitForSelector('#source-preview:not([hidden])');
  await page.click('.motion[data-motion="blink"]');
  await page.$eval('#duration', (e) => { e.value = '1'; e.dispatchEvent(new Event('input')); });
  await page.click('#animate');
  await page.waitForFunction(() => /no face/i.test(document.getElementById('message').textContent), null, { timeout: 60000 });
  check(/^No face found in the portrait\. Try a photo/.test(await message()), `no face: "${await message()}"`);

  // 3. the portrait, motion "nod", 2 seconds: progress, then the result plays
  await drop('#source-drop', portrait, 'mona_lisa.png', 'image/png');
  await page.waitForFunction(() => !document.getElementById('animate').disabled);
  check((await message()) === '', 'a good portrait clears the message');
  await page.click('.motion[data-motion="nod"]');
  check(await page.getAttribute('.motion[data-motion="nod"]', 'aria-checked') === 'true', 'motion picked');
  await page.$eval('#duration', (e) => { e.value = '2'; e.dispatchEvent(new Event('input')); });
  // the options: engines as the server lists them, labelled; the eyes and lips sliders show
  // their values; everything chosen goes into the form
  await page.click('summary');
  const choices = (id) => page.$$eval(`#${id} option`, (os) => os.map((o) => `${o.value}=${o.textContent}`).join('|'));
  check(await choices('engine') === 'warp=warp (3D head)|warp2d=warp2d (2D warp)', `engine menu: ${await choices('engine')}`);
  check(/^still=still.*\|move=move/.test(await choices('background')), `background menu: ${await choices('background')}`);
  const sliders = await page.$$eval('.grid input[type="range"]', (rs) => rs.map((r) => `${r.id}:${r.min}-${r.max}/${r.step}=${r.value}`).join(' '));
  check(sliders === 'expression-scale:0-2/0.05=1 eyes:0-2/0.05=1 lips:0-2/0.05=1 pose-scale:0-2/0.05=1',
    `sliders, in order: ${sliders}`);
  const slide = (id, value) => page.$eval(`#${id}`, (e, v) => { e.value = v; e.dispatchEvent(new Event('input')); }, value);
  await slide('eyes', '0.5');
  await slide('lips', '1.25');
  check(await page.textContent('#eyes-value') === '0.50' && await page.textContent('#lips-value') === '1.25',
    `slider values shown: eyes ${await page.textContent('#eyes-value')}, lips ${await page.textContent('#lips-value')}`);
  await page.selectOption('#background', 'move');
  // the text fields of the form the page posts (chromium hands playwright no multipart body
  // that holds a file, so the page's fetch is watched instead)
  await page.evaluate(() => {
    const original = window.fetch;
    window.fetch = (url, options) => {
      if (options && options.body instanceof FormData)
        window.sentFields = [...options.body.entries()].filter(([, v]) => typeof v === 'string');
      return original(url, options);
    };
  });
  const jobStart = Date.now();
  await page.click('#animate');
  const sent = Object.fromEntries(await page.evaluate(() => window.sentFields || []));
  const want = { motion: 'nod', duration: '2', mode: 'relative', expression_scale: '1', pose_scale: '1', eyes: '0.5',
    lips: '1.25', background: 'move', compare: 'false', format: 'mp4', engine: 'warp' };
  check(JSON.stringify(sent) === JSON.stringify(want), `form fields sent: ${JSON.stringify(sent)}`);
  await page.waitForSelector('#progress:not([hidden])', { timeout: 10000 });
  const progressTexts = new Set();
  const watcher = setInterval(() => page.textContent('#progress-text').then((t) => progressTexts.add(t)).catch(() => {}), 100);
  await page.waitForSelector('#result:not([hidden])', { timeout: 120000 });
  clearInterval(watcher);
  const jobSeconds = (Date.now() - jobStart) / 1000;
  check([...progressTexts].some((t) => /Animating…|Waiting|Uploading/.test(t)), `progress shown: ${[...progressTexts].join(' | ')}`);
  const playing = await page.waitForFunction(() => {
    const v = document.getElementById('result-video');
    return v.readyState >= 2 && v.currentTime > 0.2 && !v.paused && v.videoWidth > 0;
  }, null, { timeout: 20000 }).then(() => true, () => false);
  const video = await page.$eval('#result-video', (v) => ({
    width: v.videoWidth, height: v.videoHeight, duration: v.duration, error: v.error && v.error.message,
    src: v.currentSrc, h264: v.canPlayType('video/mp4; codecs="avc1.42E01E"'),
  }));
  check(playing, `the result video plays: ${JSON.stringify(video)}`);
  check(video.width === 320 && Math.abs(video.duration - 2) < 0.1, `result size/duration: ${JSON.stringify(video)}`);
  check(await page.isVisible('#result-source'), 'the source is shown next to the result');
  const href = await page.getAttribute('#download', 'href');
  check(/^\/api\/jobs\/[0-9a-f]{32}\/result$/.test(href), `download link: ${href}`);
  const download = await page.evaluate(async (h) => {
    const r = await fetch(h);
    return { status: r.status, type: r.headers.get('content-type'), size: (await r.arrayBuffer()).byteLength };
  }, href);
  check(download.status === 200 && download.type === 'video/mp4' && download.size > 1000, `download: ${JSON.stringify(download)}`);

  // a frame from the middle of the clip, paused, for the screenshot
  await page.$eval('#result-video', (v) => new Promise((done) => {
    v.pause();
    v.addEventListener('seeked', done, { once: true });
    v.currentTime = 1.0;
  }));
  const shot = screenshotPath || join(tmp, 'serve.png');
  await page.screenshot({ path: shot, fullPage: true });
  check(existsSync(shot) && readFileSync(shot).length > 10000, `screenshot ${shot}`);

  // delete: the result goes away on the page and on the server (whose 404 the console logs)
  const errorsBeforeDelete = [...pageErrors];
  await page.click('#delete');
  await page.waitForSelector('#result', { state: 'hidden' });
  const gone = await page.evaluate(async (h) => (await fetch(h)).status, href.replace('/result', ''));
  check(gone === 404, `deleted job answers ${gone}`);
  const files = (dir) => readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]);
  check(files(work).length === 0, `job files left after delete: ${files(work)}`);
  check(errorsBeforeDelete.length === 0, `page errors: ${errorsBeforeDelete.join(' | ')}`);
  check(externalRequests.length === 0, `requests to other hosts: ${externalRequests.join(' ')}`);
  console.log(`browser: portrait 320 px, nod 2 s (50 frames) done in ${jobSeconds.toFixed(1)} s; H.264 canPlayType "${video.h264}"`);
} catch (e) {
  failed++;
  console.log(`FAIL: ${e.stack || e}`);
} finally {
  if (browser) await browser.close();
  server.kill('SIGTERM');
  await new Promise((done) => { server.on('exit', done); setTimeout(done, 10000); });
  check(readdirSync(work).length === 0, 'the server removed its temp folder on stop');
  if (/AddressSanitizer|runtime error/.test(serverLog)) { failed++; console.log(`FAIL: sanitizer report:\n${serverLog}`); }
  rmSync(tmp, { recursive: true, force: true });
}
console.log(`browser: ${passed} passed, ${failed} failed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
process.exit(failed ? 1 : 0);
