// vivify serve: the page's logic.  Talks to the JSON API (docs/API.md) on the same server;
// no frameworks, no other hosts.
'use strict';

const $ = (id) => document.getElementById(id);
const state = {
  config: { max_upload_bytes: 100 * 1048576, engines: ['warp', 'warp2d'] },
  source: null,      // File
  driving: null,     // File
  audio: null,       // File: a voice recording (the Voice tab), chosen or recorded here
  useVideo: false,
  useVoice: false,   // the Voice tab is open: the recording drives the mouth, talk the rest
  useLive: false,    // the Live camera tab is open
  motion: 'talk',
  job: null,         // id of the job this page follows
  jobInfo: null,     // what that job was asked for: { gif, compare, sourceUrl }
  poll: null,
  sourceUrl: null,
  faces: null,       // the portrait's faces as POST /api/faces lists them, or null (not known)
  face: 1,           // the face to animate (1 = the largest)
  facesRun: 0,       // bumped for each new portrait: an older search's answer is dropped
  sourceFailed: false, // the portrait cannot be animated (no face, unreadable): Animate stays off
};

// What the engine menu says for each engine the server offers (others show their name).
const ENGINE_LABELS = {
  warp: '3D head (warp)', warp2d: '2D warp (warp2d)',
  fsth: 'learned network, 128 px (fsth)', hybrid: 'warp + learned detail (hybrid)',
};
const sleep = (ms) => new Promise((done) => setTimeout(done, ms));

// ------------------------------------------------------------------ messages

function showMessage(text, kind = 'error') {
  const box = $('message');
  box.textContent = text;
  box.className = 'message ' + kind;
  box.hidden = !text;
}

// The API's errors, said plainly for each HTTP status the server uses.
function explain(status, error) {
  const text = error || 'unknown error';
  if (status === 413) return 'Too large: ' + text.replace(/^too large:\s*/i, '') + '. Try a smaller file.';
  if (status === 415) return text.replace(/^unsupported file:\s*/i, 'Unsupported file: ') + '.';
  if (status === 429) return 'The server is busy: ' + text + '.';
  if (status === 403) return 'Refused: ' + text + '.';
  if (/no face found/i.test(text) && /driving|driver/i.test(text))
    return capitalize(text) + '. Use a driving video in which one face is clearly visible and turned toward the camera.';
  if (/no face found/i.test(text)) return capitalize(text) + '. Try a photo where one face is large, frontal and well lit.';
  return capitalize(text) + '.';
}

function capitalize(s) { return s ? s[0].toUpperCase() + s.slice(1) : s; }

async function api(method, url, body) {
  let response;
  try {
    response = await fetch(url, { method, body });
  } catch (e) {
    throw new Error('The server cannot be reached. Is vivify serve still running?');
  }
  let data = null;
  if (response.status !== 204) {
    try { data = await response.json(); } catch (e) { data = null; }
  }
  if (!response.ok) {
    const err = new Error(explain(response.status, data && data.error));
    err.status = response.status;
    throw err;
  }
  return data;
}

// ------------------------------------------------------------------ files

// What a file is, from its first bytes (as the server decides; the name says nothing).
async function sniff(file) {
  const b = new Uint8Array(await file.slice(0, 16).arrayBuffer());
  const at = (offset, text) => [...text].every((c, i) => b[offset + i] === c.charCodeAt(0));
  if (b[0] === 0x89 && at(1, 'PNG')) return 'image';
  if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'image';
  if (at(4, 'ftyp') && !at(8, 'heic') && !at(8, 'avif') && !at(8, 'mif1')) return 'video';
  if (at(4, 'moov') || at(4, 'mdat') || at(4, 'wide')) return 'video';
  if (b[0] === 0x1a && b[1] === 0x45 && b[2] === 0xdf && b[3] === 0xa3) return 'video';
  if (at(0, 'RIFF') && at(8, 'AVI ')) return 'video';
  if (at(0, 'GIF8')) return 'video';
  if (at(0, 'RIFF') && at(8, 'WAVE')) return 'audio';
  if (at(0, 'ID3') || at(0, 'OggS') || at(0, 'fLaC')) return 'audio';
  if (b[0] === 0xff && (b[1] & 0xe6) === 0xe2) return 'audio'; // an MP3 frame (layer III)
  return 'other';
}

function megabytes(bytes) { return (bytes / 1048576).toFixed(bytes < 10485760 ? 1 : 0) + ' MB'; }

