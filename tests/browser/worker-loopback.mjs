// Exercises worker.js and e2ee.js in headless Chromium without the server: a direct loopback
// RTCPeerConnection pair, each side with its own worker; keys agreed over an in-page relay.
// (1) with keys: video decodes, audio flows, counters add up, safety numbers match, chat
//     round-trips, the test record holds plaintext that differs from the wire, a rekey works;
// (2) without keys (negative control): nothing is decoded, frames are dropped, not passed on.
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { staticServer, launch } from './lib/harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const srv = await staticServer(
  { '/web/': path.join(root, 'bins/server/web'), '/t/': path.join(here, 'pages') },
  { '/': ['text/html; charset=utf-8', '<!doctype html><title>loopback</title><body>loopback</body>'], '/favicon.ico': ['image/x-icon', ''] },
);
const browser = await launch(['--autoplay-policy=no-user-gesture-required']);
let passed = 0;
let failed = 0;
const check = (name, ok, figures) => {
  if (ok) passed++;
  else failed++;
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}: ${figures}`);
};
try {
  const page = browser.ctx.pages()[0] || (await browser.ctx.newPage());
  page.on('pageerror', (e) => console.log(`pageerror: ${e}`));
  page.on('console', (m) => m.type() === 'error' && console.log(`console: ${m.text()}`));
  await page.goto(`${srv.base}/`);
  const r = await page.evaluate(async () => (await import('/t/loopback.mjs')).run({ withKeys: true }));
  const sealedVideo = r.workerA.tracks.find((t) => t.trackId === 'a-cam');
  const sealedAudio = r.workerA.tracks.find((t) => t.trackId === 'a-mic');
  const openedVideo = r.workerB.tracks.find((t) => t.trackId === 'b-video');
  check('video decodes through seal/open', r.video[1] > r.video[0] && r.video[0] > 0, `framesDecoded ${r.video.join(' -> ')}, width ${r.frameWidth}`);
  check('audio flows', r.audio[1] > r.audio[0] || r.audio[2] > 0, `totalSamplesReceived ${r.audio[0]} -> ${r.audio[1]}, packets ${r.audio[2]}`);
  check('worker counters', sealedVideo?.sealed > 0 && sealedAudio?.sealed > 0 && openedVideo?.opened > 0,
    `a sealed video ${sealedVideo?.sealed} audio ${sealedAudio?.sealed}; b opened video ${openedVideo?.opened}, dropped ${JSON.stringify(openedVideo?.drops)}`);
  check('one counter for all tracks', r.workerA.nextCtr >= sealedVideo.sealed + sealedAudio.sealed,
    `next CTR ${r.workerA.nextCtr} >= ${sealedVideo.sealed} + ${sealedAudio.sealed} sealed (+ chat)`);
  check('safety numbers match', r.safety[0] === r.safety[1] && /^(\d{5} ){11}\d{5}$/.test(r.safety[0]), r.safety.join(' | '));
  check('chat round-trips', r.chatB.includes('a:hello from a') && r.chatA.includes('b:héllo from b ✓') && !r.chatError,
    `a sees ${JSON.stringify(r.chatA)}, b sees ${JSON.stringify(r.chatB)} ${r.chatError || ''}`);
  const rec = r.record[0];
  check('test record: plaintext differs from wire', r.recordLen > 0 && rec.body_hex !== rec.wire_hex && rec.kid === 16,
    `${r.recordLen} records; first ${rec?.codec} kid ${rec?.kid} ctr ${rec?.ctr} len ${rec?.len} prefix ${rec?.prefix_len}`);
  check('rekey: new KID in use and video still decodes', r.rekey.sendKid === 17 && r.rekey.framesDecoded[1] > r.rekey.framesDecoded[0],
    `a seals with KID ${r.rekey.sendKid}; b holds ${JSON.stringify(r.rekey.bKids)}; framesDecoded ${r.rekey.framesDecoded.join(' -> ')}`);

  const n = await page.evaluate(async () => (await import('/t/loopback.mjs')).run({ withKeys: false }));
  const drops = n.workerB.tracks.find((t) => t.trackId === 'b-video');
  check('no key: nothing decoded, frames dropped', n.video[1] === 0 && drops?.dropped > 0 && drops?.opened === 0,
    `framesDecoded ${n.video.join(' -> ')}; b dropped ${drops?.dropped} ${JSON.stringify(drops?.drops)}`);
} catch (e) {
  failed++;
  console.log(`FAIL harness: ${e.stack || e}`);
} finally {
  await browser.close();
  await srv.close();
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
