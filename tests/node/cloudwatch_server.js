#!/usr/bin/env node
// cloudwatch_server.js -- a stand-in for CloudWatch's query API (PutMetricData) for the
// test of `crease autoscale-metric`: it checks each request the way AWS does and
// recomputes its Signature Version 4 on its own, from the canonical request of what
// it received (AWS General Reference, "Create a signed AWS API request"), with
// nothing but node's crypto -- an implementation independent of crease's.
//
//   node cloudwatch_server.js self-test
//       the signer here reproduces the SigV4 test suite's get-vanilla and
//       post-x-www-form-urlencoded signatures
//   CW_ACCESS_KEY=... CW_SECRET=... CW_REGION=... node cloudwatch_server.js PORTFILE LOG
//       listens on 127.0.0.1 (a free port, written to PORTFILE); answers 200 with a
//       PutMetricDataResponse when the request is right, else AWS's error document
//       (403 SignatureDoesNotMatch / InvalidClientTokenId / RequestExpired, 400
//       InvalidAction / MissingParameter / InvalidParameterValue); appends one JSON line
//       per request to LOG: {ok, code, params, signedHeaders, token}
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const http = require('http');

const sha256 = (b) => crypto.createHash('sha256').update(b).digest('hex');
const hmac = (k, s) => crypto.createHmac('sha256', k).update(s).digest();