async function takeFile(kind, file) {
  if (!file) return;
  const what = await sniff(file);
  const limit = state.config.max_upload_bytes;
  if (file.size > limit) {
    showMessage(`Too large: ${file.name} is ${megabytes(file.size)}; uploads are limited to ${megabytes(limit)}.`);
    return;
  }
  if (kind === 'source' && what !== 'image') {
    showMessage(`Unsupported file: ${file.name} is not a PNG or JPEG image.`);
    return;
  }
  if (kind === 'driving' && what !== 'video') {
    showMessage(`Unsupported file: ${file.name} is not a video vivify can read (MP4, MOV, MKV, WebM, AVI or GIF).`);
    return;
  }
  const gif = new Uint8Array(await file.slice(0, 4).arrayBuffer())[0] === 0x47 && what === 'video';
  if (kind === 'audio' && (what === 'image' || what === 'other' || gif)) {
    showMessage(`Unsupported file: ${file.name || 'the recording'} is not a recording vivify can read (WAV, MP3, Ogg, FLAC, WebM or MP4).`);
    return;
  }
  showMessage('');
  markStale();
  if (kind === 'source') {
    if (live.id) stopLive('The portrait changed: press Start camera to go on with the new one.', 'info');
    state.source = file;
    if (state.sourceUrl) URL.revokeObjectURL(state.sourceUrl);
    state.sourceUrl = URL.createObjectURL(file);
    $('source-preview').src = state.sourceUrl;
    $('source-frame').hidden = false;
    $('source-hint').hidden = true;
    findFaces(file);
  } else if (kind === 'audio') {
    state.audio = file;
    const audio = $('audio-preview');
    if (audio.src) URL.revokeObjectURL(audio.src);
    audio.src = URL.createObjectURL(file);
    audio.hidden = false;
    const small = document.createElement('small');
    small.textContent = 'drop or click for another';
    $('audio-hint').replaceChildren(file.name || 'recording', document.createElement('br'), small);
  } else {
    state.driving = file;
    const video = $('driving-preview');
    if (video.src) URL.revokeObjectURL(video.src);
    video.src = URL.createObjectURL(file);
    video.hidden = false;
    video.play().catch(() => {});
    $('driving-hint').hidden = true;
  }
  updateButtons();
}

function setUpDrop(zoneId, inputId, kind) {
  const zone = $(zoneId), input = $(inputId);
  zone.addEventListener('click', () => input.click());
  zone.addEventListener('keydown', (e) => {
    if (e.target !== zone) return; // a face box inside the zone has its own keys
    if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); input.click(); }
  });
  input.addEventListener('change', () => takeFile(kind, input.files[0]));
  ['dragenter', 'dragover'].forEach((type) => zone.addEventListener(type, (e) => {
    e.preventDefault();
    zone.classList.add('over');
  }));
  ['dragleave', 'dragend'].forEach((type) => zone.addEventListener(type, () => zone.classList.remove('over')));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    const files = e.dataTransfer && e.dataTransfer.files;
    if (files && files.length) takeFile(kind, files[0]);
  });
}

// An example portrait: fetched from the server (it ships inside vivify) and taken as a dropped file.
async function takeExample(button) {
  try {
    const response = await fetch(button.dataset.url);
    if (!response.ok) throw new Error(String(response.status));
    const blob = await response.blob();
    await takeFile('source', new File([blob], button.dataset.name, { type: blob.type }));
  } catch (e) {
    showMessage(`The example ${button.dataset.name} could not be loaded (${e.message}).`);
  }
}

// Files dropped outside the zones would make the browser navigate away from the page.
window.addEventListener('dragover', (e) => e.preventDefault());
window.addEventListener('drop', (e) => e.preventDefault());

// ------------------------------------------------------------------ faces

function facesNote(text) {
  $('faces-note').textContent = text;
  $('faces-note').hidden = !text;
}

// Asks the server for the portrait's faces (POST /api/faces, a quick job of its own), to
// number them on the preview when there are several, and to say at once when there is none.
// A busy or older server just leaves the picker out: face 1 is animated.
async function findFaces(file) {
  const run = ++state.facesRun;
  state.faces = null;
  state.face = 1;
  state.sourceFailed = false;
  renderFaces();
  facesNote('Looking for faces…');
  const current = () => run === state.facesRun;
  let id = null;
  try {
    const form = new FormData();
    form.append('source', file, file.name || 'portrait');
    ({ id } = await api('POST', '/api/faces', form));
    let status;
    for (;;) {
      status = await api('GET', `/api/jobs/${id}`);
      if (status.state === 'done' || status.state === 'failed' || !current()) break;
      await sleep(200);
    }
    if (!current()) return;
    if (status.state === 'failed') {
      state.sourceFailed = true;
      facesNote('');
      showMessage(explain(200, status.error));
      return;
    }
    const found = await api('GET', `/api/jobs/${id}/result`);
    if (!current()) return;
    state.faces = found;
    const n = found.faces.length;
    if (n === 0) {
      state.sourceFailed = true;
      facesNote('');
      showMessage(explain(200, 'no face found in the portrait'));
    } else {
      facesNote(n === 1 ? 'One face found.' : `${n} faces found: click the one to animate (1 is the largest).`);
    }
    renderFaces();
  } catch (e) {
    if (current()) facesNote('');
  } finally {
    if (id) api('DELETE', `/api/jobs/${id}`).catch(() => {});
    if (current()) updateButtons();
  }
}

