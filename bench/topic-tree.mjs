// Topic tree: match time with 100,000 subscriptions (the broker issue's "matches 100k subscriptions fast").
// Subscriptions: 100k clients, each with one filter of the form site/<s>/dev/<d>/<metric>, a tenth with
// '+' levels and a hundredth with '#'. Matches: random concrete topics; cached (repeated topic) and
// uncached (the cache cleared before every match) reported separately. Median of 7 rounds.
import { TopicTree } from '../dist/broker/topic-tree.js';

const N = Number(process.argv[2] ?? 100_000);
const tree = new TopicTree();
const opts = { qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 };
let seed = 42;
const rnd = (n) => { seed = (seed * 1103515245 + 12345) >>> 0; return seed % n; };
const metrics = ['temp', 'hum', 'co2', 'power', 'state'];
const t0 = process.hrtime.bigint();
for (let i = 0; i < N; i++) {
  const s = `s${rnd(100)}`, d = `d${rnd(1000)}`, m = metrics[rnd(5)];
  const filter = i % 100 === 0 ? `site/${s}/#` : i % 10 === 0 ? `site/+/dev/${d}/${m}` : `site/${s}/dev/${d}/${m}`;
  tree.add(`c${i}`, filter, opts);
}
const buildMs = Number(process.hrtime.bigint() - t0) / 1e6;
const topics = Array.from({ length: 10_000 }, () => `site/s${rnd(100)}/dev/d${rnd(1000)}/${metrics[rnd(5)]}`);

function round(uncached) {
  let found = 0;
  const start = process.hrtime.bigint();
  for (const t of topics) {
    if (uncached) tree.add('probe', 'never/matches', opts); // any change clears the cache
    const r = tree.match(t);
    found += r.subs.length;
  }
  const ns = Number(process.hrtime.bigint() - start);
  return { perMatchUs: ns / topics.length / 1000, found };
}
const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const results = {};
for (const [name, uncached] of [['cached', false], ['uncached', true]]) {
  round(uncached);
  const xs = [];
  let found = 0;
  for (let i = 0; i < 7; i++) { const r = round(uncached); xs.push(r.perMatchUs); found = r.found; }
  results[name] = { medianUs: median(xs), avgMatchesPerTopic: found / topics.length };
}
console.log(`| subscriptions | build | match (uncached) | match (cached) | matching subscriptions per topic |`);
console.log(`|---:|---:|---:|---:|---:|`);
console.log(`| ${N.toLocaleString('en')} | ${buildMs.toFixed(0)} ms | ${results.uncached.medianUs.toFixed(2)} µs | ${results.cached.medianUs.toFixed(2)} µs | ${results.uncached.avgMatchesPerTopic.toFixed(1)} |`);
