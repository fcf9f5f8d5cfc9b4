#!/usr/bin/env node
// mediapipe_pose.js -- MediaPipe's own BlazePose (the npm package's JS solution) on a
// folder of PNG frames, as the reference for crease's pose pipeline.
//
// usage: node tests/mediapipe/mediapipe_pose.js FRAMES_DIR OUT.json
//            [--mode video|static] [--model lite|full|heavy] [--fps 10] [--gpu]
//        node tests/mediapipe/mediapipe_pose.js --job FRAMES_DIR OUT.json MODE [--job ...]
//            [--model ...] [--fps ...] [--gpu] [--cache DIR]
// The second form runs several (folder, mode) jobs in one browser session (the graph is
// reset between jobs), which saves the browser's start and the models' load.
// --cache DIR keeps each job's output under DIR, named by the sha256 of everything it
// depends on: this script, every file of the MediaPipe package, the browser's version, the
// model, fps, mode and inference choice, and every frame's name and bytes.  A job whose
// output is there is not run again (the browser is not even started when none is left);
// any change to those inputs makes a new name.
//
// Frames are the folder's *.png files in name order (8-bit RGB or RGBA, not
// interlaced).  They are decoded here (zlib) and drawn as raw RGBA into a canvas, so
// MediaPipe sees exactly the pixels crease sees.  The solution runs in Debian's
// headless Chromium (/usr/bin/chromium through playwright-core) with SwiftShader for
// WebGL; `useCpuInference: true` (the default here; --gpu turns it off) runs the
// models in fp32 through XNNPACK, the closer reference for crease's engines.
//   video:  frames sent in order with timestamps (i+1)*1e6/fps us (a first timestamp
//           of 0 would make the One Euro filter skip frame 0); tracking + smoothing.
//   static: reset() before every frame: the detector runs on each, no smoothing.
// The package files come from ${XDG_CACHE_HOME:-$HOME/.cache}/crease/
// mediapipe-pose-0.5.1675469404 (scripts/fetch-models unpacks them there), or
// CREASE_MEDIAPIPE_DIR, served from 127.0.0.1 only.
//
// Output: {"mode", "model", "fps", "frames": [{"file", "width", "height", "detected",
//          "landmarks": [[x, y, z, visibility] x 33], "world_landmarks": [...]}]}
// Exit status: 0 ok, 2 usage, 3 the browser or the package is missing, 1 other errors.
'use strict';

const childProcess = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const http = require('http');
const os = require('os');
const path = require('path');
const zlib = require('zlib');

const root = path.resolve(__dirname, '..', '..');

function usage(msg) {
  if (msg) console.error('mediapipe_pose: ' + msg);
  console.error('usage: node mediapipe_pose.js FRAMES_DIR OUT.json [--mode video|static] ' +
                '[--model lite|full|heavy] [--fps 10] [--gpu] [--cache DIR]');
  process.exit(2);
}

function parseArgs(argv) {
  const a = {mode: 'video', model: 'full', fps: 10, gpu: false, cache: '', pos: [], jobs: []};
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i];
    if (v === '--mode') a.mode = argv[++i];
    else if (v === '--job') {
      if (i + 3 >= argv.length) usage('--job needs FRAMES_DIR OUT.json MODE');
      a.jobs.push({dir: argv[i + 1], out: argv[i + 2], mode: argv[i + 3]});
      i += 3;
    }
    else if (v === '--model') a.model = argv[++i];
    else if (v === '--fps') a.fps = Number(argv[++i]);
    else if (v === '--gpu') a.gpu = true;
    else if (v === '--cache') a.cache = argv[++i] || usage('--cache needs a folder');
    else if (v.startsWith('--')) usage('unknown option ' + v);
    else a.pos.push(v);
  }
  if (a.jobs.length === 0) {
    if (a.pos.length !== 2) usage();
    a.jobs.push({dir: a.pos[0], out: a.pos[1], mode: a.mode});
  } else if (a.pos.length !== 0) {
    usage('give either FRAMES_DIR OUT.json or --job ...');
  }
  for (const j of a.jobs)
    if (!['video', 'static'].includes(j.mode)) usage('bad mode ' + j.mode);
  if (!['lite', 'full', 'heavy'].includes(a.model)) usage('bad --model');
  if (!(a.fps > 0)) usage('bad --fps');
  return a;
}