// Numbered boxes over the preview, one per face, when there is a choice to make.
function renderFaces() {
  const holder = $('face-boxes');
  holder.textContent = '';
  const found = state.faces;
  if (!found || found.faces.length < 2 || !(found.width > 0 && found.height > 0)) return;
  const percent = (v, size) => `${(100 * Math.min(Math.max(v / size, 0), 1)).toFixed(3)}%`;
  found.faces.forEach((face, i) => {
    const [x0, y0, x1, y1] = face.box;
    const box = document.createElement('button');
    box.type = 'button';
    box.className = 'face-box' + (state.face === i + 1 ? ' selected' : '');
    box.dataset.face = String(i + 1);
    box.setAttribute('role', 'radio');
    box.setAttribute('aria-checked', String(state.face === i + 1));
    box.setAttribute('aria-label', `Face ${i + 1}`);
    box.style.left = percent(x0, found.width);
    box.style.top = percent(y0, found.height);
    box.style.width = percent(x1 - Math.max(x0, 0), found.width);
    box.style.height = percent(y1 - Math.max(y0, 0), found.height);
    const label = document.createElement('span');
    label.textContent = String(i + 1);
    box.append(label);
    box.addEventListener('click', (e) => {
      e.stopPropagation(); // not the drop zone's file chooser
      if (state.face !== i + 1) markStale();
      state.face = i + 1;
      renderFaces();
    });
    holder.append(box);
  });
}

// ------------------------------------------------------------------ motion previews

// 68-point landmark layout: the strokes a face is drawn with.
const STROKES = [[0, 16, false], [17, 21, false], [22, 26, false], [27, 30, false], [31, 35, false],
  [36, 41, true], [42, 47, true], [48, 59, true], [60, 67, true]];

function drawFace(ctx, frame, box, size) {
  const scale = (size - 12) / Math.max(box.w, box.h);
  const ox = (size - box.w * scale) / 2 - box.x * scale, oy = (size - box.h * scale) / 2 - box.y * scale;
  ctx.clearRect(0, 0, size, size);
  ctx.lineWidth = 1.6;
  ctx.lineJoin = ctx.lineCap = 'round';
  ctx.strokeStyle = getComputedStyle(document.body).getPropertyValue('--ink') || '#222';
  for (const [a, b, closed] of STROKES) {
    ctx.beginPath();
    for (let k = a; k <= b; k++) {
      const x = frame[2 * k] * scale + ox, y = frame[2 * k + 1] * scale + oy;
      if (k === a) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    }
    if (closed) ctx.closePath();
    ctx.stroke();
  }
}

function renderMotions(motions) {
  const holder = $('motions');
  holder.textContent = '';
  const players = [];
  for (const m of motions) {
    const card = document.createElement('button');
    card.type = 'button';
    card.className = 'motion';
    card.setAttribute('role', 'radio');
    card.dataset.motion = m.name;
    const canvas = document.createElement('canvas');
    const size = 88;
    canvas.width = canvas.height = size * (window.devicePixelRatio || 1);
    canvas.style.width = canvas.style.height = size + 'px';
    const label = document.createElement('span');
    label.textContent = m.name;
    card.append(canvas, label);
    card.addEventListener('click', () => selectMotion(m.name));
    holder.append(card);
    // one box for all frames, so the head visibly moves inside it
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (const f of m.frames) for (let k = 0; k < 68; k++) {
      x0 = Math.min(x0, f[2 * k]); x1 = Math.max(x1, f[2 * k]);
      y0 = Math.min(y0, f[2 * k + 1]); y1 = Math.max(y1, f[2 * k + 1]);
    }
    const ctx = canvas.getContext('2d');
    ctx.scale(window.devicePixelRatio || 1, window.devicePixelRatio || 1);
    players.push({ m, ctx, size, box: { x: x0, y: y0, w: x1 - x0, h: y1 - y0 } });
  }
  const start = performance.now();
  const tick = (now) => {
    for (const p of players) {
      const index = Math.floor((Math.max(0, now - start) / 1000) * p.m.fps) % p.m.frames.length;
      drawFace(p.ctx, p.m.frames[index], p.box, p.size);
    }
    requestAnimationFrame(tick);
  };
  requestAnimationFrame(tick);
  if (motions.length && !motions.some((m) => m.name === state.motion)) state.motion = motions[0].name;
  selectMotion(state.motion);
}

