// Turns the figures links.mjs measured (its --report JSON) into docs/bandwidth-results-browser.md.
//
//   node tests/browser/bandwidth-results-browser.mjs docs/bandwidth-results-browser.json > docs/bandwidth-results-browser.md
//
// bash tests/browser/bandwidth-results.sh does the measuring and this in one command.
import fs from 'node:fs';

const file = process.argv[2];
if (!file) {
  console.error('usage: node bandwidth-results-browser.mjs <links report .json>');
  process.exit(2);
}
const r = JSON.parse(fs.readFileSync(file, 'utf8'));
const fmt = (n, d = 1) => (Number.isFinite(n) ? String(+n.toFixed(d)) : '–');
const pct = (x) => `${Math.round(x * 100)} %`;
const secs = (ms) => (ms === null || ms === undefined ? null : fmt(ms / 1000, 1));
const cell = (s) => String(s).replace(/\|/g, '\\|');

const impairment = (c) => {
  const parts = [];
  for (const [who, l] of [['viewer', c.viewer], ['sender', c.sender]]) {
    for (const [dir, d] of Object.entries(l || {})) if (d !== 'clear') parts.push(`${who} ${dir === 'down' ? 'downlink' : 'uplink'}: ${d}`);
  }
  return `${parts.join('; ') || 'none'}${c.onset === 'step' ? ' (after the warm-up)' : ''}`;
};

const out = [];
const p = (s = '') => out.push(s);
p('# Bandwidth in the browser: the demo page on impaired links');
p();
p('Generated from what `tests/browser/links.mjs` measured; regenerate (measure and write) with one command:');
p();
p('```');
p('bash tests/browser/bandwidth-results.sh');
p('```');
p();
p(`(It builds the server, runs relay-check.mjs and links.mjs in a loopback-only network namespace through tests/browser/ci.sh, writes the figures to docs/bandwidth-results-browser.json and this file from them with \`node tests/browser/bandwidth-results-browser.mjs docs/bandwidth-results-browser.json > docs/bandwidth-results-browser.md\`.)`);
p();
p(`Measured ${r.generated.slice(0, 16).replace('T', ' ')} UTC, ${r.chromium || 'Chromium'}, ${r.cpus} CPU cores, ${fmt(r.seconds, 0)} s in all. ` +
  'One run, not an average: absolute figures move with the machine\'s load (the "load" column is the 1-minute load average at the start and end of the case; above the core count, the browsers compete for CPU).');
p();
p('Setup: per case, a fresh room of the visit type; a patient publishes the fake camera (1280×720 at 30 fps, the profile\'s three simulcast layers) and microphone; a clinician watches and asks for the top layer (1280×720 view). Both pages run headless Chromium; each page\'s media goes through its own UDP relay (tests/browser/lib/relay.mjs) that impairs one direction: a token bucket like `tc tbf` (burst 5,000 bytes, a 25,000-byte tail-drop queue, as the simulator\'s bottleneck), seeded loss and delay. Signaling is not impaired. ' +
  `Warm-up ${r.setup.warmupMs / 1000} s from the moment media connects, then a ${r.setup.windowMs / 1000} s window sampled from getStats every ${r.setup.sampleMs} ms, then every limit is lifted and the top layer's return is timed (watched for ${r.setup.recoveryLimitMs / 1000} s).`);
