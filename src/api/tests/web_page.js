#!/usr/bin/env node
// web_page.js CREASE REPO local|s3 SHOTS_DIR -- the coach's web page (GET / of
// `crease serve`, src/api/web/) in Debian's headless Chromium (playwright-core), at a
// phone's width, against a real server, real workers and a real blob store:
//   local  SQLite + the server's own /blobs/ (the page's origin)
//   s3     SQLite + s3rver (another origin: a port of its own) with a CORS rule for the
//          page's origin, as a bucket behind a coach's browser needs
// It checks:
//   - the files' headers: types, the Content-Security-Policy (self only, connect-src
//     also the origin of the upload URL that initiate hands out), nosniff, ETag and a
//     304 for If-None-Match; the HTML holds no inline script, style or handler
//   - sign-in: a bad token -> the form says it was not accepted; a good one -> the
//     app, the coach's id, kept over a reload (sessionStorage)
//   - a file that is not a video -> a message, nothing created; a ".mp4" of text ->
//     uploaded, then refused by upload-complete (422) -> the server's reason shown
//   - a real video: the upload progress bar moves (the upload is throttled through
//     the DevTools protocol so that it takes seconds), upload-complete, the job shows
//     queued at 0 %; a chunk worker starts and is paused after its first chunks: the
//     page shows the progress between 0 and 100 % and "k of N chunks"; the worker and
//     then an analysis worker finish: the page shows Done, 100 %, the report's link,
//     and the report opens (report.html, from the blob store)
//   - a title with markup is shown as text; the policy blocks a fetch to another
//     origin; no page error and no other policy violation
//   - sign-out: back to the sign-in form, the token forgotten
// Screenshots (PNG) of each state go to SHOTS_DIR.  Exit status: 0 ok, 1 failures.
'use strict';

const {spawn, execFileSync} = require('child_process');
const fs = require('fs');
const http = require('http');
const net = require('net');
const os = require('os');
const path = require('path');

const [crease, repo, shape, shots] = process.argv.slice(2);
if (!shots || !['local', 's3'].includes(shape)) {
  console.error('usage: web_page.js CREASE REPO local|s3 SHOTS_DIR');
  process.exit(2);
}
const {chromium} = require(path.join(repo, 'tests', 'node', 'node_modules', 'playwright-core'));
const SECRET = 'web-page-test-secret';
const SUB = 'coach-web-7';
const TIMEOUT = 120000; // a loaded 2-core machine, a sanitizer build: generous waits

let failures = 0;
const ok = (m) => console.log('ok: ' + m);
const bad = (m) => {
  console.log('FAIL: ' + m);
  failures++;
};
const check = (cond, m, extra) => (cond ? ok(m) : bad(m + (extra !== undefined ? ': ' + extra : '')));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'crease-web-'));
const children = [];
let s3 = null;
let browser = null;
let lastPage = null; // for a screenshot when the test stops
const pageErrors = [];

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const p = srv.address().port;
      srv.close(() => resolve(p));
    });
  });
}

// A child process whose output goes to a log file; .exited resolves to its code.
function start(name, args, env) {
  const log = fs.openSync(path.join(tmp, name + '.log'), 'w');
  const p = spawn(crease, args, {env, stdio: ['ignore', 'pipe', log]});
  p.out = '';
  p.stdout.on('data', (d) => (p.out += d));
  p.exited = new Promise((r) => p.on('exit', (code, sig) => r(code === null ? sig : code)));
  children.push(p);
  return p;
}

function logOf(name) {
  try {
    return fs.readFileSync(path.join(tmp, name + '.log'), 'utf8').slice(-2000);
  } catch (e) {
    return '';
  }
}

// GET path from the server with node's http: {status, headers, body}.
function get(base, p, headers) {
  return new Promise((resolve, reject) => {
    http.get(base + p, {headers: headers || {}}, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({status: res.statusCode, headers: res.headers, body}));
    }).on('error', reject);
  });
}

async function apiGet(base, token, p) {
  const r = await fetch(base + '/api/coaches/plus/' + p, {headers: {Authorization: 'Bearer ' + token}});
  return r.json();
}

