// The page's Live tab in a real browser: Debian's chromium, headless, with a fake camera fed
// from a clip (Grace Hopper turning and zooming, made here as .y4m), driven by playwright-core.
// Takes the example Mona Lisa, opens the Live tab (Animate gives way to Start camera), starts
// the camera: animated frames come back (the portrait's size, a face found in the camera's
// frames, the portrait visibly moving between frames), the page shows both and the round
// trip, which is measured and printed.  A second page is told the server is busy; Stop ends
// the session (a new one can start); a refused camera gets its clear message.
// usage: node live.test.mjs PATH/TO/vivify
// exit 0 pass, 1 fail, 77 skipped (no chromium, no playwright-core or no ffmpeg).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CHROMIUM, browserTools, check, closeAll, fail, skip, startServer } from './harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..');
const [vivify] = process.argv.slice(2);
const FRAMES_WANTED = 40;

if (!vivify) { console.error('usage: node live.test.mjs PATH/TO/vivify'); process.exit(2); }
const chromium = await browserTools('the camera clip');

const tmp = mkdtempSync(join(tmpdir(), 'vivify-live-'));
const work = join(tmp, 'work');
spawnSync('mkdir', ['-p', work]);
// the fake camera: 320x320 at 25 fps, 4 s (chromium loops it), the head rolling and zooming
const clip = join(tmp, 'camera.y4m');
spawnSync('ffmpeg', ['-loglevel', 'error', '-loop', '1', '-i', join(root, 'examples', 'grace_hopper.jpg'), '-filter_complex',
  "[0:v]scale=512:-2,zoompan=z='1+0.1*sin(on/8)':x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)':d=1:s=320x320:fps=25," +
  "rotate='0.2*sin(t*2.5)':fillcolor=gray[v]", '-map', '[v]', '-t', '4', '-pix_fmt', 'yuv420p', clip]);
if (!existsSync(clip)) skip('could not make the camera clip');

// The server on a free port, in the checkout (its shipped models: every engine).
const server = await startServer(vivify, work, root);
const url = server.url;

// A page with the example portrait taken and the Live tab open.
async function livePage(browser, initScript) {
  const context = await browser.newContext({ viewport: { width: 1120, height: 900 } });
  const page = await context.newPage();
  if (initScript) await page.addInitScript(initScript);
  page.errors = [];
  page.on('pageerror', (e) => page.errors.push(String(e)));
  await page.goto(url);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 15000 });
  await page.click('.example[data-name="mona_lisa.png"]');
  await page.waitForFunction(() => document.getElementById('faces-note').textContent === 'One face found.', null, { timeout: 60000 });
  await page.click('#tab-live');
  return page;
}
const message = (page) => page.evaluate(() => { const m = document.getElementById('message'); return m.hidden ? '' : m.textContent; });

