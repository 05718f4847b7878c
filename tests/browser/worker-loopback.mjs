// The @telesfu/e2ee package (e2ee/web: index.js, worker.js, the wasm in pkg/) in headless
// Chromium with no server: members in one page, each with its own worker, the wasm
// DeliveryService as the room's DS, a test Authority issuing certificates, loopback
// RTCPeerConnections carrying fake-camera video and audio through the package's transforms.
// Checks: the wasm Client's error codes and flat memory; 2, 3 and 4 members agree on epoch,
// code and roster; joins and leaves change the epoch everywhere; video decodes through
// seal/open before and after; chat round-trips with seq/order; negative controls (wrong
// participant binding, no keys at receiver or sender): nothing decodes, frames are dropped;
// no key material reaches the page.
//
// The in-page DS is also the attacker of docs/threat-model.md §2 (issue 9's findings, as
// e2ee/tests/mls_attacks.rs replays them in Rust): insider KID spoofing (frames of one member
// on a track bound to another, then the real ones on the same receiver), chat held back,
// reordered, dropped and replayed, ghost joins from an untrusted authority with replayed
// commits and stale states (grinding), the rekey race (two leaves together and 300 ms apart,
// commits raced at the DS), and KID exhaustion (more than 16 epochs).
//
// Prints `ok  name: figures` / `FAIL name: figures`, then "N passed, M failed".
// `node worker-loopback.mjs race kids` runs only the named phases (api, race and kids stand
// alone; the others build on the phases before them). TELESFU_E2EE_WEB=dir serves the package
// from another directory laid out like e2ee/web (a mutant, to see a check fail).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { staticServer, launch } from './lib/harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
const srv = await staticServer(
  { '/e2ee/': process.env.TELESFU_E2EE_WEB || path.join(root, 'e2ee/web'), '/t/': path.join(here, 'pages') },
  { '/': ['text/html; charset=utf-8', '<!doctype html><title>loopback</title><body>loopback</body>'], '/favicon.ico': ['image/x-icon', ''] },
);
const browser = await launch(['--autoplay-policy=no-user-gesture-required']);
let passed = 0;
let failed = 0;
try {
  const page = browser.ctx.pages()[0] || (await browser.ctx.newPage());
  page.on('pageerror', (e) => console.log(`pageerror: ${e}`));
  page.on('console', (m) => m.type() === 'error' && console.log(`console: ${m.text()}`));
  await page.goto(`${srv.base}/`);
  const all = ['api', 'two', 'join', 'four', 'leave', 'chat', 'inject', 'nokeys', 'race', 'kids', 'boundary'];
  const only = process.argv.slice(2);
  const unknown = only.filter((p) => !all.includes(p));
  if (unknown.length) throw new Error(`unknown phase ${unknown.join(', ')} (phases: ${all.join(', ')})`);
  for (const phase of only.length ? all.filter((p) => only.includes(p)) : all) {
    const results = await page.evaluate(async (p) => (await import('/t/loopback.mjs')).phase(p), phase);
    if (results.length === 0) {
      failed++;
      console.log(`FAIL ${phase}: the phase ran no check`);
    }
    for (const r of results) {
      if (r.ok) passed++;
      else failed++;
      console.log(`${r.ok ? 'ok  ' : 'FAIL'} ${r.name}: ${r.figures}`);
    }
  }
} catch (e) {
  failed++;
  console.log(`FAIL harness: ${e.stack || e}`);
} finally {
  await browser.close();
  await srv.close();
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