// A minimal PNG decoder: 8-bit RGB (color type 2) or RGBA (6), no interlace -> RGBA.
function decodePng(buf) {
  const sig = '89504e470d0a1a0a';
  if (buf.subarray(0, 8).toString('hex') !== sig) throw new Error('not a PNG');
  let off = 8, w = 0, h = 0, depth = 0, ctype = 0, interlace = 0;
  const idat = [];
  while (off + 8 <= buf.length) {
    const len = buf.readUInt32BE(off), type = buf.toString('latin1', off + 4, off + 8);
    const data = buf.subarray(off + 8, off + 8 + len);
    if (type === 'IHDR') {
      w = data.readUInt32BE(0); h = data.readUInt32BE(4);
      depth = data[8]; ctype = data[9]; interlace = data[12];
    } else if (type === 'IDAT') {
      idat.push(data);
    } else if (type === 'IEND') {
      break;
    }
    off += 12 + len;
  }
  if (depth !== 8 || (ctype !== 2 && ctype !== 6) || interlace !== 0)
    throw new Error(`unsupported PNG (depth ${depth}, color type ${ctype}, interlace ${interlace})`);
  const bpp = ctype === 2 ? 3 : 4, stride = w * bpp;
  const raw = zlib.inflateSync(Buffer.concat(idat));
  const px = Buffer.alloc(stride * h);
  for (let y = 0; y < h; y++) {
    const f = raw[y * (stride + 1)];
    const src = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const cur = px.subarray(y * stride, (y + 1) * stride);
    const prev = y > 0 ? px.subarray((y - 1) * stride, y * stride) : null;
    for (let i = 0; i < stride; i++) {
      const a = i >= bpp ? cur[i - bpp] : 0, b = prev ? prev[i] : 0;
      const c = prev && i >= bpp ? prev[i - bpp] : 0;
      let p;
      switch (f) {
        case 0: p = 0; break;
        case 1: p = a; break;
        case 2: p = b; break;
        case 3: p = (a + b) >> 1; break;
        case 4: {
          const pa = Math.abs(b - c), pb = Math.abs(a - c), pc = Math.abs(a + b - 2 * c);
          p = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
          break;
        }
        default: throw new Error('bad PNG filter ' + f);
      }
      cur[i] = (src[i] + p) & 255;
    }
  }
  const rgba = Buffer.alloc(w * h * 4);
  for (let i = 0, j = 0; i < w * h; i++, j += bpp) {
    rgba[4 * i] = px[j]; rgba[4 * i + 1] = px[j + 1]; rgba[4 * i + 2] = px[j + 2];
    rgba[4 * i + 3] = bpp === 4 ? px[j + 3] : 255;
  }
  return {w, h, rgba};
}

const PAGE = `<!doctype html><html><head><meta charset="utf-8">
<script src="/mp/pose.js" crossorigin="anonymous"></script></head>
<body><canvas id="c"></canvas><script>
window.mp = {
  async init(opts) {
    this.pose = new Pose({locateFile: (f) => '/mp/' + f});
    this.pose.setOptions(opts);
    this.result = null;
    this.pose.onResults((r) => {
      const pts = (l) => l ? l.map((p) => [p.x, p.y, p.z, p.visibility === undefined ? null : p.visibility]) : null;
      this.result = {landmarks: pts(r.poseLandmarks), world: pts(r.poseWorldLandmarks)};
    });
    await this.pose.initialize();
  },
  async frame(i, w, h, tsMs, reset) {
    const buf = await (await fetch('/raw/' + i)).arrayBuffer();
    const c = document.getElementById('c');
    c.width = w; c.height = h;
    c.getContext('2d').putImageData(new ImageData(new Uint8ClampedArray(buf), w, h), 0, 0);
    if (reset) this.pose.reset();
    this.result = null;
    await this.pose.send({image: c}, tsMs);
    return this.result;
  },
};
</script></body></html>`;

// The sha256 of what every job's output depends on apart from the job itself.
function commonKey(args, mpDir, chromiumPath) {
  const h = crypto.createHash('sha256');
  const part = (name, data) => { h.update(`${name}\0${data.length}\0`); h.update(data); };
  part('script', fs.readFileSync(__filename));
  const version = childProcess.execFileSync(chromiumPath, ['--version'],
                                            {stdio: ['ignore', 'pipe', 'ignore']});
  part('browser', version);
  for (const f of fs.readdirSync(mpDir).sort()) {
    const p = path.join(mpDir, f);
    if (fs.statSync(p).isFile()) part('package/' + f, fs.readFileSync(p));
  }
  part('options', Buffer.from(JSON.stringify({model: args.model, fps: args.fps, gpu: args.gpu})));
  return h.digest();
}

// The cache file of one job: the common key, the mode and every frame's name and bytes.
function jobCacheFile(dir, common, job) {
  const h = crypto.createHash('sha256');
  h.update(common);
  h.update(`mode\0${job.mode}\0`);
  for (const f of job.files) {
    const data = fs.readFileSync(path.join(job.dir, f));
    h.update(`frame\0${f}\0${data.length}\0`);
    h.update(data);
  }
  return path.join(dir, h.digest('hex') + '.json');
}

// Copies the cached outputs of the jobs that have one; returns the jobs still to run.
function fromCache(args, jobs, mpDir, chromiumPath) {
  if (!args.cache) return jobs;
  fs.mkdirSync(args.cache, {recursive: true});
  const common = commonKey(args, mpDir, chromiumPath);
  const left = [];
  for (const job of jobs) {
    job.cacheFile = jobCacheFile(args.cache, common, job);
    if (fs.existsSync(job.cacheFile)) {
      fs.copyFileSync(job.cacheFile, job.out);
      console.error(`mediapipe_pose: ${job.dir} (${job.mode}): the output of the same inputs, ` +
                    `${job.cacheFile} -> ${job.out}`);
    } else {
      left.push(job);
    }
  }
  return left;
}

