#!/usr/bin/env node
// prom_parse.js -- a strict parser of Prometheus's text exposition format 0.0.4
// (prometheus.io/docs/instrumenting/exposition_formats, "Text-based format"), for the
// tests of crease's /metrics.  No dependency: the npm parsers at hand accept any line
// and lose the series of labelled histograms, so they could not fail a test.
//
//   node prom_parse.js self-test          the documented examples parse to the values
//                                         the page states; broken variants are refused
//   node prom_parse.js check FILE [--crease]
//                                         parses FILE (exit 1 with line:reason when it
//                                         breaks a rule) and prints every sample as
//                                         `name{k="v",...} value`, labels sorted, one per
//                                         line; --crease also holds crease's naming rules
//
// Rules enforced: line grammar (names, label syntax, the three escapes \\ \" \n in label
// values and \\ \n in HELP, values as Go's ParseFloat reads them plus NaN/+Inf/-Inf,
// optional integer timestamp); at most one HELP and one TYPE per family, TYPE before
// the family's first sample; a family's lines in one group; no duplicate label name in
// a sample, no duplicate series; counters >= 0; histograms: only _bucket (with le),
// _sum, _count samples, le ascending, bucket counts non-decreasing, a +Inf bucket equal
// to _count, for every label set; summaries: quantile label on the bare name.
'use strict';
const fs = require('fs');

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

class ParseError extends Error {
  constructor(line, msg) {
    super(`line ${line}: ${msg}`);
  }
}

function parseValue(s, ln) {
  if (s === 'NaN') return NaN;
  if (s === '+Inf' || s === 'Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  // Go's ParseFloat: decimal or hex float, optional sign and exponent, '_' not allowed.
  if (!/^[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?|0[xX][0-9a-fA-F]+(\.[0-9a-fA-F]*)?([pP][+-]?\d+)?)$/.test(s))
    throw new ParseError(ln, `bad value '${s}'`);
  return Number(s);
}

// The label set of `text` starting after '{'; returns [labels, index after '}'].
function parseLabels(text, i, ln) {
  const labels = {};
  for (;;) {
    while (text[i] === ' ' || text[i] === '\t') i++;
    if (text[i] === '}') return [labels, i + 1];
    const m = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(text.slice(i));
    if (!m) throw new ParseError(ln, `bad label name at column ${i + 1}`);
    const name = m[0];
    i += name.length;
    while (text[i] === ' ' || text[i] === '\t') i++;
    if (text[i] !== '=') throw new ParseError(ln, `'=' expected after label ${name}`);
    i++;
    while (text[i] === ' ' || text[i] === '\t') i++;
    if (text[i] !== '"') throw new ParseError(ln, `'"' expected for label ${name}`);
    i++;
    let v = '';
    for (;;) {
      if (i >= text.length) throw new ParseError(ln, `unterminated value of label ${name}`);
      const c = text[i];
      if (c === '"') break;
      if (c === '\\') {
        const e = text[i + 1];
        if (e === '\\') v += '\\';
        else if (e === '"') v += '"';
        else if (e === 'n') v += '\n';
        else throw new ParseError(ln, `bad escape '\\${e}' in label ${name}`);
        i += 2;
        continue;
      }
      v += c;
      i++;
    }
    i++;
    if (Object.prototype.hasOwnProperty.call(labels, name))
      throw new ParseError(ln, `label ${name} twice`);
    labels[name] = v;
    while (text[i] === ' ' || text[i] === '\t') i++;
    if (text[i] === ',') {
      i++;
      continue;
    }
    if (text[i] === '}') return [labels, i + 1];
    throw new ParseError(ln, `',' or '}' expected at column ${i + 1}`);
  }
}

function unescapeHelp(s, ln) {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    if (s[i] !== '\\') {
      out += s[i];
      continue;
    }
    const e = s[++i];
    if (e === '\\') out += '\\';
    else if (e === 'n') out += '\n';
    else throw new ParseError(ln, `bad escape '\\${e}' in HELP`);
  }
  return out;
}

// The family a sample name belongs to, given the declared types.
function familyOf(name, types) {
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (name.endsWith(suffix)) {
      const base = name.slice(0, -suffix.length);
      const t = types.get(base);
      if (t === 'histogram' || (t === 'summary' && suffix !== '_bucket')) return base;
    }
  }
  return name;
}

function canonical(name, labels) {
  const keys = Object.keys(labels).sort();
  if (keys.length === 0) return name;
  const esc = (v) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
  return `${name}{${keys.map((k) => `${k}="${esc(labels[k])}"`).join(',')}}`;
}