p();
p('Columns:');
p();
p('- **picture**: decoded sizes in the window, as shares of samples in which a frame was decoded in the last second; **live**: the share of samples with a frame in the last second.');
p('- **fps**: frames decoded over the window / its length (lowest over any 1 s in brackets).');
p('- **freezes**: Chromium\'s inbound-rtp `freezeCount` over the window and the longest (from `totalFreezesDuration` between samples); a stall still open at the window\'s end in brackets.');
p('- **layers**: share of samples per spatial layer the server said it forwards (`layer-switched`).');
p('- **audio**: longest span without a new packet, share of played samples concealed.');
p('- **downlink**: what the viewer\'s relay delivered (media, retransmissions, probes, RTCP), kbps; tail drops at its queue.');
p('- **alert**: the first quality alert on the viewer\'s / the sender\'s screen, seconds after the media connected through a limit in place from the start, or after the step down.');
p('- **top back**: seconds from lifting the limits until the viewer decodes the sender\'s widest layer (and the server says layer 2); for the uplink case, the sender\'s own return and the viewer\'s lag behind it.');
p();
p('| trace | visit | impairment | picture (live) | fps | freezes | layers | audio | downlink | alert viewer / sender | top back | result |');
p('|---|---|---|---|---:|---|---|---|---:|---|---|---|');
for (const c of r.cases) {
  const verdict = c.ok ? 'ok' : `**FAIL**: ${c.error ? cell(c.error) : c.checks.filter((x) => !x.ok).map((x) => cell(x.what)).join('; ')}`;
  if (c.error) {
    p(`| ${c.trace} | ${c.visit} | ${impairment(c)} | – | – | – | – | – | – | – | – | ${verdict} |`);
    continue;
  }
  const v = c.video;
  const sizes = Object.entries(v.sizes).sort((a, b) => b[1] - a[1]).map(([k, s]) => `${k.replace('x', '×')} ${pct(s)}`).join(', ') || 'none';
  const layers = Object.entries(v.layers).sort().map(([k, s]) => `${k === '?' ? '?' : `L${k}`} ${pct(s)}`).join(', ');
  const al = (a) => (a ? `${fmt(a.afterMs / 1000, 2)} s (${a.state})` : 'none');
  let top = c.recovery.ms === null ? `not in ${r.setup.recoveryLimitMs / 1000} s` : `${secs(c.recovery.ms)} s`;
  if (c.follow && c.follow.senderMs !== null && c.id === 'up500') {
    top += `; sender ${c.follow.width} wide at ${secs(c.follow.senderMs)} s, viewer +${c.follow.lagMs === null ? 'never' : `${secs(c.follow.lagMs)} s`}`;
  }
  p(`| ${c.trace} | ${c.visit} | ${impairment(c)} | ${sizes} (${pct(v.liveShare)}) | ${fmt(v.fps)} (${fmt(v.minFps1s)}) | ` +
    `${v.freezes}, longest ${fmt(v.longestFreeze, 2)} s${v.openStall > 0.5 ? ` (open ${fmt(v.openStall, 1)} s)` : ''} | ${layers} | ` +
    `gap ${fmt(c.audio.longestGap, 2)} s, ${fmt(c.audio.concealedPct, 1)} % | ${fmt(c.link.viewerDownKbps, 0)} (${c.link.viewerDown.tailDropped} drops) | ` +
    `${al(c.alert.viewer)} / ${al(c.alert.publisher)} | ${top} | ${verdict} |`);
}
p();
p('Bounds (from issue 10, item 6; stated with each case in `tests/browser/links.mjs`):');
p();
for (const c of r.cases) p(`- ${c.trace}: ${c.checks.map((x) => `${x.ok ? '✓' : '✗'} ${x.what}`).join('; ') || c.error}`);
p();
p('What the sender sent in each window (kbps, frames per second, and why the encoder limited itself, when it did):');
p();
for (const c of r.cases) {
  if (c.error) continue;
  const s = Object.entries(c.sent).sort().map(([rid, x]) => `${rid} ${x.width}×${x.height} ${fmt(x.kbps, 0)} kbps ${fmt(x.fps, 0)} fps${x.limitation && x.limitation !== 'none' ? ` (${x.limitation})` : ''}`).join(', ');
  p(`- ${c.trace}: ${s}; load ${fmt(c.load[0], 2)} → ${fmt(c.load[1], 2)}`);
}
p();
process.stdout.write(`${out.join('\n')}`);
