// The page of `vivify serve` in a real browser: Debian's chromium, headless, driven by
// playwright-core.  Drops a file that is not an image (the page must say so), a face-less
// image (the server's faces check must say so at once), takes an example portrait, drops a
// portrait with two faces (numbered boxes: picks face 2) and a driving video with sound,
// animates side by side (the result at full width, playing with sound, its download named
// after the inputs); changes an input (the result is marked stale); then a portrait with a
// built-in motion: animates, checks the <video> really plays, downloads it, takes a
// screenshot and deletes the job.  The options (engine, background, the eyes and lips
// gains beside the expression strength) are checked as shown and as sent.
// usage: node serve.test.mjs PATH/TO/vivify [SCREENSHOT.png]
// exit 0 pass, 1 fail, 77 skipped (no chromium, no playwright-core or no ffmpeg).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CHROMIUM, browserTools, check, closeAll, dropFile, fail, skip, startServer, watchJobForm } from './harness.mjs';

const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run'];
const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..');
const [vivify, screenshotPath] = process.argv.slice(2);

if (!vivify) { console.error('usage: node serve.test.mjs PATH/TO/vivify [SCREENSHOT.png]'); process.exit(2); }
const chromium = await browserTools('the test images');

const tmp = mkdtempSync(join(tmpdir(), 'vivify-browser-'));
const work = join(tmp, 'work');
spawnSync('mkdir', ['-p', work]);
const portrait = join(tmp, 'portrait.png'), noface = join(tmp, 'noface.png');
const two = join(tmp, 'two.png'), driver = join(tmp, 'driver.mp4'), facelessDriver = join(tmp, 'faceless.mp4');
const ff = (...args) => spawnSync('ffmpeg', ['-loglevel', 'error', ...args]);
ff('-i', join(root, 'examples', 'mona_lisa.png'), '-vf', 'scale=320:-2', portrait);
ff('-f', 'lavfi', '-i', 'testsrc=size=200x150:duration=1', '-frames:v', '1', noface);
// two faces: the Mona Lisa (smaller, left) beside Grace Hopper (larger, right)
ff('-i', join(root, 'examples', 'mona_lisa.png'), '-i', join(root, 'examples', 'grace_hopper.jpg'), '-filter_complex',
  '[0:v]scale=-2:400,setsar=1[a];[1:v]scale=-2:300,pad=iw:400:0:50,setsar=1[b];[a][b]hstack=inputs=2', '-frames:v', '1', two);
// a driver with sound: the portrait held still for 1 s with a tone
ff('-loop', '1', '-i', portrait, '-f', 'lavfi', '-i', 'sine=frequency=300:duration=1', '-t', '1', '-r', '25',
  '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-shortest', driver);