function parse(text) {
  const families = new Map(); // name -> {type, help, samples: []}
  const types = new Map();
  const helps = new Set();
  const done = new Set(); // families whose group of lines has ended
  const series = new Set();
  let current = null;
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  else if (text.length > 0) throw new ParseError(lines.length, 'the last line does not end with a line feed');
  const fam = (name) => {
    if (!families.has(name)) families.set(name, {name, type: 'untyped', help: null, samples: []});
    return families.get(name);
  };
  const enter = (name, ln) => {
    if (current === name) return;
    if (done.has(name)) throw new ParseError(ln, `lines of ${name} are not in one group`);
    if (current !== null) done.add(current);
    current = name;
  };
  lines.forEach((raw, idx) => {
    const ln = idx + 1;
    const line = raw.replace(/^[ \t]+/, '');
    if (line === '') return;
    if (line[0] === '#') {
      const m = /^#[ \t]+(HELP|TYPE)[ \t]+(\S+)(?:[ \t]+(.*))?$/.exec(line);
      if (!m) return; // a comment
      const [, kw, name, rest = ''] = m;
      if (!NAME.test(name)) throw new ParseError(ln, `bad metric name '${name}'`);
      enter(name, ln);
      const f = fam(name);
      if (kw === 'HELP') {
        if (helps.has(name)) throw new ParseError(ln, `second HELP for ${name}`);
        helps.add(name);
        f.help = unescapeHelp(rest, ln);
      } else {
        const t = rest.trim();
        if (!TYPES.has(t)) throw new ParseError(ln, `unknown type '${t}'`);
        if (types.has(name)) throw new ParseError(ln, `second TYPE for ${name}`);
        if (f.samples.length > 0) throw new ParseError(ln, `TYPE of ${name} after its samples`);
        types.set(name, t);
        f.type = t;
      }
      return;
    }
    const nm = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
    if (!nm) throw new ParseError(ln, 'a sample must start with a metric name');
    const name = nm[0];
    let i = name.length;
    let labels = {};
    if (line[i] === '{') [labels, i] = parseLabels(line, i + 1, ln);
    const rest = line.slice(i);
    const parts = rest.trim().split(/[ \t]+/);
    if (!/^[ \t]/.test(rest) || parts.length < 1 || parts.length > 2 || parts[0] === '')
      throw new ParseError(ln, 'value (and optional timestamp) expected after the name');
    const value = parseValue(parts[0], ln);
    if (parts.length === 2 && !/^-?\d+$/.test(parts[1]))
      throw new ParseError(ln, `bad timestamp '${parts[1]}'`);
    const family = familyOf(name, types);
    enter(family, ln);
    const f = fam(family);
    const key = canonical(name, labels);
    if (series.has(key)) throw new ParseError(ln, `duplicate series ${key}`);
    series.add(key);
    if (f.type === 'counter' && !(value >= 0)) throw new ParseError(ln, `counter ${name} < 0`);
    if (f.type === 'histogram') {
      if (name === family) throw new ParseError(ln, `histogram ${family}: bare sample name`);
      if (name.endsWith('_bucket') !== ('le' in labels))
        throw new ParseError(ln, `histogram ${family}: le belongs on _bucket samples only`);
    }
    if (f.type === 'summary' && name === family && !('quantile' in labels))
      throw new ParseError(ln, `summary ${family}: quantile label missing`);
    f.samples.push({name, labels, value, line: ln});
  });
  for (const f of families.values()) if (f.type === 'histogram') checkHistogram(f);
  return families;
}

function checkHistogram(f) {
  const groups = new Map(); // label set without le -> {buckets: [[le, v]], sum, count}
  for (const s of f.samples) {
    const rest = Object.assign({}, s.labels);
    delete rest.le;
    const k = canonical('', rest);
    if (!groups.has(k)) groups.set(k, {buckets: [], sum: undefined, count: undefined});
    const g = groups.get(k);
    if (s.name.endsWith('_bucket')) g.buckets.push([parseValue(s.labels.le, s.line), s.value, s.line]);
    else if (s.name.endsWith('_sum')) g.sum = s.value;
    else g.count = s.value;
  }
  for (const [k, g] of groups) {
    const where = `histogram ${f.name}${k}`;
    if (g.buckets.length === 0) throw new Error(`${where}: no buckets`);
    for (let i = 1; i < g.buckets.length; i++) {
      if (!(g.buckets[i][0] > g.buckets[i - 1][0]))
        throw new ParseError(g.buckets[i][2], `${where}: le not ascending`);
      if (!(g.buckets[i][1] >= g.buckets[i - 1][1]))
        throw new ParseError(g.buckets[i][2], `${where}: bucket counts not cumulative`);
    }
    const last = g.buckets[g.buckets.length - 1];
    if (last[0] !== Infinity) throw new Error(`${where}: no le="+Inf" bucket`);
    if (g.count === undefined || g.sum === undefined) throw new Error(`${where}: _sum or _count missing`);
    if (last[1] !== g.count) throw new Error(`${where}: +Inf bucket ${last[1]} != _count ${g.count}`);
  }
}

