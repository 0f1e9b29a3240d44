// The page's Voice tab (issue 17: audio on the web page) in a real browser: Debian's
// chromium, headless, driven by playwright-core, with chromium's fake microphone (a beep a
// second).  Takes the example portrait, opens Voice (Animate off until there is a recording),
// drops a file that is not a recording (the page says so), drops espeak-ng speech (a WAV):
// the page posts it as `audio` with no motion or length, the result lasts as long as the
// speech, plays with sound and is named after it; then records 2 s with the microphone
// (MediaRecorder), animates that recording: the result lasts about as long.  Deletes the jobs.
// usage: node voice.test.mjs PATH/TO/vivify
// exit 0 pass, 1 fail, 77 skipped (no chromium, playwright-core, ffmpeg or espeak-ng).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CHROMIUM, browserTools, check, closeAll, dropFile, fail, skip, startServer, watchJobForm } from './harness.mjs';

const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run',
  '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream'];
const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '..', '..');
const [vivify] = process.argv.slice(2);
if (!vivify) { console.error('usage: node voice.test.mjs PATH/TO/vivify'); process.exit(2); }
const chromium = await browserTools('the test speech');
if (spawnSync('espeak-ng', ['--version']).status !== 0) skip('no espeak-ng to make the test speech');

const tmp = mkdtempSync(join(tmpdir(), 'vivify-voice-'));
const work = join(tmp, 'work');
spawnSync('mkdir', ['-p', work]);
const speech = join(tmp, 'greeting.wav');
spawnSync('espeak-ng', ['-w', speech, 'Hello there, my friend. Maybe we can meet.']);
if (!existsSync(speech)) skip('espeak-ng made no speech');
const seconds = Number(spawnSync('ffprobe', ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', speech]).stdout);

// The server on a free port, in the checkout (its shipped models: every engine).
const server = await startServer(vivify, work, root);
const url = server.url;

let browser;
const started = Date.now();
try {
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
  const context = await browser.newContext({ viewport: { width: 1120, height: 900 } });
  await context.grantPermissions(['microphone'], { origin: url.replace(/\/$/, '') });
  const page = await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(m.text()); });
  await page.goto(url);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 15000 });
  const drop = (selector, file, name, type) => dropFile(page, selector, file, name, type);
  const message = async () => (await page.isVisible('#message')) ? (await page.textContent('#message')) : '';
  await watchJobForm(page); // the form the page posts: text fields, and files by name

  await page.click('.example[data-name="mona_lisa.png"]');
  await page.waitForFunction(() => document.getElementById('faces-note').textContent === 'One face found.', null, { timeout: 60000 });
  await page.click('#tab-voice');
  check(await page.isVisible('#voice-panel') && !(await page.isVisible('#motion-panel')), 'the Voice tab shows its panel');
  check(await page.isDisabled('#animate'), 'Animate waits for a recording');

  // not a recording: said, and Animate stays off
  await drop('#audio-drop', join(root, 'examples', 'mona_lisa.png'), 'speech.wav', 'audio/wav');
  await page.waitForSelector('#message:not([hidden])', { timeout: 5000 });
  check(/Unsupported file: speech\.wav is not a recording/.test(await message()), `not a recording: "${await message()}"`);
  check(await page.isDisabled('#animate'), 'Animate stays off for an image as the recording');

  // a WAV: posted as `audio`, the result as long as the speech, with sound, named after it
  await drop('#audio-drop', speech, 'greeting.wav', 'audio/wav');
  await page.waitForSelector('#audio-preview:not([hidden])');
  check(!(await page.isDisabled('#animate')) && (await message()) === '', 'a WAV is taken: Animate on');
  await page.click('#animate');
  const sent = Object.fromEntries(await page.evaluate(() => window.sentFields || []));
  check(sent.audio === 'file:greeting.wav' && sent.source === 'file:mona_lisa.png' && !('motion' in sent) && !('duration' in sent) &&
    !('driving' in sent), `form sent: ${JSON.stringify(sent)}`);
  await page.waitForSelector('#result:not([hidden])', { timeout: 180000 });
  const sounding = await page.waitForFunction(() => {
    const v = document.getElementById('result-video');
    return v.readyState >= 2 && !v.paused && v.currentTime > 0.2 && !v.muted;
  }, null, { timeout: 20000 }).then(() => true, () => false);
  const wav = await page.$eval('#result-video', (v) => ({ duration: v.duration, name: document.getElementById('download').download }));
  check(sounding, `the result plays with sound: ${JSON.stringify(wav)}`);
  check(Math.abs(wav.duration - seconds) < 0.12, `the result lasts ${wav.duration} s, the speech ${seconds} s`);
  check(wav.name === 'mona_lisa-greeting-warp.mp4', `download name: ${wav.name}`);
  const first = await page.getAttribute('#download', 'href');

  // a recording made here: 2 s from the (fake) microphone, then animated
  await page.click('#record-start');
  await page.waitForSelector('#record-stop:not([hidden])', { timeout: 5000 });
  check(await page.isDisabled('#animate'), 'Animate waits while recording');
  await page.waitForTimeout(2000);
  await page.click('#record-stop');
  await page.waitForFunction(() => /^recording\./.test(document.getElementById('audio-hint').textContent), null, { timeout: 5000 });
  const recorded = await page.evaluate(() => ({ hint: document.getElementById('audio-hint').textContent,
    time: document.getElementById('record-time').textContent, stale: document.getElementById('result').classList.contains('stale') }));
  check(/Recorded [12]\.\d s/.test(recorded.time) && recorded.stale, `recorded: ${JSON.stringify(recorded)}`);
  await page.click('#animate');
  const sent2 = Object.fromEntries(await page.evaluate(() => window.sentFields || []));
  check(/^file:recording\.(webm|ogg|m4a)$/.test(sent2.audio), `the recording sent: ${sent2.audio}`);
  await page.waitForFunction((h) => !document.getElementById('result').hidden &&
    document.getElementById('download').getAttribute('href') !== h, first, { timeout: 180000 });
  const rec = await page.waitForFunction(() => {
    const v = document.getElementById('result-video');
    return v.readyState >= 1 && v.duration > 0 && { duration: v.duration, name: document.getElementById('download').download };
  }, null, { timeout: 20000 }).then((h) => h.jsonValue(), () => null);
  check(rec && rec.duration > 1.5 && rec.duration < 3, `the recorded result: ${JSON.stringify(rec)}`);
  check(rec && /^mona_lisa-recording-warp\.mp4$/.test(rec.name), `its name: ${rec && rec.name}`);

  for (const href of [first, await page.getAttribute('#download', 'href')]) {
    const status = await page.evaluate(async (h) => (await fetch(h, { method: 'DELETE' })).status, href.replace('/result', ''));
    check(status === 204, `job deleted: ${status}`);
  }
  check(pageErrors.length === 0, `page errors: ${pageErrors.join(' | ')}`);
} catch (e) {
  fail(e.stack || e);
} finally {
  await closeAll({ browser, server, work, tmp }, 'voice', started);
}
