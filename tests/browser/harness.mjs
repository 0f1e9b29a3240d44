// The browser tests' common start and end: a skip (exit 77) without Debian's chromium,
// npm playwright-core or the ffmpeg CLI; check / fail with their counts; the summary line.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

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