// crease's naming rules (prometheus.io "Metric and label naming", DESIGN.md §12).
function checkCrease(families) {
  for (const f of families.values()) {
    if (!/^(crease_|process_)/.test(f.name)) throw new Error(`${f.name}: not crease_ or process_`);
    if (f.type === 'untyped') throw new Error(`${f.name}: no TYPE`);
    if (!f.help) throw new Error(`${f.name}: no HELP`);
    if ((f.type === 'counter') !== f.name.endsWith('_total'))
      throw new Error(`${f.name}: counters, and only counters, end in _total`);
    if (/_(ms|milliseconds|minutes|hours|kb|mb|percent)(_|$)/.test(f.name))
      throw new Error(`${f.name}: not in base units`);
    if (f.name.startsWith('crease_') && !/^(Per process|Per machine|Database-derived|\d|[A-Z])/.test(f.help))
      throw new Error(`${f.name}: HELP should say what it counts`);
  }
}

// ---- self-test: the page's own examples ---------------------------------------------

const EXAMPLE = `# HELP http_requests_total The total number of HTTP requests.
# TYPE http_requests_total counter
http_requests_total{method="post",code="200"} 1027 1395066363000
http_requests_total{method="post",code="400"}    3 1395066363000

# Escaping in label values:
msdos_file_access_time_seconds{path="C:\\\\DIR\\\\FILE.TXT",error="Cannot find file:\\n\\"FILE.TXT\\""} 1.458255915e9

# Minimalistic line:
metric_without_timestamp_and_labels 12.47

# A weird metric from before the epoch:
something_weird{problem="division by zero"} +Inf -3982045

# A histogram, which has a pretty complex representation in the text format:
# HELP http_request_duration_seconds A histogram of the request duration.
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.05"} 24054
http_request_duration_seconds_bucket{le="0.1"} 33444
http_request_duration_seconds_bucket{le="0.2"} 100392
http_request_duration_seconds_bucket{le="0.5"} 129389
http_request_duration_seconds_bucket{le="1"} 133988
http_request_duration_seconds_bucket{le="+Inf"} 144320
http_request_duration_seconds_sum 53423
http_request_duration_seconds_count 144320

# Finally a summary, which has a complex representation, too:
# HELP rpc_duration_seconds A summary of the RPC duration in seconds.
# TYPE rpc_duration_seconds summary
rpc_duration_seconds{quantile="0.01"} 3102
rpc_duration_seconds{quantile="0.05"} 3272
rpc_duration_seconds{quantile="0.5"} 4773
rpc_duration_seconds{quantile="0.9"} 9001
rpc_duration_seconds{quantile="0.99"} 76656
rpc_duration_seconds_sum 1.7560473e+07
rpc_duration_seconds_count 2693
`;

function value(families, fname, sname, labels) {
  const f = families.get(fname);
  const s = f && f.samples.find((x) => x.name === sname && canonical('', x.labels) === canonical('', labels));
  return s ? s.value : undefined;
}

