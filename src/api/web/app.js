// app.js -- the coach's web page of `crease serve` (index.html; served by src/api/web.c).
//
// Plain JavaScript, no framework, no build step, nothing from another origin but the
// video upload itself.  What it does, with the API's own routes (openapi.json):
//   sign in     the coach pastes an API token (a bearer JWT, `crease token`); it is
//               checked with GET sessions and kept in sessionStorage (this tab only)
//               until sign-out
//   list        GET sessions + GET analysis-jobs, jobs grouped under their session,
//               polled every POLL_ACTIVE_MS while a job moves, else every POLL_IDLE_MS;
//               a finished job's report and results links come from GET
//               analysis-jobs/{id} (presigned URLs, fetched again before they expire)
//   upload      POST sessions -> POST videos/upload/initiate -> PUT of the file to the
//               presigned upload_url (XMLHttpRequest, for its upload progress events)
//               -> POST videos/upload/complete; then the job shows up in the list
//   errors      every failure becomes one sentence for a coach (explain, putProblem)
// Everything that comes from the server or the user is put into the page with
// textContent or as an attribute value, never as HTML.
'use strict';

(function () {
  const API = '/api/coaches/plus/';
  const TOKEN_KEY = 'crease.token';
  const POLL_ACTIVE_MS = 1500; // a job moves: the coach watches it
  const POLL_IDLE_MS = 15000; // nothing moves: keep the list fresh, cheaply
  const LINK_REFRESH_MS = 30 * 60 * 1000; // the API's links live an hour (API_PRESIGN_S)
  // Statuses in which a job still moves (Cricksy's video_analysis_job_status).
  const MOVING = new Set(['queued', 'processing', 'quick_running', 'quick_done', 'deep_running']);
  const STATUS_TEXT = {
    awaiting_upload: 'Waiting for the video',
    queued: 'Analysing',
    processing: 'Analysing',
    quick_running: 'Analysing',
    quick_done: 'Analysing',
    deep_running: 'Putting it together',
    done: 'Done',
    completed: 'Done',
    failed: 'Failed',
  };
  // Stages (Cricksy's, DESIGN.md §4) in a coach's words; the others speak for themselves
  // through the status.
  const STAGE_TEXT = {DEEP_QUEUED: 'in the queue', AGGREGATING: 'combining the chunks'};
  const VIDEO_EXT = /\.(mp4|m4v|mov|avi|mkv|webm|mpg|mpeg|3gp|ts)$/i;

  const $ = (id) => document.getElementById(id);
  let token = null;
  let pollTimer = null;
  let pollSeq = 0; // a sign-out makes older polls' answers stale
  let uploadXhr = null;
  let uploadingJob = ''; // the job whose video this tab is uploading
  let shownSessions = []; // the sessions of the last look at the server
  const links = new Map(); // job id -> {at, report, results, summary} | {at, pending: true}

  // ---- the API ------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, detail, retryAfter) {
      super(detail || 'HTTP ' + status);
      this.status = status; // 0: no answer (network)
      this.detail = detail || '';
      this.retryAfter = retryAfter || '';
    }
  }

  // The API answers errors as {"detail": "..."} (Cricksy's FastAPI shape).
  function detailOf(body) {
    if (body && typeof body.detail === 'string') return body.detail;
    if (body && Array.isArray(body.detail))
      return body.detail.map((d) => (d && d.msg) || '').filter(Boolean).join('; ');
    if (body && typeof body.error === 'string') return body.error;
    return '';
  }

  async function api(method, path, body) {
    const headers = {Authorization: 'Bearer ' + token};
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let resp;
    try {
      resp = await fetch(API + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store',
        credentials: 'omit',
      });
    } catch (e) {
      throw new ApiError(0, '');
    }
    let data = null;
    try {
      data = await resp.json();
    } catch (e) {
      data = null;
    }
    if (!resp.ok) throw new ApiError(resp.status, detailOf(data), resp.headers.get('Retry-After'));
    return data;
  }

  // One sentence for a coach: what could not be done, and why, for each answer.
  function explain(err, what) {
    if (!(err instanceof ApiError)) {
      console.error(err); // a fault of this page's own
      return 'Could not ' + what + ': ' + err.message + '. Reload the page to try again.';
    }
    const d = err.detail ? ' (' + err.detail + ')' : '';
    switch (err.status) {
      case 0:
        return 'Could not ' + what + ': the server cannot be reached. ' +
               'Check your connection and try again.';
      case 401:
        return 'Your token was not accepted' + d + '. Sign in again with a valid token.';
      case 403:
        return 'Could not ' + what + ': your token is not allowed to do this' + d + '.';
      case 404:
        return 'Could not ' + what + ': not found' + d +
               '. It may have been removed, or belong to another coach.';
      case 409:
        return 'Could not ' + what + ': ' + (err.detail || 'it is not in a state that allows this') +
               '.';
      case 413:
        return 'Could not ' + what + ': the file is too large for the server' + d + '.';
      case 422: {
        // The reason starts with the object's storage key: of no use to a coach.
        const why = err.detail.replace(/^[\w.\/-]*\/[\w.\/-]*: /, '');
        return 'Could not ' + what + ': the server cannot use this video' +
               (why ? ' (' + why + ')' : '') + '.';
      }
      case 429:
        return 'Could not ' + what + ': too many new uploads for now. Try again in ' +
               (err.retryAfter ? err.retryAfter + ' seconds.' : 'a minute.');
      default:
        if (err.status >= 500)
          return 'Could not ' + what + ': the server had a problem (HTTP ' + err.status + ')' + d +
                 '. Try again later.';
        return 'Could not ' + what + ': the server answered HTTP ' + err.status + d + '.';
    }
  }

  function show(el, text) {
    el.textContent = text;
    el.hidden = !text;
  }

  // ---- signing in and out ---------------------------------------------------------

  // The token's subject (the coach), for the header; the server checks the token.
  function subjectOf(tok) {
    try {
      const part = tok.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
      const text = new TextDecoder().decode(
          Uint8Array.from(atob(part + '==='.slice((part.length + 3) % 4)), (c) => c.charCodeAt(0)));
      const sub = JSON.parse(text).sub;
      return typeof sub === 'string' ? sub : '';
    } catch (e) {
      return '';
    }
  }

  function showSignIn(message) {
    $('app').hidden = true;
    $('who').hidden = true;
    $('signin').hidden = false;
    show($('signin-error'), message || '');
    $('token').setAttribute('aria-invalid', message ? 'true' : 'false');
    $('token').focus();
  }

  function showApp() {
    $('signin').hidden = true;
    $('app').hidden = false;
    $('who-sub').textContent = subjectOf(token) || 'a coach';
    $('who').hidden = false;
  }

  async function onSignIn(ev) {
    ev.preventDefault();
    const tok = $('token').value.trim().replace(/^Bearer\s+/i, '');
    if (!tok) {
      showSignIn('Paste your API token first.');
      return;
    }
    const button = $('signin-button');
    button.disabled = true;
    token = tok;
    try {
      await api('GET', 'sessions?limit=1');
    } catch (err) {
      token = null;
      button.disabled = false;
      showSignIn(err.status === 401
                     ? 'This token was not accepted' + (err.detail ? ' (' + err.detail + ')' : '') +
                           '. Check that you pasted all of it, or ask for a new one.'
                     : explain(err, 'sign in'));
      return;
    }
    button.disabled = false;
    sessionStorage.setItem(TOKEN_KEY, tok);
    $('token').value = '';
    showApp();
    poll(0);
  }

  function signOut(message) {
    token = null;
    shownSessions = [];
    pollSeq++;
    clearTimeout(pollTimer);
    if (uploadXhr) uploadXhr.abort();
    sessionStorage.removeItem(TOKEN_KEY);
    links.clear();
    $('session-list').replaceChildren();
    $('announce').textContent = '';
    show($('upload-error'), '');
    $('upload-message').textContent = '';
    $('upload-status').hidden = true;
    showSignIn(message || '');
  }

  // ---- the list of sessions and jobs ----------------------------------------------

  function when(iso) {
    if (!iso) return '';
    const d = new Date(iso);
    return isNaN(d) ? '' : d.toLocaleString();
  }

  function words(s) {
    return String(s || '').toLowerCase().replace(/_/g, ' ');
  }

  function badgeClass(status) {
    if (status === 'done' || status === 'completed' || status === 'ready') return 'done';
    if (status === 'failed') return 'failed';
    if (status === 'awaiting_upload' || status === 'pending') return 'waiting';
    return 'moving';
  }

  // The badge's colour class changes with the status; its own class stays (the
  // renderers find the element by it).
  function setBadge(el, status, text) {
    el.textContent = text;
    el.classList.remove('done', 'failed', 'waiting', 'moving');
    el.classList.add(badgeClass(status));
  }

  // Reuses the list item with data-id `id` under `list` (made from template `tpl`),
  // keeping the order of `ids`: a poll updates the page in place, so focus, links and
  // the screen reader's place survive it.
  function keyed(list, tpl, ids) {
    const old = new Map();
    for (const li of list.children) old.set(li.dataset.id, li);
    const out = ids.map((id) => {
      let li = old.get(id);
      if (!li) {
        li = $(tpl).content.firstElementChild.cloneNode(true);
        li.dataset.id = id;
      }
      old.delete(id);
      return li;
    });
    for (const li of old.values()) li.remove();
    out.forEach((li, i) => {
      if (list.children[i] !== li) list.insertBefore(li, list.children[i] || null);
    });
    return out;
  }

  // A job's status changed since the last look: said once to screen readers.
  function announce(li, j, title) {
    const before = li.dataset.status;
    li.dataset.status = j.status;
    if (before && before !== j.status)
      $('announce').textContent = 'The ' + (j.analysis_mode || '') + ' analysis of ' + title + ': ' +
                                  (STATUS_TEXT[j.status] || words(j.status)) + '.';
  }

  function renderSession(li, s, jobs) {
    li.querySelector('.session-title').textContent = s.title || 'Untitled session';
    setBadge(li.querySelector('.session-status'), s.status, words(s.status));
    const n = jobs.length;
    li.querySelector('.session-meta').textContent =
        'Created ' + when(s.created_at) + ' · ' +
        (n === 0 ? 'no video yet' : n + (n === 1 ? ' analysis' : ' analyses'));
    const items = keyed(li.querySelector('.jobs'), 'job-tpl', jobs.map((j) => j.id));
    items.forEach((item, i) => {
      renderJob(item, jobs[i]);
      announce(item, jobs[i], s.title || 'an untitled session');
    });
  }

  function renderJob(li, j) {
    const mode = j.analysis_mode || 'analysis';
    const here = j.status === 'awaiting_upload' && j.id === uploadingJob;
    li.querySelector('.job-mode').textContent = mode;
    setBadge(li.querySelector('.job-status'), here ? 'queued' : j.status,
             here ? 'Uploading' : STATUS_TEXT[j.status] || words(j.status));
    const pct = Math.max(0, Math.min(100, Number(j.progress_pct) || 0));
    const bar = li.querySelector('.job-progress');
    bar.value = pct;
    bar.setAttribute('aria-label', 'Progress of the ' + mode + ' analysis');
    bar.setAttribute('aria-valuetext', pct + ' percent, ' + (STATUS_TEXT[j.status] || j.status));
    li.querySelector('.job-pct').textContent = pct + ' %';
    const parts = [];
    if (j.total_chunks > 0) parts.push(j.completed_chunks + ' of ' + j.total_chunks + ' chunks');
    // DEEP_QUEUED lasts while the chunks are analysed (DESIGN.md §4).
    if (j.stage === 'DEEP_QUEUED' && j.completed_chunks > 0) parts.push('analysing the chunks');
    else if (STAGE_TEXT[j.stage]) parts.push(STAGE_TEXT[j.stage]);
    if (j.video_duration_seconds > 0) parts.push(Math.round(j.video_duration_seconds) + ' s of video');
    if (here) parts.push('the video is on its way from this page');
    else if (j.status === 'awaiting_upload')
      parts.push('no usable video was received: start a new upload');
    li.querySelector('.job-detail').textContent = parts.join(' · ');
    show(li.querySelector('.job-error'), j.status === 'failed' ? j.error_message || 'failed' : '');

    const retry = li.querySelector('.retry');
    retry.hidden = !j.retryable;
    retry.onclick = () => onRetry(j.id, retry);

    const box = li.querySelector('.job-report');
    const done = j.status === 'done' || j.status === 'completed';
    box.hidden = !done;
    if (!done) return;
    const l = links.get(j.id);
    const report = li.querySelector('.report-link');
    const results = li.querySelector('.results-link');
    if (l && l.report) {
      report.href = l.report;
      report.hidden = false;
    } else {
      report.removeAttribute('href');
      report.hidden = true;
    }
    if (l && l.results) {
      results.href = l.results;
      results.hidden = false;
    } else {
      results.removeAttribute('href');
      results.hidden = true;
    }
    li.querySelector('.report-summary').textContent =
        l && l.summary ? l.summary : l && !l.pending && !l.report ? 'The report is not available.' : '';
  }

  // The summary line of a finished job's report (deep_report, Cricksy's report shape).
  function summaryOf(job) {
    const r = job && job.deep_report;
    if (!r || typeof r !== 'object') return '';
    if (typeof r.summary === 'string') return r.summary;
    if (r.summary && typeof r.summary.text === 'string') return r.summary.text;
    return '';
  }

  // Fetches the links of finished jobs that have none yet or old ones.
  async function fetchLinks(jobs, seq) {
    const now = Date.now();
    for (const j of jobs) {
      if (j.status !== 'done' && j.status !== 'completed') continue;
      const l = links.get(j.id);
      if (l && (l.pending || now - l.at < LINK_REFRESH_MS)) continue;
      links.set(j.id, {at: now, pending: true});
      try {
        const full = await api('GET', 'analysis-jobs/' + encodeURIComponent(j.id));
        if (!token) return;
        links.set(j.id, {
          at: Date.now(),
          report: full.report_url || '',
          results: full.final_results_url || '',
          summary: summaryOf(full),
        });
        if (seq !== pollSeq) return;
      } catch (err) {
        links.delete(j.id);
        throw err;
      }
    }
  }

  function render(sessions, jobs) {
    const bySession = new Map();
    for (const j of jobs) {
      if (!bySession.has(j.session_id)) bySession.set(j.session_id, []);
      bySession.get(j.session_id).push(j);
    }
    shownSessions = sessions;
    const items = keyed($('session-list'), 'session-tpl', sessions.map((s) => s.id));
    items.forEach((li, i) => renderSession(li, sessions[i], bySession.get(sessions[i].id) || []));
    $('list-empty').hidden = sessions.length > 0;
  }

  // One look at the server: the list, then the links of finished jobs.  True when a
  // job still moves.
  async function refresh(seq) {
    const [sessions, page] =
        await Promise.all([api('GET', 'sessions?limit=100'), api('GET', 'analysis-jobs?limit=200')]);
    if (seq !== pollSeq) return false;
    const jobs = (page && page.jobs) || [];
    render(sessions || [], jobs);
    await fetchLinks(jobs, seq);
    if (seq !== pollSeq) return false;
    render(sessions || [], jobs);
    return jobs.some((j) => MOVING.has(j.status));
  }

  function poll(delay) {
    clearTimeout(pollTimer);
    pollTimer = setTimeout(async () => {
      if (!token) return;
      const seq = ++pollSeq;
      let moving = false;
      try {
        moving = await refresh(seq);
        show($('list-error'), '');
      } catch (err) {
        if (seq !== pollSeq) return;
        if (err.status === 401) {
          signOut(explain(err, 'load your sessions'));
          return;
        }
        show($('list-error'), explain(err, 'load your sessions'));
      }
      if (seq === pollSeq && token) poll(moving || uploadXhr ? POLL_ACTIVE_MS : POLL_IDLE_MS);
    }, delay);
  }

  async function onRetry(jobId, button) {
    button.disabled = true;
    try {
      await api('POST', 'analysis-jobs/' + encodeURIComponent(jobId) + '/retry', {});
      show($('list-error'), '');
    } catch (err) {
      if (err.status === 401) return signOut(explain(err, 'retry the analysis'));
      show($('list-error'), explain(err, 'retry the analysis'));
    }
    button.disabled = false;
    poll(0);
  }

  // ---- uploading ------------------------------------------------------------------

  function looksLikeVideo(file) {
    if (file.type) return file.type.startsWith('video/');
    return VIDEO_EXT.test(file.name);
  }

  function size(n) {
    if (n < 1e6) return Math.round(n / 1e3) + ' kB';
    return (n / 1e6).toFixed(n < 1e8 ? 1 : 0) + ' MB';
  }

  function setUploadProgress(pct, text) {
    $('upload-progress').value = pct;
    $('upload-pct').textContent = Math.floor(pct) + ' %';
    $('upload-label').textContent = text;
  }

  // The storage server's reason: JSON {"detail"} (crease's /blobs/) or S3's XML
  // <Message>; read as text, never as HTML.
  function storageReason(xhr) {
    const text = String(xhr.responseText || '');
    try {
      const d = detailOf(JSON.parse(text));
      if (d) return d;
    } catch (e) {
      /* not JSON */
    }
    const m = /<Message>([^<]{1,300})<\/Message>/.exec(text);
    return m ? m[1] : '';
  }

  function putProblem(status, reason, url) {
    let where = 'the storage server', local = false;
    try {
      const u = new URL(url, location.href);
      where = u.origin;
      local = u.pathname.startsWith('/blobs/');
    } catch (e) {
      /* keep the words */
    }
    const d = reason ? ' (' + reason + ')' : '';
    // The server's own blob store answers no CORS preflight: its upload links work only
    // from a page of their origin (crease serve --public-url).
    if (status === 0 && local && where !== location.origin)
      return 'The upload was blocked: this page was opened at ' + location.origin +
             ', but the server hands out upload links for ' + where + '. Open the page at ' +
             where + '/ and try again.';
    if (status === 0)
      return 'The upload could not reach ' + where + ': the network failed or the browser ' +
             'blocked the request. Check your connection and try again.';
    if (status === 403)
      return 'The storage server refused the upload' + d +
             '. The upload link may have expired: start the upload again.';
    if (status === 409) return 'The storage server refused the upload' + d + '.';
    if (status === 413) return 'The video is too large for the storage server' + d + '.';
    return 'The upload failed: the storage server answered HTTP ' + status + d + '.';
  }

  // PUTs the file to the presigned URL, reporting progress; resolves when stored.
  function putFile(url, file) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      uploadXhr = xhr;
      xhr.open('PUT', url);
      xhr.setRequestHeader('Content-Type', file.type || 'application/octet-stream');
      xhr.upload.onprogress = (e) => {
        if (!e.lengthComputable || e.total === 0) return;
        setUploadProgress(100 * e.loaded / e.total,
                          'Uploading ' + file.name + ': ' + size(e.loaded) + ' of ' + size(e.total));
      };
      xhr.onload = () => {
        uploadXhr = null;
        if (xhr.status >= 200 && xhr.status < 300) resolve();
        else reject(new Error(putProblem(xhr.status, storageReason(xhr), url)));
      };
      xhr.onerror = () => {
        uploadXhr = null;
        reject(new Error(putProblem(0, '', url)));
      };
      xhr.onabort = () => {
        uploadXhr = null;
        reject(new Error('The upload was cancelled.'));
      };
      xhr.send(file);
    });
  }

  async function onUpload(ev) {
    ev.preventDefault();
    const err = $('upload-error');
    show(err, '');
    $('upload-message').textContent = '';
    const file = $('video').files[0];
    if (!file) {
      show(err, 'Choose a video file first.');
      $('video').focus();
      return;
    }
    if (!looksLikeVideo(file)) {
      show(err, '"' + file.name + '" is not a video file (' + (file.type || 'unknown type') +
                    '). Choose a video such as an MP4 or MOV file.');
      $('video').focus();
      return;
    }
    if (file.size === 0) {
      show(err, '"' + file.name + '" is empty. Choose another video.');
      return;
    }
    const mode = $('mode').value;
    const title = ($('title').value.trim() || file.name).slice(0, 255);
    const button = $('upload-button');
    button.disabled = true;
    let step = 'create the session';
    try {
      // A session of this title that has no job yet (an upload refused before it
      // started, e.g. by the rate limit) is used again rather than left empty.
      const session = shownSessions.find((s) => s.title === title && s.analysis_job_count === 0) ||
                      await api('POST', 'sessions', {title, analysis_context: mode});
      step = 'start the upload';
      const init = await api('POST', 'videos/upload/initiate',
                             {session_id: session.id, analysis_mode: mode, filename: file.name});
      uploadingJob = init.job_id;
      poll(0); // the new session appears, its video on the way
      $('upload-status').hidden = false;
      setUploadProgress(0, 'Uploading ' + file.name);
      try {
        await putFile(init.upload_url, file);
      } catch (e) {
        throw Object.assign(e, {put: true});
      }
      setUploadProgress(100, 'Uploaded ' + file.name + ': checking the video');
      step = 'finish the upload';
      await api('POST', 'videos/upload/complete', {job_id: init.job_id});
      $('upload-message').textContent =
          'Uploaded. crease is analysing \u201c' + title + '\u201d: follow its progress below.';
      $('upload-form').reset();
      $('upload-status').hidden = true;
    } catch (e) {
      $('upload-status').hidden = true;
      if (!token) return; // signed out meanwhile (the upload was cancelled): nothing to say
      if (e.status === 401) {
        signOut(explain(e, step));
        return;
      }
      const text = e instanceof ApiError ? explain(e, step) : e.message;
      show(err, text);
      // "Try again in N seconds" is no longer true after N seconds.
      const wait = e.status === 429 ? Number(e.retryAfter) : 0;
      if (wait > 0 && wait < 3600)
        setTimeout(() => err.textContent === text && show(err, ''), wait * 1000);
    } finally {
      uploadingJob = '';
      button.disabled = false;
      if (token) poll(0);
    }
  }

  // ---- start ----------------------------------------------------------------------

  $('signin-form').addEventListener('submit', onSignIn);
  $('sign-out').addEventListener('click', () => signOut(''));
  $('upload-form').addEventListener('submit', onUpload);
  $('refresh').addEventListener('click', () => poll(0));
  token = sessionStorage.getItem(TOKEN_KEY);
  if (token) {
    showApp();
    poll(0);
  } else {
    showSignIn('');
  }
})();
