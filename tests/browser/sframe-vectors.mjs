// Runs web/sframe.js in headless Chromium against every applicable SFrame vector
// (e2ee/tests/data/test-vectors.json: header, AES-CTR-HMAC and SFrame sections) and the worked
// examples of docs/e2ee-wire-format.md §8. Prints one line per failure, then "N passed, M failed".
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
    '/web/': path.join(root, 'bins/server/web'),
    '/data/': path.join(root, 'e2ee/tests/data'),
    '/t/': path.join(here, 'pages'),
  },
  { '/': ['text/html; charset=utf-8', '<!doctype html><title>sframe vectors</title><body>vectors</body>'] },
);
const browser = await launch();
let failed = 0;
let passed = 0;
try {
  const page = browser.ctx.pages()[0] || (await browser.ctx.newPage());
  page.on('pageerror', (e) => console.log(`pageerror: ${e}`));
  await page.goto(`${srv.base}/`);
  const results = await page.evaluate(async (exs) => {
    const m = await import('/t/vectors.mjs');
    return m.run(exs);
  }, examples);
  const byGroup = new Map();
  for (const r of results) {
    const g = r.name.split(/[ :]/)[0];
    const c = byGroup.get(g) || { pass: 0, fail: 0 };
    if (r.ok) {
      passed++;
      c.pass++;
    } else {
      failed++;
      c.fail++;
      console.log(`FAIL ${r.name}: ${r.detail}`);
    }
    byGroup.set(g, c);
  }
  for (const [g, c] of byGroup) console.log(`  ${g}: ${c.pass} passed, ${c.fail} failed`);
  console.log(`  (wire-format examples found in the doc: ${examples.map((e) => e.id).join(', ') || 'none'})`);
  if (examples.length === 0) {
    failed++;
    console.log('FAIL no worked examples parsed from docs/e2ee-wire-format.md');
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