async function until(what, fn, ms) {
  const end = Date.now() + (ms || TIMEOUT);
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('timed out waiting for ' + what);
    await sleep(50);
  }
}

async function shot(page, name) {
  const file = path.join(shots, name + '.png');
  await page.screenshot({path: file, fullPage: true});
  console.log('screenshot: ' + file);
}

async function startS3(port, pageOrigin) {
  const S3rver = require(path.join(repo, 'tests', 'node', 's3_server.js'));
  // The bucket lets the page's origin PUT and GET, as the CORS rule of a real bucket
  // used by coaches' browsers must.
  const cors = '<CORSConfiguration><CORSRule><AllowedOrigin>' + pageOrigin +
               '</AllowedOrigin><AllowedMethod>PUT</AllowedMethod><AllowedMethod>GET</AllowedMethod>' +
               '<AllowedHeader>*</AllowedHeader></CORSRule></CORSConfiguration>';
  s3 = new S3rver({
    port,
    address: '127.0.0.1',
    directory: path.join(tmp, 's3'),
    silent: true,
    configureBuckets: [{name: 'web-test', configs: [cors]}],
  });
  await s3.run();
}

// ---- the files' headers -------------------------------------------------------------

async function checkHeaders(base, uploadOrigin) {
  const root = await get(base, '/');
  check(root.status === 200, 'GET / answers 200', root.status);
  check(root.headers['content-type'] === 'text/html; charset=utf-8', 'GET /: text/html',
        root.headers['content-type']);
  const csp = root.headers['content-security-policy'] || '';
  const dirs = Object.fromEntries(csp.split(';').map((d) => d.trim().split(/\s+/)).map((w) => [w[0], w.slice(1)]));
  check(String(dirs['default-src']) === "'none'" && String(dirs['script-src']) === "'self'" &&
            String(dirs['style-src']) === "'self'" && String(dirs['img-src']) === "'self'" &&
            String(dirs['frame-ancestors']) === "'none'" && String(dirs['base-uri']) === "'none'",
        'CSP: self only for scripts, styles, images; no framing, no <base>', csp);
  check(!/unsafe|\*|data:|blob:/.test(csp), 'CSP: nothing unsafe, no wildcard', csp);
  const expect = uploadOrigin === base ? ["'self'", base] : ["'self'", uploadOrigin];
  check(JSON.stringify(dirs['connect-src']) === JSON.stringify(expect),
        "CSP connect-src: 'self' and the upload URLs' origin " + uploadOrigin, csp);
  check(root.headers['x-content-type-options'] === 'nosniff', 'nosniff');
  check(root.headers['cache-control'] === 'no-cache' && /^"[0-9a-f]{16}"$/.test(root.headers.etag || ''),
        'Cache-Control no-cache with an ETag', root.headers['cache-control'] + ' ' + root.headers.etag);
  const again = await get(base, '/', {'If-None-Match': root.headers.etag});
  check(again.status === 304 && again.body === '', 'If-None-Match with the ETag: 304, no body', again.status);
  const other = await get(base, '/', {'If-None-Match': '"0000000000000000"'});
  check(other.status === 200 && other.body === root.body, 'another ETag: 200 with the page');
  const types = {'/web/app.js': 'text/javascript; charset=utf-8', '/web/app.css': 'text/css; charset=utf-8',
                 '/web/icon.svg': 'image/svg+xml'};
  for (const [p, t] of Object.entries(types)) {
    const r = await get(base, p);
    check(r.status === 200 && r.headers['content-type'] === t && r.body.length > 100 &&
              r.headers['content-security-policy'] === csp && r.headers['x-content-type-options'] === 'nosniff',
          'GET ' + p + ': ' + t + ', the same policy, nosniff', r.status + ' ' + r.headers['content-type']);
  }
  // Every script is a file of the server's; no inline style or event handler.
  const html = root.body;
  const scripts = html.match(/<script\b[^>]*>/gi) || [];
  check(scripts.length === 1 && scripts.every((s) => /\bsrc="\/web\/app\.js"/.test(s)) &&
            !/<script\b[^>]*>[^<]+<\/script>/i.test(html) && !/\son[a-z]+\s*=/i.test(html) &&
            !/\sstyle\s*=/i.test(html) && !/<style\b/i.test(html) && !/javascript:/i.test(html),
        'the HTML: one script, /web/app.js; no inline script, style or handler');
  const js = (await get(base, '/web/app.js')).body;
  check(!/innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function/.test(js),
        'the script never writes HTML (textContent only)');
  return csp;
}

