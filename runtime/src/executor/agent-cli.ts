/**
 * The `circleci` command inside every job (as CircleCI's build agent provides it): `tests glob`,
 * `tests split` (by name, filesize or timings), `env subst` and `step halt`. It is plain
 * JavaScript run by the host's node inside the sandbox, written into the job's /tmp at start.
 */
export const AGENT_CLI = String.raw`#!/usr/bin/env node
'use strict';
const fs = require('fs');
const path = require('path');
const args = process.argv.slice(2);
const fail = (m) => { process.stderr.write('circleci: ' + m + '\n'); process.exit(1); };
const readStdin = () => { try { return fs.readFileSync(0, 'utf8'); } catch { return ''; } };
const nodeIndex = Number(process.env.CIRCLE_NODE_INDEX || 0);
const nodeTotal = Math.max(1, Number(process.env.CIRCLE_NODE_TOTAL || 1));

function globToRegex(glob) {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*') {
      if (glob[i + 1] === '*' && glob[i + 2] === '/') { re += '(?:.*/)?'; i += 2; }
      else if (glob[i + 1] === '*') { re += '.*'; i += 1; }
      else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '{') { const end = glob.indexOf('}', i); if (end < 0) { re += '\\{'; continue; } re += '(?:' + glob.slice(i + 1, end).split(',').map((s) => s.replace(/[.+^$()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*')).join('|') + ')'; i = end; }
    else re += c.replace(/[.+^$()|[\]\\]/g, '\\$&');
  }
  return new RegExp('^' + re + '$');
}
function walk(dir, out) {
  let entries = [];
  try { entries = fs.readdirSync(dir, { withFileTypes: true }); } catch { return; }
  for (const e of entries) {
    if (e.name === '.git') continue;
    const p = dir === '.' ? e.name : dir + '/' + e.name;
    if (e.isDirectory()) walk(p, out); else out.push(p);
  }
}
function glob(patterns) {
  const files = [];
  walk('.', files);
  const res = patterns.map((p) => globToRegex(p.replace(/^\.\//, '')));
  return files.filter((f) => res.some((r) => r.test(f))).sort();
}
function seconds(v) {
  const m = /^([0-9.]+)(ms|s|m|h)?$/.exec(String(v || '').trim());
  if (!m) fail('--time-default takes a duration such as 10s, 1.5s or 300ms');
  return Number(m[1]) * ({ ms: 0.001, s: 1, m: 60, h: 3600 }[m[2] || 's']);
}
let timeDefault;
function split(items, by, timingsType) {
  if (nodeTotal === 1) return items;
  const buckets = Array.from({ length: nodeTotal }, () => ({ weight: 0, items: [] }));
  let weights;
  if (by === 'filesize') weights = items.map((f) => { try { return fs.statSync(f).size; } catch { return 0; } });
  else if (by === 'timings') {
    let timings = {};
    try { timings = JSON.parse(fs.readFileSync(process.env.CIRCLE_INTERNAL_TIMINGS_FILE || '/nonexistent', 'utf8'))[timingsType || 'filename'] || {}; } catch {}
    const known = Object.values(timings);
    const avg = timeDefault !== undefined ? timeDefault : known.length ? known.reduce((a, b) => a + b, 0) / known.length : 1;
    const missing = items.filter((i) => timings[i] === undefined);
    if (missing.length === items.length) process.stderr.write('No timing found for the given items: splitting by name instead.\n');
    weights = items.map((i) => timings[i] ?? avg);
  }
  if (!weights) {
    const sorted = [...items].sort();
    return sorted.filter((_, i) => i % nodeTotal === nodeIndex);
  }
  const order = items.map((item, i) => ({ item, w: weights[i] })).sort((a, b) => b.w - a.w || a.item.localeCompare(b.item));
  for (const { item, w } of order) { const b = buckets.reduce((m, x) => (x.weight < m.weight ? x : m)); b.weight += w; b.items.push(item); }
  return buckets[nodeIndex].items.sort();
}
const [cmd, sub, ...rest] = args;
if (cmd === 'tests' && sub === 'glob') {
  if (!rest.length) fail('tests glob needs at least one pattern');
  process.stdout.write(glob(rest).join('\n') + '\n');
} else if (cmd === 'tests' && sub === 'split') {
  let by = 'name', timingsType = 'filename', showCounts = false;
  const files = [];
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    if (a.startsWith('--split-by=')) by = a.slice(11);
    else if (a === '--split-by') by = rest[++i];
    else if (a.startsWith('--timings-type=')) timingsType = a.slice(15);
    else if (a === '--timings-type') timingsType = rest[++i];
    else if (a.startsWith('--time-default=')) timeDefault = seconds(a.slice(15));
    else if (a === '--time-default') timeDefault = seconds(rest[++i]);
    else if (a === '--show-counts') showCounts = true;
    else if (!a.startsWith('--')) files.push(a);
  }
  if (!['name', 'filesize', 'timings'].includes(by)) fail('--split-by must be name, filesize or timings');
  let items = files;
  if (files.length === 1 && fs.existsSync(files[0]) && !/\.(js|ts|py|rb|go|java|php|jsx|tsx)$/.test(files[0])) items = fs.readFileSync(files[0], 'utf8').split(/\s+/).filter(Boolean);
  if (!files.length) items = readStdin().split(/\s+/).filter(Boolean);
  const out = split(items, by, timingsType);
  if (showCounts) process.stderr.write('Total items: ' + items.length + ', this node: ' + out.length + ' (node ' + nodeIndex + ' of ' + nodeTotal + ')\n');
  process.stdout.write(out.join(' ') + (out.length ? '\n' : ''));
} else if (cmd === 'env' && sub === 'subst') {
  const input = rest.length ? rest.join(' ') : readStdin();
  process.stdout.write(input.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (_, a, b) => process.env[a || b] ?? ''));
} else if (cmd === 'step' && sub === 'halt') {
  // Beside the timings file: the directory the executor shares with the job, whatever the driver.
  const dir = process.env.CIRCLE_INTERNAL_TIMINGS_FILE ? path.dirname(process.env.CIRCLE_INTERNAL_TIMINGS_FILE) : process.env.TMPDIR || '/tmp';
  fs.writeFileSync(path.join(dir, '.rh-halt'), '');
  process.stdout.write('This job will stop after this step (circleci step halt).\n');
} else {
  fail('supported here: tests glob, tests split, env subst, step halt');
}
`;

/**
 * The `circleci` command itself: a POSIX shell shim beside circleci.js that runs it with a node the
 * job can use — the executor's own (mounted as .node by drivers that run images) or the image's.
 */
export const AGENT_CLI_SHIM = `#!/bin/sh
d=$(dirname "$0")
for n in "$d/.node" node nodejs; do
  if command -v "$n" >/dev/null 2>&1 && "$n" -e 0 >/dev/null 2>&1; then exec "$n" "$d/circleci.js" "$@"; fi
done
echo "circleci: no node runtime is available in this environment to run the circleci command" >&2
exit 127
`;