function selectMotion(name) {
  if (name !== state.motion) markStale();
  state.motion = name;
  for (const card of document.querySelectorAll('.motion')) {
    const on = card.dataset.motion === name;
    card.classList.toggle('selected', on);
    card.setAttribute('aria-checked', on ? 'true' : 'false');
  }
}

function useVideo(on) { showTab(on ? 'video' : 'motion'); }

// The motion's four tabs: a built-in motion, a driving video, a voice (a recording: the mouth
// follows it, the talk motion the rest), or the live camera (which has its own Start button
// instead of Animate).
function showTab(tab) {
  const video = tab === 'video', voice = tab === 'voice', liveTab = tab === 'live';
  if ((video !== state.useVideo || voice !== state.useVoice) && !liveTab && !state.useLive) markStale();
  if (!liveTab && live.id) stopLive('');
  if (!voice && recorder.active) stopRecording();
  state.useVideo = video;
  state.useVoice = voice;
  state.useLive = liveTab;
  $('tab-motion').setAttribute('aria-selected', String(tab === 'motion'));
  $('tab-video').setAttribute('aria-selected', String(video));
  $('tab-voice').setAttribute('aria-selected', String(voice));
  $('tab-live').setAttribute('aria-selected', String(liveTab));
  $('motion-panel').hidden = tab !== 'motion';
  $('video-panel').hidden = !video;
  $('voice-panel').hidden = !voice;
  $('live-panel').hidden = !liveTab;
  $('animate').hidden = liveTab;
  updateButtons();
}

// ------------------------------------------------------------------ jobs

function busy() { return state.job !== null && $('result').hidden && !$('progress').hidden; }

function updateButtons() {
  const ready = state.source && !state.sourceFailed && (!state.useVideo || state.driving) &&
    (!state.useVoice || (state.audio && !recorder.active));
  $('animate').disabled = !ready || busy();
  $('live-start').disabled = !state.source || state.sourceFailed || live.starting || live.id !== null;
}

async function startJob() {
  showMessage('');
  const form = new FormData();
  // the file names make the download's name (the server keeps only safe characters)
  form.append('source', state.source, state.source.name || 'portrait');
  if (state.faces && state.faces.faces.length > 1) form.append('face', String(state.face));
  if (state.useVideo) form.append('driving', state.driving, state.driving.name || 'driver');
  else if (state.useVoice) form.append('audio', state.audio, state.audio.name || 'recording');
  else {
    form.append('motion', state.motion);
    form.append('duration', $('duration').value);
  }
  form.append('mode', $('mode').value);
  form.append('expression_scale', $('expression-scale').value);
  form.append('pose_scale', $('pose-scale').value);
  form.append('eyes', $('eyes').value);
  form.append('lips', $('lips').value);
  form.append('background', $('background').value);
  form.append('compare', $('compare').checked ? 'true' : 'false');
  form.append('format', $('format').value);
  form.append('engine', $('engine').value);
  $('animate').disabled = true;
  clearResult();
  setProgress('Uploading…', 0);
  // the portrait shown beside the result: its own URL, kept while a new portrait is chosen
  const info = { gif: $('format').value === 'gif', compare: $('compare').checked, sourceUrl: URL.createObjectURL(state.source) };
  try {
    const { id } = await api('POST', '/api/jobs', form);
    follow(id, info);
  } catch (e) {
    URL.revokeObjectURL(info.sourceUrl);
    $('progress').hidden = true;
    showMessage(e.message);
    updateButtons();
  }
}

function setProgress(text, fraction) {
  $('progress').hidden = false;
  $('cancel').hidden = false;
  $('progress-text').textContent = text;
  $('bar-fill').style.width = (100 * fraction).toFixed(1) + '%';
  $('bar').setAttribute('aria-valuenow', String(Math.round(100 * fraction)));
}

function follow(id, info) {
  state.job = id;
  if (state.jobInfo && state.jobInfo !== info && state.jobInfo.sourceUrl) URL.revokeObjectURL(state.jobInfo.sourceUrl);
  state.jobInfo = info;
  try {
    sessionStorage.setItem('vivify-job', JSON.stringify({ id, gif: info.gif, compare: info.compare }));
  } catch (e) { /* private mode */ }
  clearTimeout(state.poll);
  updateButtons();
  poll();
}

