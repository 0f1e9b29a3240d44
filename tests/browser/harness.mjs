// The browser tests' common start and end (`vivify serve` started and stopped too): a skip (exit 77) without Debian's chromium,
// npm playwright-core or the ffmpeg CLI; check / fail with their counts; the summary line.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';

export const CHROMIUM = '/usr/bin/chromium';

export function skip(why) { console.log(`SKIPPED: ${why}`); process.exit(77); }

// The playwright chromium launcher, once the tools are known to be there (else a skip);
// ffmpegFor says what the test makes with ffmpeg.
export async function browserTools(ffmpegFor) {
  if (!existsSync(CHROMIUM)) skip(`${CHROMIUM} is not installed (apt-get install chromium; ./dev test does)`);
  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch (e) {
    skip('npm playwright-core is not installed in tests/browser (npm ci there; ./dev test does)');
  }
  if (spawnSync('ffmpeg', ['-version']).status !== 0) skip(`no ffmpeg to make ${ffmpegFor}`);
  return chromium;
}

const counts = { passed: 0, failed: 0 };
export function fail(what) { counts.failed++; console.log(`FAIL: ${what}`); }
export function check(condition, what) {
  if (condition) counts.passed++;
  else fail(what);
}

// The summary line and the exit status (0 pass, 1 fail).
export function finish(label, started) {
  console.log(`${label}: ${counts.passed} passed, ${counts.failed} failed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  process.exit(counts.failed ? 1 : 0);
}

// `vivify serve` on a free port with its temp folder in work, run in root (its shipped
// models); its first stdout line names the URL.  Fails if it exits or is silent for 20 s.
export async function startServer(vivify, work, root) {
  const child = spawn(resolve(vivify), ['serve', '--port', '0', '--temp', work], { stdio: ['ignore', 'pipe', 'pipe'], cwd: root });
  const server = { child, url: '', log: '' };
  child.stderr.on('data', (d) => { server.log += d; });
  server.url = await new Promise((ok, bad) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/http:\/\/[^ ]+\//);
      if (m) ok(m[0]);
    });
    child.on('exit', (code) => bad(new Error(`vivify serve exited (${code}): ${server.log}`)));
    setTimeout(() => bad(new Error('vivify serve did not start in 20 s')), 20000);
  });
  return server;
}

// SIGTERM, then: it removed its temp folder, and said nothing of a sanitizer.
export async function stopServer(server, work) {
  server.child.kill('SIGTERM');
  await new Promise((done) => { server.child.on('exit', done); setTimeout(done, 10000); });
  check(readdirSync(work).length === 0, 'the server removed its temp folder on stop');
  if (/AddressSanitizer|runtime error/.test(server.log)) fail(`sanitizer report:\n${server.log}`);
}

// A test's end, whatever happened in it: the browser closed (if it opened), the server
// stopped (its temp folder checked gone), the test's own temp folder removed, the counts.
export async function closeAll({ browser, server, work, tmp }, label, started) {
  if (browser) await browser.close();
  await stopServer(server, work);
  rmSync(tmp, { recursive: true, force: true });
  finish(label, started);
}

// Drag and drop, as a person does: a DataTransfer holding the file (named and typed as
// given, whatever it holds), dropped on the page's zone.
export async function dropFile(page, selector, file, name, type) {
  const base64 = readFileSync(file).toString('base64');
  await page.evaluate(({ selector, base64, name, type }) => {
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    const transfer = new DataTransfer();
    transfer.items.add(new File([bytes], name, { type }));
    const zone = document.querySelector(selector);
    for (const kind of ['dragenter', 'dragover', 'drop'])
      zone.dispatchEvent(new DragEvent(kind, { bubbles: true, cancelable: true, dataTransfer: transfer }));
  }, { selector, base64, name, type });
}

// The form the page posts to /api/jobs, watched through the page's fetch (chromium hands
// playwright no multipart body that holds a file): window.sentFields, text fields as they
// are and files as file:NAME.
export async function watchJobForm(page) {
  await page.evaluate(() => {
    const original = window.fetch;
    window.fetch = (url, options) => {
      if (url === '/api/jobs' && options && options.body instanceof FormData)
        window.sentFields = [...options.body.entries()].map(([k, v]) => [k, typeof v === 'string' ? v : `file:${v.name}`]);
      return original(url, options);
    };
  });
}