// RFC 3986 encoding as SigV4 wants it: unreserved as is, the rest %XX upper case.
function uriEncode(s, keepSlash) {
  let out = '';
  for (const byte of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(byte);
    if (/[A-Za-z0-9\-._~]/.test(c) || (keepSlash && c === '/')) out += c;
    else out += '%' + byte.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

// The signature of a request given as {method, path, query, headers (lower-case
// name -> value), signedHeaders [names], body}, for every service but S3 (the path
// as received is encoded once more).
function signature({method, path, query, headers, signedHeaders, body}, secret, amzDate, region, service) {
  const canonicalUri = uriEncode(path, true);
  const q = new URLSearchParams(query || '');
  const pairs = [...q.entries()].map(([k, v]) => [uriEncode(k, false), uriEncode(v, false)]);
  pairs.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  const canonicalQuery = pairs.map(([k, v]) => `${k}=${v}`).join('&');
  const names = [...signedHeaders].sort();
  const canonicalHeaders = names
    .map((n) => `${n}:${String(headers[n]).trim().replace(/\s+/g, ' ')}\n`)
    .join('');
  const creq = [method, canonicalUri, canonicalQuery, canonicalHeaders, names.join(';'), sha256(body)].join('\n');
  const day = amzDate.slice(0, 8);
  const scope = `${day}/${region}/${service}/aws4_request`;
  const sts = ['AWS4-HMAC-SHA256', amzDate, scope, sha256(creq)].join('\n');
  const key = hmac(hmac(hmac(hmac('AWS4' + secret, day), region), service), 'aws4_request');
  return crypto.createHmac('sha256', key).update(sts).digest('hex');
}

function selfTest() {
  const assert = require('assert');
  const secret = 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY';
  const date = '20150830T123600Z';
  const host = 'example.amazonaws.com';
  assert.strictEqual(
    signature({method: 'GET', path: '/', query: '', headers: {host, 'x-amz-date': date},
               signedHeaders: ['host', 'x-amz-date'], body: ''}, secret, date, 'us-east-1', 'service'),
    '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31');
  assert.strictEqual(
    signature({method: 'POST', path: '/', query: '',
               headers: {host, 'x-amz-date': date, 'content-type': 'application/x-www-form-urlencoded'},
               signedHeaders: ['content-type', 'host', 'x-amz-date'], body: 'Param1=value1'},
              secret, date, 'us-east-1', 'service'),
    'ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a');
  console.log('self-test: SigV4 test suite get-vanilla and post-x-www-form-urlencoded: ok');
}

function errorDoc(code, message) {
  return `<ErrorResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/"><Error><Type>Sender</Type>` +
    `<Code>${code}</Code><Message>${message}</Message></Error><RequestId>test</RequestId></ErrorResponse>`;
}

// The checks CloudWatch makes, in its order: credentials and signature, then the action.
function check(req, body) {
  const env = process.env;
  const h = req.headers; // node lower-cases names
  const auth = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$/.exec(h.authorization || '');
  if (!auth) return [403, 'IncompleteSignature', 'Authorization header malformed'];
  const [, akid, day, region, service, signed, sig] = auth;
  if (akid !== env.CW_ACCESS_KEY) return [403, 'InvalidClientTokenId', 'The security token included in the request is invalid.'];
  const amzDate = h['x-amz-date'] || '';
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate);
  if (!m || amzDate.slice(0, 8) !== day) return [403, 'IncompleteSignature', 'X-Amz-Date missing or not the credential date'];
  const when = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
  if (Math.abs(Date.now() - when) > 15 * 60 * 1000) return [403, 'RequestExpired', 'Request has expired.'];
  if (region !== env.CW_REGION || service !== 'monitoring')
    return [403, 'SignatureDoesNotMatch', `Credential should be scoped to ${env.CW_REGION}/monitoring`];
  const names = signed.split(';');
  for (const need of ['host', 'x-amz-date', 'content-type'])
    if (!names.includes(need)) return [403, 'SignatureDoesNotMatch', `${need} must be signed`];
  if (h['x-amz-security-token'] !== undefined && !names.includes('x-amz-security-token'))
    return [403, 'SignatureDoesNotMatch', 'x-amz-security-token must be signed'];
  for (const n of names) if (h[n] === undefined) return [403, 'SignatureDoesNotMatch', `signed header ${n} not sent`];
  const url = new URL(req.url, 'http://x');
  const want = signature({method: req.method, path: url.pathname, query: url.search.slice(1), headers: h,
                          signedHeaders: names, body}, env.CW_SECRET, amzDate, region, service);
  if (want !== sig) return [403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided.'];
  if (req.method !== 'POST' || !/^application\/x-www-form-urlencoded\b/.test(h['content-type'] || ''))
    return [400, 'InvalidAction', 'POST a form'];
  const p = Object.fromEntries(new URLSearchParams(body.toString('utf8')));
  if (p.Action !== 'PutMetricData' || p.Version !== '2010-08-01') return [400, 'InvalidAction', 'not PutMetricData 2010-08-01'];
  if (!p.Namespace) return [400, 'MissingParameter', 'Namespace'];
  for (let i = 1; p[`MetricData.member.${i}.MetricName`] !== undefined; i++) {
    const v = p[`MetricData.member.${i}.Value`];
    if (v === undefined || !Number.isFinite(Number(v))) return [400, 'InvalidParameterValue', `member ${i} Value`];
    const t = p[`MetricData.member.${i}.Timestamp`];
    if (t !== undefined && !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/.test(t)) return [400, 'InvalidParameterValue', `member ${i} Timestamp`];
  }
  if (p['MetricData.member.1.MetricName'] === undefined) return [400, 'MissingParameter', 'MetricData'];
  return [200, null, null, p, names];
}

function serve(portFile, logFile) {
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const [code, err, msg, params, names] = check(req, body);
      fs.appendFileSync(logFile, JSON.stringify({ok: code === 200, code: err || 'OK', message: msg,
        params: params || null, signedHeaders: names || null,
        token: req.headers['x-amz-security-token'] || null}) + '\n');
      res.writeHead(code, {'Content-Type': 'text/xml'});
      res.end(code === 200
        ? '<PutMetricDataResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/"><ResponseMetadata><RequestId>test</RequestId></ResponseMetadata></PutMetricDataResponse>'
        : errorDoc(err, msg));
    });
  });
  server.listen(0, '127.0.0.1', () => fs.writeFileSync(portFile, String(server.address().port)));
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
}

const args = process.argv.slice(2);
if (args[0] === 'self-test') selfTest();
else if (args.length === 2) serve(args[0], args[1]);
else {
  console.error('usage: cloudwatch_server.js self-test | PORTFILE LOG');
  process.exit(2);
}