function seconds(s) {
  if (s == null) return '';
  if (s < 60) return `about ${Math.max(1, Math.round(s))} s left`;
  return `about ${Math.floor(s / 60)} min ${Math.round(s % 60)} s left`;
}

async function poll() {
  const id = state.job;
  if (!id) return;
  let status;
  try {
    status = await api('GET', `/api/jobs/${id}`);
  } catch (e) {
    if (e.status === 404) { forget(); showMessage('This job is gone from the server (deleted, or the server restarted).'); return; }
    state.poll = setTimeout(poll, 1500); // a hiccup: try again
    return;
  }
  if (id !== state.job) return;
  if (status.state === 'queued') {
    setProgress('Waiting for a free slot…', 0);
  } else if (status.state === 'running') {
    // the driving video has no face yet: say so, rather than a percentage that does not move
    const label = status.searching ? 'Looking for a face in the driving video…' : 'Animating…';
    const parts = [`${label} ${Math.round(status.progress * 100)}%`];
    if (status.fps > 0) parts.push(`${status.fps.toFixed(1)} frames/s`);
    if (status.eta_s != null && status.progress > 0) parts.push(seconds(status.eta_s));
    setProgress(parts.join(' · '), status.progress);
  } else if (status.state === 'done') {
    setProgress('Done', 1);
    showResult(id, status);
    return;
  } else {
    $('progress').hidden = true;
    $('cancel').hidden = true;
    showMessage(explain(200, status.error));
    forget(false);
    return;
  }
  state.poll = setTimeout(poll, 400);
}

// The result: beside its portrait, or alone at full width when it is side by side already
// (portrait | driver | result); with sound when the job had some.
function showResult(id, status) {
  const info = state.jobInfo || { gif: false, compare: false, sourceUrl: null };
  const gif = info.gif;
  const url = `/api/jobs/${id}/result`;
  $('cancel').hidden = true;
  $('progress').hidden = true;
  // full width when side by side, or alone (followed again after a reload: no portrait to show)
  $('result').classList.toggle('wide', info.compare || !info.sourceUrl);
  $('result').classList.remove('stale');
  $('result-stale').hidden = true;
  $('result-source').src = info.sourceUrl || '';
  $('result-source-figure').hidden = info.compare || !info.sourceUrl;
  $('result-caption').textContent = info.compare ? 'Portrait | driver | animated' : 'Animated';
  const video = $('result-video'), image = $('result-gif');
  video.hidden = gif;
  image.hidden = !gif;
  $('unmute').hidden = true;
  if (gif) { image.src = url; video.removeAttribute('src'); } else {
    video.src = url;
    playResult(status.audio === true);
  }
  const download = $('download');
  download.href = url;
  download.download = status.filename || (gif ? 'vivify.gif' : 'vivify.mp4');
  $('download-name').textContent = download.download;
  $('result').hidden = false;
  updateButtons();
}

// Browsers may refuse to start a video with sound by itself: then it plays muted with an
// obvious button for the sound.
function playResult(audio) {
  const video = $('result-video');
  video.muted = !audio;
  video.play().catch(() => {
    if (!audio) return; // the controls are there
    video.muted = true;
    $('unmute').hidden = false;
    video.play().catch(() => {});
  });
}

function unmute() {
  const video = $('result-video');
  video.muted = false;
  $('unmute').hidden = true;
  video.play().catch(() => {});
}

function clearResult() {
  const video = $('result-video');
  video.pause();
  video.removeAttribute('src');
  video.load();
  $('result-gif').removeAttribute('src');
  $('result').hidden = true;
  $('unmute').hidden = true;
}

// A new input, motion, face or option: the result on show is no longer what Animate would
// make, and says so.
function markStale() {
  if ($('result').hidden || $('result').classList.contains('stale')) return;
  $('result').classList.add('stale');
  $('result-stale').hidden = false;
  $('result-video').pause();
  $('unmute').hidden = true;
}

function forget(keepResult = true) {
  clearTimeout(state.poll);
  if (!keepResult) state.job = null;
  try { sessionStorage.removeItem('vivify-job'); } catch (e) { /* private mode */ }
  updateButtons();
}

async function cancelJob() {
  const id = state.job;
  state.job = null;
  clearTimeout(state.poll);
  $('progress').hidden = true;
  $('cancel').hidden = true;
  forget(false);
  if (id) await api('DELETE', `/api/jobs/${id}`).catch(() => {});
  showMessage('Cancelled.', 'info');
}

