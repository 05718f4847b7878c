// The wasm package (e2ee/web, @telesfu/e2ee) in headless Chromium against every RFC 9605 vector
// (e2ee/tests/data/test-vectors.json: header, AES-CTR-HMAC and SFrame sections) and the worked
// examples of docs/e2ee-wire-format.md §8, each cross-checked against lib/sframe-oracle.js (an
// independent WebCrypto implementation): wasm seals and the oracle opens, the oracle seals and
// wasm opens, both equal to the vectors. Prints one line per group (`ok  group: figures`) and
// per failing check (`FAIL name: detail`), then "N passed, M failed".
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { staticServer, launch } from './lib/harness.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');

/** The `<!-- example: id -->` blocks of the wire-format document, as {id, field: hex}. */
function docExamples() {
  const doc = fs.readFileSync(path.join(root, 'docs/e2ee-wire-format.md'), 'utf8');
  const out = [];
  const re = /<!-- example: ([\w-]+) -->\s*```text\n([\s\S]*?)```/g;
  for (let m; (m = re.exec(doc)); ) {
    const ex = { id: m[1] };
    let key = null;
    for (const line of m[2].split('\n')) {
      if (!line.trim()) continue;
      const head = line.match(/^(\S+)\s+(.*)$/);
      if (head && !/^\s/.test(line)) {
        key = head[1];
        ex[key] = head[2].trim();
      } else if (key) {
        ex[key] += ' ' + line.trim();
      }
    }
    for (const k of Object.keys(ex)) if (k !== 'id' && k !== 'example') ex[k] = ex[k].replace(/\s+/g, '');
    out.push(ex);
  }
  return out;
}

const examples = docExamples();
const srv = await staticServer(
  {
    '/e2ee/': path.join(root, 'e2ee/web'),
    '/lib/': path.join(here, 'lib'),
    '/data/': path.join(root, 'e2ee/tests/data'),
    '/t/': path.join(here, 'pages'),
  },
  { '/': ['text/html; charset=utf-8', '<!doctype html><title>sframe vectors</title><body>vectors</body>'], '/favicon.ico': ['image/x-icon', ''] },
);
const browser = await launch();
let failed = 0;
let passed = 0;
try {
  const page = browser.ctx.pages()[0] || (await browser.ctx.newPage());
  page.on('pageerror', (e) => console.log(`pageerror: ${e}`));
  await page.goto(`${srv.base}/`);
  const results = await page.evaluate(async (exs) => (await import('/t/vectors.mjs')).run(exs), examples);
  const groups = new Map();
  for (const r of results) {
    const g = groups.get(r.group) || { pass: 0, fail: 0 };
    if (r.ok) {
      passed++;
      g.pass++;
    } else {
      failed++;
      g.fail++;
      console.log(`FAIL ${r.name}: ${r.detail}`);
    }
    groups.set(r.group, g);
  }
  for (const [g, c] of groups) console.log(`${c.fail ? 'FAIL' : 'ok  '} ${g}: ${c.pass} of ${c.pass + c.fail} checks`);
  const want = { header: 289, aes_ctr_hmac: 3, sframe: 5, 'wire-format': examples.length, media: 25 };
  for (const [g, n] of Object.entries(want)) {
    const c = groups.get(g);
    if (!c || c.pass + c.fail !== n) {
      failed++;
      console.log(`FAIL ${g}: expected ${n} checks, ran ${c ? c.pass + c.fail : 0}`);
    }
  }
  if (examples.length === 0) {
    failed++;
    console.log('FAIL no worked examples parsed from docs/e2ee-wire-format.md');
  } else {
    console.log(`ok   wire-format examples found in the doc: ${examples.map((e) => e.id).join(', ')}`);
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