// Keeps a job's fresh output in the cache (written aside, then renamed: never half a file).
function toCache(job) {
  if (!job.cacheFile) return;
  const tmp = `${job.cacheFile}.${process.pid}.tmp`;
  fs.copyFileSync(job.out, tmp);
  fs.renameSync(tmp, job.cacheFile);
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const cache = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  const mpDir = process.env.CREASE_MEDIAPIPE_DIR ||
                path.join(cache, 'crease', 'mediapipe-pose-0.5.1675469404');
  if (!fs.existsSync(path.join(mpDir, 'pose.js'))) {
    console.error(`mediapipe_pose: no MediaPipe package in ${mpDir} (run scripts/fetch-models)`);
    process.exit(3);
  }
  const chromiumPath = process.env.CREASE_CHROMIUM || '/usr/bin/chromium';
  if (!fs.existsSync(chromiumPath)) {
    console.error(`mediapipe_pose: no browser at ${chromiumPath} (apt-get install chromium)`);
    process.exit(3);
  }
  const jobs = args.jobs.map((j) => {
    const files = fs.readdirSync(j.dir).filter((f) => f.toLowerCase().endsWith('.png')).sort();
    if (files.length === 0) usage('no PNG frames in ' + j.dir);
    return Object.assign({files}, j);
  });
  const todo = fromCache(args, jobs, mpDir, chromiumPath);
  if (todo.length === 0) return;
  let frames = []; // the current job's decoded frames, served at /raw/i
  const types = {'.js': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html'};
  const server = http.createServer((req, res) => {
    const url = decodeURIComponent(req.url.split('?')[0]);
    let body = null, type = 'application/octet-stream';
    if (url === '/' || url === '/index.html') {
      body = PAGE; type = 'text/html';
    } else if (url.startsWith('/raw/')) {
      const i = Number(url.slice(5));
      if (Number.isInteger(i) && i >= 0 && i < frames.length) body = frames[i].rgba;
    } else if (url.startsWith('/mp/')) {
      const name = path.basename(url.slice(4));
      const p = path.join(mpDir, name);
      if (fs.existsSync(p)) { body = fs.readFileSync(p); type = types[path.extname(p)] || type; }
    }
    if (body === null) { res.writeHead(404); res.end(); return; }
    res.writeHead(200, {'Content-Type': type, 'Cache-Control': 'no-store'});
    res.end(body);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${server.address().port}`;

  const {chromium} = require(path.join(root, 'tests', 'node', 'node_modules', 'playwright-core'));
  const userDir = fs.mkdtempSync(path.join(os.tmpdir(), 'crease-mp-'));
  let browser = null;
  try {
    // A fresh profile each run (the machine has no internet; nothing to sync).
    browser = await chromium.launchPersistentContext(userDir, {
      executablePath: chromiumPath,
      headless: true,
      timeout: 120000, // a loaded 2-core machine can take a while to start it
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--use-gl=angle',
             '--use-angle=swiftshader', '--enable-unsafe-swiftshader',
             '--disable-background-networking', '--disable-component-update', '--disable-sync',
             '--no-first-run'],
    });
    const page = await browser.newPage();
    page.on('pageerror', (e) => console.error('page error: ' + e.message));
    await page.goto(base + '/', {timeout: 120000});
    const complexity = {lite: 0, full: 1, heavy: 2}[args.model];
    await page.evaluate((o) => window.mp.init(o), {
      modelComplexity: complexity, smoothLandmarks: true, enableSegmentation: false,
      smoothSegmentation: false, minDetectionConfidence: 0.5, minTrackingConfidence: 0.5,
      selfieMode: false, useCpuInference: !args.gpu,
    });
    for (const job of todo) {
      frames = job.files.map((f) => decodePng(fs.readFileSync(path.join(job.dir, f))));
      await page.evaluate(() => window.mp.pose.reset());
      const out = {mode: job.mode, model: args.model, fps: args.fps,
                   cpu_inference: !args.gpu, frames: []};
      for (let i = 0; i < frames.length; i++) {
        const tsMs = (i + 1) * 1000 / args.fps;
        const r = await page.evaluate(([i, w, h, ts, reset]) => window.mp.frame(i, w, h, ts, reset),
                                      [i, frames[i].w, frames[i].h, tsMs, job.mode === 'static']);
        const det = !!(r && r.landmarks);
        out.frames.push({file: job.files[i], width: frames[i].w, height: frames[i].h,
                         detected: det, landmarks: det ? r.landmarks : [],
                         world_landmarks: det && r.world ? r.world : []});
      }
      fs.writeFileSync(job.out, JSON.stringify(out) + '\n');
      toCache(job);
      const n = out.frames.filter((f) => f.detected).length;
      console.error(`mediapipe_pose: ${frames.length} frames of ${job.dir} (${job.mode}, ` +
                    `${args.model}), ${n} with a pose -> ${job.out}`);
    }
  } finally {
    if (browser) await browser.close();
    server.close();
    fs.rmSync(userDir, {recursive: true, force: true});
  }
}

main().catch((e) => { console.error('mediapipe_pose: ' + (e && e.stack || e)); process.exit(1); });