async function deleteResult() {
  const id = state.job;
  clearResult();
  forget(false);
  if (id) {
    try { await api('DELETE', `/api/jobs/${id}`); showMessage('Deleted from the server.', 'info'); } catch (e) { showMessage(e.message); }
  }
}

// ------------------------------------------------------------------ live camera

// One live session (POST /api/live): the camera's frames, mirrored, scaled to at most 640
// px and sent as JPEG one at a time (the next once the last one's answer is in, at most
// max_fps a second); each answer, the animated frame, is shown as it comes, with the round
// trip (sent to shown) measured.
const live = {
  id: null, run: 0, starting: false, stream: null,
  rtts: [], serverMs: [], frames: 0, faceless: 0, started: 0, shownUrl: null,
};
const LIVE_SIDE = 640;

function cameraError(e) {
  const name = (e && e.name) || '';
  if (name === 'NotAllowedError' || name === 'SecurityError' || name === 'PermissionDeniedError')
    return 'The camera was refused. Allow this page to use the camera (the camera icon in the address bar), then press Start camera again.';
  if (name === 'NotFoundError' || name === 'DevicesNotFoundError' || name === 'OverconstrainedError')
    return 'No camera found. Connect one (or switch it on), then press Start camera again.';
  if (name === 'NotReadableError' || name === 'TrackStartError' || name === 'AbortError')
    return 'The camera could not be started: another program may be using it. Close that program, then press Start camera again.';
  return `The camera could not be started (${name || 'error'}: ${(e && e.message) || 'unknown'}).`;
}

function percentile(values, p) {
  if (!values.length) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

function liveStats() {
  const recent = live.rtts.slice(-60), server = live.serverMs.slice(-60);
  const seconds = (performance.now() - live.started) / 1000;
  const parts = [`${live.frames} frames`, `${(seconds > 0 ? live.frames / seconds : 0).toFixed(1)} frames/s`,
    `round trip ${Math.round(percentile(recent, 50))} ms (p95 ${Math.round(percentile(recent, 95))} ms)`,
    `server ${Math.round(percentile(server, 50))} ms`];
  if (live.lastFaceless) parts.push('no face in view: face the camera');
  $('live-stats').textContent = parts.join(' · ');
}

async function startLive() {
  showMessage('');
  if (!state.source || state.sourceFailed) { showMessage('Choose a portrait with a face first (1. Portrait).'); return; }
  if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    showMessage('This page cannot use a camera here: browsers give cameras only to secure pages. Open it as ' +
      `http://localhost:${location.port || '80'}/ on the computer running vivify serve, or serve it over https.`);
    return;
  }
  const run = ++live.run;
  live.starting = true;
  updateButtons();
  $('live-note').hidden = true;
  let stream = null;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: false,
      video: { width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 30 } } });
    const engine = ['warp', 'warp2d'].includes($('engine').value) ? $('engine').value : 'warp';
    const form = new FormData();
    form.append('source', state.source, state.source.name || 'portrait');
    if (state.faces && state.faces.faces.length > 1) form.append('face', String(state.face));
    form.append('engine', engine);
    form.append('expression_scale', $('expression-scale').value);
    form.append('pose_scale', $('pose-scale').value);
    form.append('eyes', $('eyes').value);
    form.append('lips', $('lips').value);
    form.append('background', $('background').value);
    $('live-note').textContent = 'Preparing the portrait…';
    $('live-note').hidden = false;
    const session = await api('POST', '/api/live', form);
    if (run !== live.run) { // stopped meanwhile
      api('DELETE', `/api/live/${session.id}`).catch(() => {});
      stream.getTracks().forEach((track) => track.stop());
      return;
    }
    live.id = session.id;
    live.stream = stream;
    $('live-note').textContent = engine !== $('engine').value ? `Live uses the ${engine} engine.` : '';
    $('live-note').hidden = !$('live-note').textContent;
  } catch (e) {
    if (stream) stream.getTracks().forEach((track) => track.stop());
    $('live-note').hidden = true;
    live.starting = false;
    updateButtons();
    if (run === live.run) showMessage(e instanceof DOMException ? cameraError(e) : e.message);
    return;
  } finally {
    live.starting = false;
  }
  Object.assign(live, { rtts: [], serverMs: [], frames: 0, faceless: 0, lastFaceless: false, started: performance.now() });
  const video = $('live-camera');
  video.srcObject = live.stream;
  video.play().catch(() => {});
  $('live-view').hidden = false;
  $('live-stats').textContent = 'Starting…';
  $('live-start').hidden = true;
  $('live-stop').hidden = false;
  $('live-neutral').hidden = false;
  updateButtons();
  // the camera stopping (unplugged, or its permission taken back) ends the session
  for (const track of live.stream.getVideoTracks())
    track.addEventListener('ended', () => { if (run === live.run) stopLive('The camera stopped (disconnected, or its permission was taken back).'); });
  liveLoop(run, live.id);
}