function selfTest() {
  const assert = require('assert');
  const f = parse(EXAMPLE);
  assert.strictEqual(f.get('http_requests_total').type, 'counter');
  assert.strictEqual(f.get('http_requests_total').help, 'The total number of HTTP requests.');
  assert.strictEqual(value(f, 'http_requests_total', 'http_requests_total', {method: 'post', code: '400'}), 3);
  assert.strictEqual(value(f, 'msdos_file_access_time_seconds', 'msdos_file_access_time_seconds',
                           {path: 'C:\\DIR\\FILE.TXT', error: 'Cannot find file:\n"FILE.TXT"'}), 1.458255915e9);
  assert.strictEqual(value(f, 'metric_without_timestamp_and_labels', 'metric_without_timestamp_and_labels', {}), 12.47);
  assert.strictEqual(value(f, 'something_weird', 'something_weird', {problem: 'division by zero'}), Infinity);
  assert.strictEqual(value(f, 'http_request_duration_seconds', 'http_request_duration_seconds_bucket', {le: '0.2'}), 100392);
  assert.strictEqual(value(f, 'http_request_duration_seconds', 'http_request_duration_seconds_count', {}), 144320);
  assert.strictEqual(value(f, 'rpc_duration_seconds', 'rpc_duration_seconds', {quantile: '0.99'}), 76656);
  assert.strictEqual(value(f, 'rpc_duration_seconds', 'rpc_duration_seconds_sum', {}), 1.7560473e7);
  assert.strictEqual(f.size, 6);
  // broken variants of it, each refused
  const broken = {
    'TYPE after samples': EXAMPLE.replace('# TYPE http_requests_total counter\n', '') + '# TYPE http_requests_total counter\n',
    'second HELP': EXAMPLE.replace('# TYPE http_requests_total counter', '# HELP http_requests_total again\n# TYPE http_requests_total counter'),
    'unknown type': EXAMPLE.replace('histogram\n', 'histo\n'),
    'bad escape': EXAMPLE.replace('division by zero', 'division\\tby zero'),
    'unterminated label': EXAMPLE.replace('{problem="division by zero"}', '{problem="division by zero}'),
    'bad value': EXAMPLE.replace('12.47', '12,47'),
    'bad timestamp': EXAMPLE.replace('+Inf -3982045', '+Inf 1.5'),
    'not cumulative': EXAMPLE.replace('{le="0.2"} 100392', '{le="0.2"} 10'),
    'le not ascending': EXAMPLE.replace('{le="0.1"}', '{le="0.9"}'),
    'no +Inf bucket': EXAMPLE.replace('http_request_duration_seconds_bucket{le="+Inf"} 144320\n', ''),
    '+Inf != count': EXAMPLE.replace('http_request_duration_seconds_count 144320', 'http_request_duration_seconds_count 144321'),
    'duplicate series': EXAMPLE.replace('metric_without_timestamp_and_labels 12.47', 'metric_without_timestamp_and_labels 12.47\nmetric_without_timestamp_and_labels 1'),
    'negative counter': EXAMPLE.replace('} 1027 ', '} -1027 '),
    'split group': EXAMPLE + 'http_requests_total{method="get",code="200"} 1\n',
    'label twice': EXAMPLE.replace('{method="post",code="200"}', '{method="post",method="get"}'),
    'bad name': EXAMPLE.replace('metric_without_timestamp_and_labels', '1metric'),
    'no final line feed': EXAMPLE.slice(0, -1),
    'garbage line': EXAMPLE + 'this is not a sample\n',
  };
  for (const [what, text] of Object.entries(broken)) {
    assert.throws(() => parse(text), undefined, `accepted: ${what}`);
  }
  // crease's naming rules catch what the format allows
  assert.throws(() => checkCrease(parse('# HELP crease_x_ms Per process: x.\n# TYPE crease_x_ms gauge\ncrease_x_ms 1\n')));
  assert.throws(() => checkCrease(parse('# HELP crease_n Per process: n.\n# TYPE crease_n counter\ncrease_n 1\n')));
  assert.throws(() => checkCrease(parse('# HELP other_total Per process.\n# TYPE other_total counter\nother_total 1\n')));
  checkCrease(parse('# HELP crease_n_total Per process: n.\n# TYPE crease_n_total counter\ncrease_n_total 1\n'));
  console.log(`self-test: the documented example and ${Object.keys(broken).length} broken variants: ok`);
}

function main() {
  const [cmd, file, flag] = process.argv.slice(2);
  if (cmd === 'self-test') return selfTest();
  if (cmd !== 'check' || !file) {
    console.error('usage: prom_parse.js self-test | check FILE [--crease]');
    process.exit(2);
  }
  let families;
  try {
    families = parse(fs.readFileSync(file, 'utf8'));
    if (flag === '--crease') checkCrease(families);
  } catch (e) {
    console.error(`${file}: ${e.message}`);
    process.exit(1);
  }
  const fmt = (v) => (v === Infinity ? '+Inf' : v === -Infinity ? '-Inf' : String(v));
  for (const f of families.values())
    for (const s of f.samples) console.log(`${canonical(s.name, s.labels)} ${fmt(s.value)}`);
}

main();