ff('-f', 'lavfi', '-i', 'testsrc=size=160x120:duration=1:rate=10', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', facelessDriver);
if (![portrait, noface, two, driver, facelessDriver].every(existsSync)) skip('could not make the test images');

// The server on a free port, in the checkout (its shipped models: every engine).
const server = await startServer(vivify, work, root);
const url = server.url;

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
  const drop = (selector, file, name, type) => dropFile(page, selector, file, name, type);
  const message = async () => (await page.isVisible('#message')) ? (await page.textContent('#message')) : '';

  // 1. not an image (named like one): the page says so and keeps Animate disabled
  await drop('#source-drop', join(root, 'tests', 'cli_serve.sh'), 'photo.png', 'image/png');
  await page.waitForSelector('#message:not([hidden])', { timeout: 5000 });
  check(/Unsupported file: photo\.png is not a PNG or JPEG image/.test(await message()), `not an image: "${await message()}"`);
  check(await page.isDisabled('#animate'), 'Animate stays disabled without a portrait');

  // 2. a picture without a face: the server's faces check says so as soon as it is dropped,
  // and Animate stays off
  await drop('#source-drop', noface, 'pattern.png', 'image/png');
  await page.waitForSelector('#source-frame:not([hidden])');
  await page.waitForFunction(() => /no face/i.test(document.getElementById('message').textContent), null, { timeout: 60000 });
  check(/^No face found in the portrait\. Try a photo/.test(await message()), `no face: "${await message()}"`);
  check(await page.isDisabled('#animate'), 'Animate stays disabled for a portrait without a face');

  // a driving video without a face gets its own hint, not the portrait's (the server's two
  // messages, as cli_serve.sh checks them, through the page's wording)
  const hints = await page.evaluate(() => [explain(200, 'no face found in any frame of the driving video'),
    explain(200, 'no face found in the portrait')]);
  check(/^No face found in any frame of the driving video\. Use a driving video in which one face/.test(hints[0]) &&
    !/photo/.test(hints[0]) && /Try a photo/.test(hints[1]), `no-face hints: ${hints.join(' | ')}`);

  // 3. an example portrait, one click: shown, one face found, ready to animate
  const examples = await page.$$eval('.example', (bs) => bs.map((b) => b.dataset.name).join());
  check(examples === 'mona_lisa.png,grace_hopper.jpg', `example portraits offered: ${examples}`);
  await page.click('.example[data-name="grace_hopper.jpg"]');
  await page.waitForFunction(() => document.getElementById('faces-note').textContent === 'One face found.', null, { timeout: 60000 });
  check(!(await page.isDisabled('#animate')) && (await message()) === '', 'the example is taken: message cleared, Animate on');
  check(await page.$eval('#source-preview', (i) => i.naturalWidth > 100), 'the example portrait is shown');

  // 4. two faces: numbered boxes over the preview, face 1 (the largest, right) picked until
  // face 2 is clicked; the file chooser stays shut
  await drop('#source-drop', two, 'two faces.png', 'image/png');
  await page.waitForFunction(() => document.querySelectorAll('.face-box').length === 2, null, { timeout: 60000 });
  check(/^2 faces found/.test(await page.textContent('#faces-note')), `faces note: ${await page.textContent('#faces-note')}`);
  const boxes = await page.$$eval('.face-box', (bs) => bs.map((b) => `${b.dataset.face}:${b.getAttribute('aria-checked')}:${
    b.getBoundingClientRect().left > b.parentElement.getBoundingClientRect().left + b.parentElement.getBoundingClientRect().width / 2 ? 'right' : 'left'}`).join());
  check(boxes === '1:true:right,2:false:left', `face boxes: ${boxes}`);
  await page.evaluate(() => { window.chooserOpened = false; document.getElementById('source-input').addEventListener('click', () => { window.chooserOpened = true; }); });
  await page.click('.face-box[data-face="2"]');
  check(await page.getAttribute('.face-box[data-face="2"]', 'aria-checked') === 'true' &&
    await page.getAttribute('.face-box[data-face="1"]', 'aria-checked') === 'false', 'face 2 picked');
  check(await page.evaluate(() => window.chooserOpened === false), 'picking a face does not open the file chooser');

  // 5. face 2 driven by a video with sound, side by side: the result takes the whole width,
  // plays with sound, and downloads under a name made of the inputs
  await page.click('#tab-video');
  await drop('#driving-drop', driver, 'driver.mp4', 'video/mp4');
  await page.waitForSelector('#driving-preview:not([hidden])');
  check(await page.isVisible('#engine'), 'the engine menu is in sight without opening the options');
  await page.click('summary');
  await page.check('#compare');
  await watchJobForm(page); // the form the page posts: text fields, and files by name
  await page.click('#animate');
  let sent = Object.fromEntries(await page.evaluate(() => window.sentFields || []));
  let want = { source: 'file:two faces.png', face: '2', driving: 'file:driver.mp4', mode: 'relative', expression_scale: '1',
    pose_scale: '1', eyes: '1', lips: '1', background: 'still', compare: 'true', format: 'mp4', engine: 'warp' };
  check(JSON.stringify(sent) === JSON.stringify(want), `form sent for face 2 + driver: ${JSON.stringify(sent)}`);
  await page.waitForSelector('#result:not([hidden])', { timeout: 180000 });
  const sideBySide = await page.evaluate(() => ({
    wide: document.getElementById('result').classList.contains('wide'),
    portraitShown: !document.getElementById('result-source-figure').hidden,
    videoWidth: document.getElementById('result-video').getBoundingClientRect().width,
    panelWidth: document.getElementById('result').getBoundingClientRect().width,
    caption: document.getElementById('result-caption').textContent,
    download: document.getElementById('download').download,
  }));
  check(sideBySide.wide && !sideBySide.portraitShown && sideBySide.videoWidth > 0.9 * (sideBySide.panelWidth - 34),
    `side by side at full width: ${JSON.stringify(sideBySide)}`);
  check(sideBySide.download === 'two_faces-driver-warp-compare.mp4', `download name: ${sideBySide.download}`);
  const withSound = await page.waitForFunction(() => {
    const v = document.getElementById('result-video');
    return v.readyState >= 2 && !v.paused && v.currentTime > 0.2 && !v.muted && v.volume > 0;
  }, null, { timeout: 20000 }).then(() => true, () => false);
  check(withSound && !(await page.isVisible('#unmute')), 'the result of a driver with sound plays with sound');
  const driven = await page.$eval('#result-video', (v) => ({ w: v.videoWidth, h: v.videoHeight }));
  check(driven.w >= 2 * 564 && driven.h >= 400, `side-by-side video size (portrait | driver | result): ${JSON.stringify(driven)}`);
  if (screenshotPath) await page.screenshot({ path: screenshotPath.replace(/(\.\w+)?$/, '-faces$1'), fullPage: true });
  const drivenHref = await page.getAttribute('#download', 'href');
  const drivenHeaders = await page.evaluate(async () => {
    const r = await fetch(document.getElementById('download').getAttribute('href'));
    return r.headers.get('content-disposition');
  });
  check(drivenHeaders === 'inline; filename="two_faces-driver-warp-compare.mp4"', `Content-Disposition: ${drivenHeaders}`);

  // where a browser refuses sound without a click: muted, with an obvious button for it
  const fallback = await page.evaluate(async () => {
    const play = HTMLMediaElement.prototype.play;
    HTMLMediaElement.prototype.play = function () {
      return this.muted ? play.call(this) : Promise.reject(new DOMException('no sound without a gesture', 'NotAllowedError'));
    };
    playResult(true);
    await new Promise((done) => setTimeout(done, 300));
    const before = { muted: document.getElementById('result-video').muted, button: !document.getElementById('unmute').hidden };
    HTMLMediaElement.prototype.play = play;
    return before;
  });
  check(fallback.muted && fallback.button, `sound refused: plays muted with the button shown: ${JSON.stringify(fallback)}`);
  await page.click('#unmute');
  check(await page.$eval('#result-video', (v) => !v.muted) && !(await page.isVisible('#unmute')), 'the button turns the sound on');

  // 6. an input changes: the result on show is marked as the previous inputs'
  check(!(await page.isVisible('#result-stale')), 'a fresh result is not marked stale');
  await page.click('#tab-motion');
  const stale = await page.evaluate(() => ({
    marked: document.getElementById('result').classList.contains('stale'),
    note: !document.getElementById('result-stale').hidden,
    paused: document.getElementById('result-video').paused,
  }));
  check(stale.marked && stale.note && stale.paused, `result marked stale after the inputs changed: ${JSON.stringify(stale)}`);
  await page.uncheck('#compare');

  // a driving video without a face: the job fails with the driver's own hint
  await page.click('#tab-video');
  await drop('#driving-drop', facelessDriver, 'pattern.mp4', 'video/mp4');
  await page.waitForFunction(() => !document.getElementById('animate').disabled);
  await page.click('#animate');
  await page.waitForFunction(() => /no face/i.test(document.getElementById('message').textContent), null, { timeout: 60000 });
  check(/^No face found in any frame of the driving video\. Use a driving video in which one face/.test(await message()),
    `face-less driver: "${await message()}"`);
  await page.click('#tab-motion');

  // 7. the portrait, motion "nod", 2 seconds: progress, then the result plays
  await drop('#source-drop', portrait, 'mona_lisa.png', 'image/png');
  await page.waitForFunction(() => !document.getElementById('animate').disabled);
  check((await message()) === '', 'a good portrait clears the message');
  await page.click('.motion[data-motion="nod"]');
  check(await page.getAttribute('.motion[data-motion="nod"]', 'aria-checked') === 'true', 'motion picked');
  await page.$eval('#duration', (e) => { e.value = '2'; e.dispatchEvent(new Event('input')); });
  // the options: engines as the server lists them, labelled; the eyes and lips sliders show
  // their values; everything chosen goes into the form
  const choices = (id) => page.$$eval(`#${id} option`, (os) => os.map((o) => `${o.value}=${o.textContent}`).join('|'));
  check(await choices('engine') === 'warp=3D head (warp)|warp2d=2D warp (warp2d)|fsth=learned network, 128 px (fsth)|' +
    'hybrid=warp + learned detail (hybrid)', `engine menu: ${await choices('engine')}`);
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
  // one face: no face field
  await page.waitForFunction(() => document.getElementById('faces-note').textContent === 'One face found.', null, { timeout: 60000 });
  const jobStart = Date.now();
  await page.click('#animate');
  sent = Object.fromEntries(await page.evaluate(() => window.sentFields || []));
  want = { source: 'file:mona_lisa.png', motion: 'nod', duration: '2', mode: 'relative', expression_scale: '1', pose_scale: '1',
    eyes: '0.5', lips: '1.25', background: 'move', compare: 'false', format: 'mp4', engine: 'warp' };
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
  check(await page.evaluate(() => !document.getElementById('result').classList.contains('wide') &&
    !document.getElementById('result').classList.contains('stale')), 'the new result: beside its portrait, not stale');
  check(await page.$eval('#result-video', (v) => v.muted), 'a result without sound plays muted');
  const href = await page.getAttribute('#download', 'href');
  check(/^\/api\/jobs\/[0-9a-f]{32}\/result$/.test(href), `download link: ${href}`);
  const name = await page.getAttribute('#download', 'download');
  check(name === 'mona_lisa-nod-warp.mp4' && await page.textContent('#download-name') === name, `download name: ${name}`);
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
  // the first result, which the page left behind when it moved on, deleted through the API
  const first = await page.evaluate(async (h) => (await fetch(h, { method: 'DELETE' })).status, drivenHref.replace('/result', ''));
  check(first === 204, `the first job deleted: ${first}`);
  const files = (dir) => readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]);
  check(files(work).length === 0, `job files left after delete: ${files(work)}`);
  check(errorsBeforeDelete.length === 0, `page errors: ${errorsBeforeDelete.join(' | ')}`);
  check(externalRequests.length === 0, `requests to other hosts: ${externalRequests.join(' ')}`);
  console.log(`browser: portrait 320 px, nod 2 s (50 frames) done in ${jobSeconds.toFixed(1)} s; H.264 canPlayType "${video.h264}"`);
} catch (e) {
  fail(e.stack || e);
} finally {
  await closeAll({ browser, server, work, tmp }, 'browser', started);
}