async function liveLoop(run, id) {
  const video = $('live-camera');
  const canvas = document.createElement('canvas'), ctx = canvas.getContext('2d');
  const limits = state.config.live || {};
  const interval = 1000 / Math.min(30, limits.max_fps || 30);
  const side = Math.min(LIVE_SIDE, limits.max_frame_side || LIVE_SIDE);
  let last = 0, lastStats = 0;
  while (run === live.run) {
    const wait = last + interval - performance.now();
    if (wait > 0) await sleep(wait);
    if (run !== live.run) return;
    if (video.readyState < 2 || !video.videoWidth) { await sleep(20); continue; }
    const scale = Math.min(1, side / Math.max(video.videoWidth, video.videoHeight));
    canvas.width = Math.round(video.videoWidth * scale);
    canvas.height = Math.round(video.videoHeight * scale);
    ctx.setTransform(-1, 0, 0, 1, canvas.width, 0); // mirrored: the portrait moves as a mirror image does
    ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
    const blob = await new Promise((done) => canvas.toBlob(done, 'image/jpeg', 0.8));
    if (!blob || run !== live.run) continue;
    last = performance.now();
    let response;
    try {
      response = await fetch(`/api/live/${id}/frame`, { method: 'POST', body: blob, headers: { 'Content-Type': 'image/jpeg' } });
    } catch (e) {
      if (run === live.run) stopLive('The server cannot be reached. Is vivify serve still running?');
      return;
    }
    if (run !== live.run) return;
    if (response.status === 429) { await response.text(); continue; } // too fast: the next frame waits its turn
    if (!response.ok) {
      let data = null;
      try { data = await response.json(); } catch (e) { data = null; }
      stopLive(explain(response.status, data && data.error));
      return;
    }
    const image = await response.blob();
    if (run !== live.run) return;
    const url = URL.createObjectURL(image);
    const shown = $('live-result');
    await new Promise((done) => { shown.onload = shown.onerror = done; shown.src = url; });
    if (live.shownUrl) URL.revokeObjectURL(live.shownUrl);
    live.shownUrl = url;
    live.rtts.push(performance.now() - last);
    live.serverMs.push(Number(response.headers.get('X-Vivify-Worker-Ms')) || 0);
    live.lastFaceless = response.headers.get('X-Vivify-Face') === '0';
    live.faceless += live.lastFaceless;
    live.frames++;
    if (performance.now() - lastStats > 500 || live.frames < 3) { liveStats(); lastStats = performance.now(); }
  }
}

// The face as it is now becomes the neutral (the first face was, until now): the portrait
// rests when the face looks like this.
async function liveNeutral() {
  if (!live.id) return;
  try {
    await api('POST', `/api/live/${live.id}/recalibrate`);
    $('live-note').textContent = 'Neutral set: the portrait rests when your face looks as it does now.';
    $('live-note').hidden = false;
  } catch (e) {
    showMessage(e.message);
  }
}

// Ends the session: the camera off, the server told (also as the page goes away).
function stopLive(message, kind = 'error') {
  live.run++;
  const id = live.id;
  live.id = null;
  if (live.stream) live.stream.getTracks().forEach((track) => track.stop());
  live.stream = null;
  $('live-camera').srcObject = null;
  $('live-start').hidden = false;
  $('live-stop').hidden = true;
  $('live-neutral').hidden = true;
  if (id) {
    liveStats();
    fetch(`/api/live/${id}`, { method: 'DELETE', keepalive: true }).catch(() => {});
  }
  if (message) showMessage(message, kind);
  updateButtons();
}

// ------------------------------------------------------------------ voice recording

// A recording made here with the microphone (MediaRecorder), at most RECORD_LIMIT_S seconds,
// taken as a dropped file when it stops.
const RECORD_LIMIT_S = 60;
const recorder = { active: null, stream: null, chunks: [], started: 0, timer: null };