let browser;
const started = Date.now();
try {
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--headless', '--no-sandbox',
    '--disable-gpu', '--no-first-run', '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream',
    `--use-file-for-fake-video-capture=${clip}`] });
  const page = await livePage(browser);
  check(await page.isHidden('#animate') && await page.isVisible('#live-start') && !(await page.isDisabled('#live-start')),
    'the Live tab: Start camera in place of Animate');

  // 1. live: animated frames come back, shown beside the camera, with the round trip
  const t0 = Date.now();
  await page.click('#live-start');
  await page.waitForFunction((n) => live.frames >= n, FRAMES_WANTED, { timeout: 90000 });
  const firstSeconds = (Date.now() - t0) / 1000;
  // two animated frames, half a second apart: the portrait moves (the camera's head rolls)
  // (compared in the page: only the figures come back)
  const grab = (slot) => page.evaluate((slot) => {
    const img = document.getElementById('live-result');
    const c = document.createElement('canvas');
    c.width = img.naturalWidth; c.height = img.naturalHeight;
    const ctx = c.getContext('2d');
    ctx.drawImage(img, 0, 0);
    window[slot] = ctx.getImageData(0, 0, c.width, c.height).data;
    return { w: img.naturalWidth, h: img.naturalHeight };
  }, slot);
  const a = await grab('grabA');
  const framesAtA = await page.evaluate(() => live.frames);
  await page.waitForTimeout(500);
  await page.waitForFunction((n) => live.frames >= n, framesAtA + 4, { timeout: 30000 }); // slow builds (sanitizers)
  await grab('grabB');
  const diff = await page.evaluate(() => {
    const [p, q] = [window.grabA, window.grabB];
    let sum = 0;
    for (let i = 0; i < p.length; i += 4) sum += Math.abs(p[i] - q[i]) + Math.abs(p[i + 1] - q[i + 1]);
    return p.length === q.length ? sum / ((p.length / 4) * 2) : -1;
  });
  check(a.w === 500 && a.h === 756, `animated frames at the portrait's size (500x756): ${a.w}x${a.h}`);
  check(diff > 1.0, `the animated portrait moves between frames: mean difference ${diff.toFixed(2)} (want > 1)`);
  const figures = await page.evaluate(() => ({
    frames: live.frames, faceless: live.faceless, rtts: live.rtts, server: live.serverMs,
    seconds: (performance.now() - live.started) / 1000,
    cameraShown: !document.getElementById('live-view').hidden && document.getElementById('live-camera').videoWidth > 0,
    stats: document.getElementById('live-stats').textContent,
  }));
  check(figures.cameraShown, 'the camera is shown beside the animated portrait');
  check(figures.faceless <= figures.frames / 10, `a face in the camera's frames: ${figures.faceless} of ${figures.frames} without`);
  check(/frames\/s · round trip \d+ ms \(p95 \d+ ms\) · server \d+ ms/.test(figures.stats), `the page shows the round trip: "${figures.stats}"`);
  const pct = (v, p) => { const s = [...v].sort((x, y) => x - y); return s[Math.min(s.length - 1, Math.ceil(p / 100 * s.length) - 1)]; };
  const rtt50 = pct(figures.rtts, 50), rtt95 = pct(figures.rtts, 95), srv50 = pct(figures.server, 50);
  check(rtt95 > 0 && rtt95 < 1000, `round trip p95 ${rtt95.toFixed(1)} ms (want under 1 s)`);
  check(srv50 <= rtt50, `the server's part ${srv50} ms within the round trip ${rtt50.toFixed(1)} ms`);
  console.log(`live: ${figures.frames} frames in ${figures.seconds.toFixed(1)} s (${(figures.frames / figures.seconds).toFixed(1)} frames/s), ` +
    `round trip p50 ${rtt50.toFixed(1)} ms, p95 ${rtt95.toFixed(1)} ms, max ${Math.max(...figures.rtts).toFixed(1)} ms; ` +
    `server (worker) p50 ${srv50} ms; first ${FRAMES_WANTED} frames ${firstSeconds.toFixed(1)} s after Start`);

  // the face as it is now becomes the neutral: the server says done, the page says so
  const recalibrated = page.waitForResponse((r) => /\/api\/live\/[0-9a-f]{32}\/recalibrate$/.test(r.url()));
  await page.click('#live-neutral');
  const recalibration = await recalibrated;
  await page.waitForFunction(() => /^Neutral set/.test(document.getElementById('live-note').textContent));
  check(recalibration.status() === 204, `Face now neutral: ${recalibration.status()}`);

  // 2. one session per server: a second page is told the server is busy
  const second = await livePage(browser);
  await second.click('#live-start');
  await second.waitForFunction(() => !document.getElementById('message').hidden, null, { timeout: 30000 });
  const busy = await message(second);
  check(/^Busy: another live session is running on this server/.test(busy), `a second session: "${busy}"`);
  check(await second.isVisible('#live-start') && await second.isHidden('#live-view'), 'the busy page stays ready to start');
  await second.context().close();

  // 3. Stop: the camera and the session end; the server takes a new one
  await page.click('#live-stop');
  check(/^Stopped\.$/.test(await message(page)) && await page.isVisible('#live-start'), `stopped: "${await message(page)}"`);
  const after = await page.evaluate(() => live.frames);
  await page.waitForTimeout(300);
  check(await page.evaluate(() => live.frames) === after, 'no frames after Stop');
  await page.waitForTimeout(300); // the DELETE (keepalive) lands
  const restart = await page.evaluate(async () => {
    const form = new FormData();
    form.append('source', state.source, 'p.png');
    const r = await fetch('/api/live', { method: 'POST', body: form });
    const body = await r.json();
    const d = body.id ? await fetch(`/api/live/${body.id}`, { method: 'DELETE' }) : null;
    return `${r.status} ${d ? d.status : JSON.stringify(body)}`;
  });
  check(restart === '201 204', `a new session after Stop: ${restart}`);
  check(page.errors.length === 0, `page errors: ${page.errors.join(' | ')}`);
  await page.context().close();

  // 4. a refused camera: the page says so plainly
  const refused = await livePage(browser, () => {
    navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException('Permission denied', 'NotAllowedError'));
  });
  await refused.click('#live-start');
  await refused.waitForFunction(() => !document.getElementById('message').hidden, null, { timeout: 10000 });
  check(/^The camera was refused\. Allow this page to use the camera/.test(await message(refused)), `refused: "${await message(refused)}"`);
  const noCamera = await livePage(browser, () => {
    navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException('Requested device not found', 'NotFoundError'));
  });
  await noCamera.click('#live-start');
  await noCamera.waitForFunction(() => !document.getElementById('message').hidden, null, { timeout: 10000 });
  check(/^No camera found\./.test(await message(noCamera)), `no camera: "${await message(noCamera)}"`);
} catch (e) {
  fail(e.stack || e);
} finally {
  await closeAll({ browser, server, work, tmp }, 'browser live', started);
}