// ---- the browser ----------------------------------------------------------------------

async function run() {
  const port = await freePort();
  const base = 'http://127.0.0.1:' + port;
  const env = Object.assign({}, process.env, {
    DATABASE_URL: 'sqlite:///' + path.join(tmp, 'crease.db'),
    CREASE_BLOB_DIR: path.join(tmp, 'blobs'),
    APP_SECRET_KEY: SECRET,
    CREASE_MODELS_DIR: path.join(repo, 'models'),
    CHUNK_SECONDS: '1',
    SAMPLE_FPS: '5',
    MAX_WIDTH: '320',
    GPU_PROCESSING_ENABLED: 'true', // chunked jobs: the chunk worker moves the progress
    LOG_LEVEL: 'warn',
  });
  for (const k of ['S3_COACH_VIDEOS_BUCKET', 'S3_ENDPOINT_URL', 'AWS_ACCESS_KEY_ID',
                   'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN'])
    delete env[k];
  let uploadOrigin = base;
  if (shape === 's3') {
    const s3port = await freePort();
    await startS3(s3port, base);
    uploadOrigin = 'http://127.0.0.1:' + s3port;
    Object.assign(env, {S3_COACH_VIDEOS_BUCKET: 'web-test', S3_ENDPOINT_URL: uploadOrigin,
                        AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER',
                        AWS_REGION: 'us-east-1'});
    ok('s3rver on ' + uploadOrigin + ' (another origin than the page)');
  }

  // The media: a person moving across 8 s (8 chunks of 1 s), a text file, text as .mp4.
  const clip = path.join(tmp, 'net-session.mp4');
  execFileSync('ffmpeg', ['-nostdin', '-v', 'error', '-y', '-f', 'lavfi', '-i',
                          'color=c=gray:s=720x540:r=25:d=8', '-loop', '1', '-i',
                          path.join(repo, 'media', 'cold_water.jpg'), '-filter_complex',
                          "[1]scale=560:-2[p];[0][p]overlay=x='20+12*t':y=60:shortest=1,format=yuv420p",
                          '-t', '8', '-c:v', 'libx264', '-preset', 'veryfast', '-g', '50', clip]);
  const notes = path.join(tmp, 'notes.txt');
  fs.writeFileSync(notes, 'bring the bowling machine\n');
  const fake = path.join(tmp, 'broken.mp4');
  fs.writeFileSync(fake, 'this is not a video, whatever its name says\n'.repeat(50));
  const clipBytes = fs.statSync(clip).size;

  execFileSync(crease, ['migrate', 'up'], {env, stdio: 'ignore'});
  // Two new jobs at once, then one a minute: the third upload meets the limit (429).
  const serve = start('serve', ['serve', '--port', String(port), '--workers', '0', '--jobs-burst', '2',
                                '--jobs-per-minute', '1'], env);
  await until('crease serve', async () => {
    if (serve.exitCode !== null) throw new Error('crease serve exited: ' + logOf('serve'));
    return serve.out.includes('listening on');
  }, 30000);
  const token = execFileSync(crease, ['token', '--sub', SUB, '--ttl', '3600'], {env}).toString().trim();

  await checkHeaders(base, uploadOrigin);

  browser = await chromium.launch({
    executablePath: process.env.CREASE_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    timeout: TIMEOUT,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
           '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  // A phone's screen (CSS pixels of a 6" phone).
  const context = await browser.newContext({viewport: {width: 390, height: 844}, deviceScaleFactor: 1});
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  lastPage = page;
  const violations = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) violations.push(m.text());
  });

  // ---- sign in ----
  await page.goto(base + '/');
  await page.waitForSelector('#signin:not([hidden])');
  check(await page.isVisible('#token') && await page.isHidden('#app'), 'the page opens on the sign-in form');
  check(await page.evaluate(() => document.querySelector('label[for=token]').textContent.trim()) === 'API token',
        'the token field has its label');
  await shot(page, '01-signin');
  await page.fill('#token', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.bm90IGEgc2lnbmF0dXJl');
  await page.click('#signin-button');
  await page.waitForSelector('#signin-error:not([hidden])');
  const badText = await page.textContent('#signin-error');
  check(/not accepted/.test(badText) && await page.isHidden('#app'),
        'a bad token: the sign-in form says it was not accepted', badText);
  check(await page.getAttribute('#token', 'aria-invalid') === 'true', 'the field is marked invalid');
  await shot(page, '02-signin-bad-token');

  await page.fill('#token', token);
  await page.click('#signin-button');
  await page.waitForSelector('#app:not([hidden])');
  check(await page.textContent('#who-sub') === SUB, "signed in: the coach's id shown", await page.textContent('#who-sub'));
  check(await page.evaluate(() => sessionStorage.getItem('crease.token')) === token, 'the token kept in sessionStorage');
  await page.waitForSelector('#list-empty:not([hidden])');
  ok('no sessions yet: said so');
  await shot(page, '03-signed-in');
  await page.reload();
  await page.waitForSelector('#app:not([hidden])');
  ok('a reload keeps the coach signed in');

  // ---- not a video ----
  await page.setInputFiles('#video', notes);
  await page.click('#upload-button');
  await page.waitForSelector('#upload-error:not([hidden])');
  const typeText = await page.textContent('#upload-error');
  check(/notes\.txt" is not a video file/.test(typeText), 'a text file: "not a video file"', typeText);
  check((await apiGet(base, token, 'sessions')).length === 0, 'nothing was created for it');
  await shot(page, '04-not-a-video');

  // ---- a ".mp4" that is not one: uploaded, refused by upload-complete (422) ----
  await page.fill('#title', 'Broken clip');
  await page.setInputFiles('#video', fake);
  await page.click('#upload-button');
  await page.waitForFunction(() => /cannot use this video/.test(document.getElementById('upload-error').textContent));
  const refusedText = await page.textContent('#upload-error');
  check(/finish the upload: the server cannot use this video \(not a recognised video.+\)\.$/.test(refusedText),
        "a text file named .mp4: upload-complete's refusal shown with its reason", refusedText);
  await page.waitForFunction(() => [...document.querySelectorAll('.job-status')].some((b) => b.textContent === 'Waiting for the video'));
  check(await page.evaluate(() => [...document.querySelectorAll('.job-detail')].some((d) => /no usable video was received/.test(d.textContent))),
        'its job is listed as waiting for the video, none usable received');
  await shot(page, '05-refused-video');

  // ---- the real video, upload throttled to ~10 s ----
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.emulateNetworkConditions',
                 {offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: Math.max(16384, clipBytes / 10)});
  await page.evaluate(() => {
    window.__samples = [];
    const bar = document.getElementById('upload-progress');
    window.__sampler = setInterval(() => {
      if (!document.getElementById('upload-status').hidden) window.__samples.push(bar.value);
    }, 20);
  });
  const title = '<b>Nets</b> & "Tuesday"';
  await page.fill('#title', title);
  await page.selectOption('#mode', 'batting');
  await page.setInputFiles('#video', clip);
  await page.click('#upload-button');
  await page.waitForFunction(() => {
    const b = document.getElementById('upload-progress');
    return !document.getElementById('upload-status').hidden && b.value > 10 && b.value < 90;
  });
  check(/^Uploading net-session\.mp4: [0-9.]+ [kM]B of [0-9.]+ [kM]B$/.test(await page.textContent('#upload-label')),
        'the upload label says how much is sent', await page.textContent('#upload-label'));
  await page.waitForFunction(() => [...document.querySelectorAll('.job-status')].some((b) => b.textContent === 'Uploading'));
  ok('meanwhile the list shows its job: Uploading');
  await shot(page, '06-uploading');
  await page.waitForFunction(() => /^Uploaded\./.test(document.getElementById('upload-message').textContent));
  await cdp.send('Network.emulateNetworkConditions', {offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1});
  const samples = await page.evaluate(() => {
    clearInterval(window.__sampler);
    return window.__samples;
  });
  const mid = [...new Set(samples.filter((v) => v > 0 && v < 100).map(Math.floor))];
  check(mid.length >= 3 && samples.every((v, i) => i === 0 || v >= samples[i - 1]),
        'the upload progress bar moved up through ' + mid.length + ' values between 0 and 100 %',
        JSON.stringify(samples.slice(0, 40)));
  check(await page.isHidden('#upload-error'), 'no upload error');

  // The job: queued, 0 %, under the session whose title is shown as text.
  const sessions = await apiGet(base, token, 'sessions');
  const sess = sessions.find((s) => s.title === title);
  check(sess !== undefined, 'the session was created with its title');
  const jobs = (await apiGet(base, token, 'sessions/' + sess.id + '/analysis-jobs'));
  const jobId = jobs[0] && jobs[0].id;
  check(jobs.length === 1 && jobs[0].status === 'queued' && jobs[0].total_chunks === 8,
        'upload-complete queued the job with 8 chunks', JSON.stringify(jobs[0]));
  const jobSel = `li.job[data-id="${jobId}"]`;
  await page.waitForSelector(jobSel);
  const sessSel = `li.session[data-id="${sess.id}"]`;
  check(await page.textContent(sessSel + ' .session-title') === title &&
            await page.$$eval(sessSel + ' .session-title *', (e) => e.length) === 0,
        'a title with markup is shown as text, no element made of it');
  await page.waitForFunction((s) => {
    const li = document.querySelector(s);
    return li && li.querySelector('.job-status').textContent === 'Analysing' &&
           li.querySelector('.job-pct').textContent === '0 %' &&
           /0 of 8 chunks/.test(li.querySelector('.job-detail').textContent);
  }, jobSel);
  ok('the page shows the job queued: Analysing, 0 %, 0 of 8 chunks');
  await shot(page, '07-queued');

  // ---- a third upload at once: the per-token limit (429 with Retry-After) ----
  await page.fill('#title', 'One too many');
  await page.setInputFiles('#video', clip);
  await page.click('#upload-button');
  await page.waitForSelector('#upload-error:not([hidden])');
  const limitText = await page.textContent('#upload-error');
  check(/start the upload: too many new uploads for now\. Try again in [0-9]+ seconds\./.test(limitText),
        'a third upload within the limit: "too many new uploads", with the wait', limitText);
  await shot(page, '07b-rate-limited');
  const empty = (await apiGet(base, token, 'sessions')).filter((x) => x.title === 'One too many');
  check(empty.length === 1 && empty[0].analysis_job_count === 0, 'its session is there, with no job');
  await page.click('#upload-button');
  await page.waitForFunction(() => /Try again in/.test(document.getElementById('upload-error').textContent));
  check((await apiGet(base, token, 'sessions')).filter((x) => x.title === 'One too many').length === 1,
        'tried again (still limited): the same empty session is used, no second one');

  // ---- a chunk worker; paused after its first chunks ----
  const cw = start('chunk-worker', ['chunk-worker', '--idle-exit', '--poll', '0.1'], env);
  const partial = await until('a first chunk', async () => {
    const j = await apiGet(base, token, 'analysis-jobs/' + jobId);
    return j.completed_chunks >= 1 ? j : null;
  });
  if (partial.completed_chunks < 8) {
    cw.kill('SIGSTOP');
    const k = partial.completed_chunks;
    // Its claimed chunk may still finish: wait for the store to stand still.
    await sleep(300);
    const still = await apiGet(base, token, 'analysis-jobs/' + jobId);
    await page.waitForFunction(([s, n]) => {
      const li = document.querySelector(s);
      const v = li.querySelector('.job-progress').value;
      return v > 0 && v < 100 && li.querySelector('.job-detail').textContent.startsWith(n + ' of 8 chunks');
    }, [jobSel, still.completed_chunks]);
    const pct = await page.$eval(jobSel + ' .job-progress', (b) => b.value);
    check(pct === still.progress_pct,
          `mid-way: the page shows ${still.completed_chunks} of 8 chunks at ${pct} % (the API: ${still.progress_pct} %)`,
          k);
    await shot(page, '08-progress');
    cw.kill('SIGCONT');
  } else {
    bad('the chunk worker did all 8 chunks before it could be paused: no progress seen mid-way');
  }
  check(await cw.exited === 0, 'the chunk worker finished the chunks and exited 0', logOf('chunk-worker'));
  const aw = start('analysis-worker', ['analysis-worker', '--idle-exit', '--poll', '0.1'], env);
  check(await aw.exited === 0, 'the analysis worker finished the job and exited 0', logOf('analysis-worker'));

  // ---- done: the report ----
  await page.waitForFunction((s) => {
    const li = document.querySelector(s);
    const a = li && li.querySelector('.report-link');
    return li.querySelector('.job-status').textContent === 'Done' && a && !a.hidden && a.href;
  }, jobSel);
  check(await page.textContent('#announce') === 'The batting analysis of ' + title + ': Done.',
        'the status region tells screen readers the job is done', await page.textContent('#announce'));
  check(await page.textContent(jobSel + ' .job-pct') === '100 %' &&
            await page.$eval(jobSel + ' .job-progress', (b) => b.value) === 100,
        'done: 100 %');
  const href = await page.getAttribute(jobSel + ' .report-link', 'href');
  check(href.startsWith(uploadOrigin + (shape === 's3' ? '/web-test/' : '/blobs/')) && /report\.html\?/.test(href),
        "the report link is the job's presigned report.html", href);
  const summary = await page.textContent(jobSel + ' .report-summary');
  check(summary.length > 10, "the report's summary shown", summary);
  check(await page.getAttribute(jobSel + ' .report-link', 'rel') === 'noopener noreferrer' &&
            await page.getAttribute(jobSel + ' .report-link', 'target') === '_blank',
        'it opens in a new tab, without access to this one');
  await page.locator(jobSel + ' .report-link').scrollIntoViewIfNeeded();
  await shot(page, '09-done');

  const [report] = await Promise.all([context.waitForEvent('page'), page.click(jobSel + ' .report-link')]);
  await report.waitForLoadState('load');
  const h1 = await report.textContent('h1');
  check(/Coaching report/.test(h1) && /coaching report/.test(await report.title()),
        'the report opens: "' + h1.trim().slice(0, 60) + '"');
  // its pictures (JPEG data: URIs) show, under the blob route's own policy when local
  const pics = await report.$$eval('img', (imgs) => imgs.map((i) => i.complete && i.naturalWidth > 0));
  check(pics.every((ok) => ok), 'the report\'s ' + pics.length + ' pictures render', pics);
  if (shape !== 's3') {
    const resp = await context.request.get(href);
    const hdr = resp.headers();
    const csp = hdr['content-security-policy'] || '';
    check(resp.status() === 200 && /sandbox/.test(csp) && /img-src data:/.test(csp) &&
              !/script-src/.test(csp) && hdr['x-content-type-options'] === 'nosniff',
          'report.html is served sandboxed, no scripts, pictures allowed', csp);
  }
  await shot(report, '10-report');
  await report.close();

  await page.setViewportSize({width: 1100, height: 900});
  await shot(page, '11-done-wide');
  await page.setViewportSize({width: 390, height: 844});
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 0, 'nothing wider than a phone screen (390 px)', overflow);

  // ---- the policy at work: another origin is refused ----
  const blocked = await page.evaluate(async () => {
    const seen = new Promise((r) => document.addEventListener('securitypolicyviolation',
                                                            (e) => r(e.effectiveDirective + ' ' + e.blockedURI), {once: true}));
    let fetched = 'fetched';
    try {
      await fetch('http://127.0.0.1:9/');
    } catch (e) {
      fetched = 'refused';
    }
    return fetched + ' ' + (await Promise.race([seen, new Promise((r) => setTimeout(() => r('no event'), 2000))]));
  });
  check(/^refused connect-src http:\/\/127\.0\.0\.1:9/.test(blocked), 'the policy blocks a fetch to another origin', blocked);
  const expected = violations.filter((v) => !/127\.0\.0\.1:9\//.test(v));
  check(expected.length === 0, 'no other policy violation', expected.join(' | '));
  check(pageErrors.length === 0, 'no page error', pageErrors.join(' | '));

  // ---- the page opened at another origin than the server's upload links ----
  if (shape === 'local') {
    const elsewhere = await browser.newContext({viewport: {width: 390, height: 844}});
    const p2 = await elsewhere.newPage();
    p2.setDefaultTimeout(TIMEOUT);
    await p2.goto('http://localhost:' + port + '/');
    // another coach: the first one has spent the rate limit
    await p2.fill('#token', execFileSync(crease, ['token', '--sub', 'coach-web-8'], {env}).toString().trim());
    await p2.click('#signin-button');
    await p2.waitForSelector('#app:not([hidden])');
    await p2.fill('#title', 'Broken clip');
    await p2.setInputFiles('#video', fake);
    await p2.click('#upload-button');
    await p2.waitForSelector('#upload-error:not([hidden])');
    const t = await p2.textContent('#upload-error');
    check(t.includes('this page was opened at http://localhost:' + port + ', but the server hands out upload links for ' +
                     base + '. Open the page at ' + base + '/'),
          'opened at localhost, upload links for 127.0.0.1: the page says where to open it', t);
    await shot(p2, '12b-other-origin');
    await elsewhere.close();
  }

  // ---- sign out ----
  await page.click('#sign-out');
  await page.waitForSelector('#signin:not([hidden])');
  check(await page.isHidden('#app') && await page.evaluate(() => sessionStorage.getItem('crease.token')) === null &&
            await page.$$eval('#session-list > li', (e) => e.length) === 0,
        'signed out: the sign-in form, the token forgotten, the list gone');
  await shot(page, '12-signed-out');
  await page.reload();
  await page.waitForSelector('#signin:not([hidden])');
  ok('after a reload: still signed out');

  // ---- a token that expires while the page is open ----
  const shortToken = execFileSync(crease, ['token', '--sub', SUB, '--ttl', '2'], {env}).toString().trim();
  await page.fill('#token', shortToken);
  await page.click('#signin-button');
  await page.waitForSelector('#app:not([hidden])');
  await sleep(3000);
  await page.click('#refresh');
  await page.waitForSelector('#signin:not([hidden])');
  const expiredText = await page.textContent('#signin-error');
  check(/^Your token was not accepted \(token expired\)\. Sign in again/.test(expiredText) &&
            await page.evaluate(() => sessionStorage.getItem('crease.token')) === null,
        'an expired token: back to the sign-in form, which says so', expiredText);
  await shot(page, '13-token-expired');

  serve.kill('SIGTERM');
  check(await serve.exited === 0, 'crease serve stops on SIGTERM with status 0 (a sanitizer report would change it)',
        logOf('serve'));
}

async function main() {
  try {
    await run();
  } catch (e) {
    bad('stopped: ' + (e && e.stack || e));
    console.log('serve log: ' + logOf('serve'));
    if (pageErrors.length) console.log('page errors: ' + pageErrors.join(' | '));
    if (lastPage) await shot(lastPage, 'stopped').catch(() => {});
  } finally {
    if (browser) await browser.close().catch(() => {});
    for (const p of children) {
      if (p.exitCode === null && p.signalCode === null) {
        p.kill('SIGCONT');
        p.kill('SIGTERM');
        await p.exited;
      }
    }
    if (s3) await s3.close().catch(() => {});
    fs.rmSync(tmp, {recursive: true, force: true});
  }
  console.log(failures === 0 ? 'web_page: ok' : 'web_page: ' + failures + ' failure(s)');
  process.exit(failures === 0 ? 0 : 1);
}

main();