async function startRecording() {
  if (recorder.active) return;
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia || typeof MediaRecorder === 'undefined') {
    showMessage('This browser cannot record here (it needs a secure page: localhost or https). Choose a recording file instead.');
    return;
  }
  try {
    recorder.stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (e) {
    showMessage(`No microphone: ${e.message || e.name}. Choose a recording file instead.`);
    return;
  }
  showMessage('');
  recorder.chunks = [];
  const media = new MediaRecorder(recorder.stream);
  recorder.active = media;
  media.addEventListener('dataavailable', (e) => { if (e.data && e.data.size) recorder.chunks.push(e.data); });
  media.addEventListener('stop', () => {
    const type = media.mimeType || 'audio/webm';
    const extension = /ogg/.test(type) ? 'ogg' : /mp4/.test(type) ? 'm4a' : 'webm';
    const file = new File(recorder.chunks, `recording.${extension}`, { type });
    recorder.chunks = [];
    if (file.size) takeFile('audio', file);
    updateButtons();
  });
  media.start(250);
  recorder.started = Date.now();
  $('record-start').hidden = true;
  $('record-stop').hidden = false;
  const tick = () => {
    const s = (Date.now() - recorder.started) / 1000;
    $('record-time').textContent = `Recording… ${s.toFixed(0)} s (up to ${RECORD_LIMIT_S} s)`;
    if (s >= RECORD_LIMIT_S) stopRecording();
  };
  tick();
  recorder.timer = setInterval(tick, 250);
  updateButtons();
}

function stopRecording() {
  const media = recorder.active;
  if (!media) return;
  recorder.active = null;
  clearInterval(recorder.timer);
  if (media.state !== 'inactive') media.stop();
  if (recorder.stream) for (const track of recorder.stream.getTracks()) track.stop();
  recorder.stream = null;
  $('record-start').hidden = false;
  $('record-stop').hidden = true;
  $('record-time').textContent = `Recorded ${((Date.now() - recorder.started) / 1000).toFixed(1)} s`;
}

// ------------------------------------------------------------------ start

function bindRange(inputId, outputId, format) {
  const input = $(inputId), output = $(outputId);
  const show = () => { output.textContent = format(Number(input.value)); };
  input.addEventListener('input', show);
  show();
}

async function main() {
  setUpDrop('source-drop', 'source-input', 'source');
  setUpDrop('driving-drop', 'driving-input', 'driving');
  setUpDrop('audio-drop', 'audio-input', 'audio');
  $('tab-voice').addEventListener('click', () => showTab('voice'));
  $('record-start').addEventListener('click', startRecording);
  $('record-stop').addEventListener('click', stopRecording);
  $('tab-motion').addEventListener('click', () => useVideo(false));
  $('tab-video').addEventListener('click', () => useVideo(true));
  $('tab-live').addEventListener('click', () => showTab('live'));
  $('live-start').addEventListener('click', startLive);
  $('live-stop').addEventListener('click', () => stopLive('Stopped.', 'info'));
  $('live-neutral').addEventListener('click', liveNeutral);
  window.addEventListener('pagehide', () => { if (live.id) stopLive(''); });
  $('animate').addEventListener('click', startJob);
  $('cancel').addEventListener('click', cancelJob);
  $('delete').addEventListener('click', deleteResult);
  $('unmute').addEventListener('click', unmute);
  $('result-video').addEventListener('volumechange', () => { if (!$('result-video').muted) $('unmute').hidden = true; });
  for (const button of document.querySelectorAll('.example')) button.addEventListener('click', () => takeExample(button));
  // any option changed: the result on show is stale
  for (const control of document.querySelectorAll('.options input, .options select, #engine, #duration'))
    control.addEventListener(control.type === 'range' ? 'input' : 'change', markStale);
  bindRange('duration', 'duration-value', (v) => `${v} s`);
  bindRange('expression-scale', 'expression-value', (v) => v.toFixed(2));
  bindRange('pose-scale', 'pose-value', (v) => v.toFixed(2));
  bindRange('eyes', 'eyes-value', (v) => v.toFixed(2));
  bindRange('lips', 'lips-value', (v) => v.toFixed(2));
  try {
    state.config = await api('GET', '/api/config');
    $('version').textContent = state.config.version || '';
    const engine = $('engine'), chosen = engine.value;
    engine.textContent = '';
    for (const name of state.config.engines) engine.append(new Option(ENGINE_LABELS[name] || name, name));
    if (state.config.engines.includes(chosen)) engine.value = chosen;
    const { motions } = await api('GET', '/api/motions');
    renderMotions(motions);
  } catch (e) {
    showMessage(e.message);
  }
  // a job started before a reload keeps running on the server: follow it again
  let saved = null;
  try { saved = JSON.parse(sessionStorage.getItem('vivify-job')); } catch (e) { /* private mode, or nothing saved */ }
  if (saved && /^[0-9a-f]{32}$/.test(saved.id))
    follow(saved.id, { gif: saved.gif === true, compare: saved.compare === true, sourceUrl: null });
  document.body.dataset.ready = 'true';
}

main();
