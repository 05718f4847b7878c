// Runs in the page: the RFC 9605 vectors and the wire-format worked examples through the wasm
// package (@telesfu/e2ee, pkg/), each result cross-checked against the independent WebCrypto
// implementation in lib/sframe-oracle.js (wasm seals -> oracle opens, oracle seals -> wasm
// opens, both equal to the vectors). Returns [{group, name, ok, detail}].
import init, * as w from '/e2ee/pkg/telesfu_e2ee_wasm.js';
import * as sf from '/lib/sframe-oracle.js';

const { toHex, fromHex } = sf;

/** JSON with u64 fields kept exact: large kid/ctr numbers become strings first. */
function parseVectors(text) {
  return JSON.parse(text.replace(/("(?:kid|ctr)"\s*:\s*)(\d+)/g, '$1"$2"'));
}

const CODEC = { VP8: w.Codec.Vp8, opus: w.Codec.Opus, H264: w.Codec.H264, AV1: w.Codec.Av1, plain: w.Codec.Plain };

export async function run(examples) {
  await init();
  const results = [];
  let group = 'setup';
  const check = (name, ok, detail = '') => results.push({ group, name, ok: !!ok, detail: ok ? '' : String(detail) });
  const eq = (name, got, want) => check(name, got === want, `got ${got}, want ${want}`);
  const attempt = async (name, fn) => {
    try {
      await fn();
    } catch (e) {
      check(name, false, `threw ${e && e.code ? e.code + ': ' : ''}${e && e.stack ? e.stack : e}`);
    }
  };
  const code = async (fn) => {
    try {
      await fn();
      return 'ok';
    } catch (e) {
      return e.code || String(e);
    }
  };

  const v = parseVectors(await (await fetch('/data/test-vectors.json')).text());
  eq('rfc header section has 289 vectors', v.header.length, 289);
  eq('rfc aes_ctr_hmac section has 3 vectors', v.aes_ctr_hmac.length, 3);
  eq('rfc sframe section has 5 vectors', v.sframe.length, 5);

  // C.1 header vectors: wasm encodes and strictly decodes; the oracle agrees.
  group = 'header';
  for (const h of v.header) {
    const name = `header kid=${h.kid} ctr=${h.ctr}`;
    await attempt(name, async () => {
      const kid = BigInt(h.kid);
      const ctr = BigInt(h.ctr);
      const got = toHex(w.encodeHeader(kid, ctr));
      const d = w.decodeHeader(fromHex(h.encoded));
      const oracle = toHex(sf.encodeHeader(kid, ctr));
      const ok = got === h.encoded && oracle === h.encoded && d.kid === kid && d.ctr === ctr && d.len === h.encoded.length / 2;
      check(name, ok, `wasm ${got}, oracle ${oracle}, want ${h.encoded}; decoded ${d.kid}/${d.ctr}/${d.len}`);
    });
  }

  // C.2 AES-CTR-HMAC AEAD vectors (suites 1-3): the bare AEAD, both implementations.
  group = 'aes_ctr_hmac';
  for (const a of v.aes_ctr_hmac) {
    const name = `aes_ctr_hmac suite ${a.cipher_suite}`;
    await attempt(name, async () => {
      const key = fromHex(a.key);
      const [nonce, aad, pt, ct] = [a.nonce, a.aad, a.pt, a.ct].map(fromHex);
      const sealed = toHex(w.aeadSeal(a.cipher_suite, key, nonce, aad, pt));
      const opened = toHex(w.aeadOpen(a.cipher_suite, key, nonce, aad, ct));
      const aead = await sf.importAead(a.cipher_suite, key);
      const oracleSealed = toHex(await sf.aeadSeal(aead, nonce, aad, pt));
      const bad = ct.slice();
      bad[bad.length - 1] ^= 1;
      const tampered = await code(() => w.aeadOpen(a.cipher_suite, key, nonce, aad, bad));
      check(name, sealed === a.ct && opened === a.pt && oracleSealed === a.ct && tampered === 'auth_failed',
        `wasm ct ${sealed}, oracle ct ${oracleSealed}, want ${a.ct}; wasm pt ${opened}; tampered ${tampered}`);
    });
  }

  // C.3 SFrame vectors (suites 1-5): key schedule, seal, open, counter, replay; then the two
  // implementations open each other's frames.
  group = 'sframe';
  for (const x of v.sframe) {
    const name = `sframe suite ${x.cipher_suite}`;
    await attempt(name, async () => {
      const kid = BigInt(x.kid);
      const ctr = BigInt(x.ctr);
      const base = fromHex(x.base_key);
      const meta = fromHex(x.metadata);
      const errs = [];
      const want = (what, got, wv) => got !== wv && errs.push(`${what}: ${got} != ${wv}`);
      const m = w.deriveKeyMaterial(x.cipher_suite, kid, base);
      want('sframe_key', toHex(m.key), x.sframe_key);
      want('sframe_salt', toHex(m.salt), x.sframe_salt);
      const tx = new w.SframeContext(x.cipher_suite);
      tx.addSendKey(kid, base, ctr);
      want('ct', toHex(tx.seal(kid, meta, fromHex(x.pt))), x.ct);
      want('next ctr', String(tx.nextCounter(kid)), String(ctr + 1n));
      const rx = new w.SframeContext(x.cipher_suite);
      rx.addRecvKey(kid, base);
      const o = rx.open(meta, fromHex(x.ct));
      want('open pt', toHex(o.payload), x.pt);
      want('open kid/ctr', `${o.kid}/${o.ctr}`, `${kid}/${ctr}`);
      want('replayed open', await code(() => rx.open(meta, fromHex(x.ct))), 'replayed');
      const otx = new sf.SFrameContext(x.cipher_suite);
      await otx.addSendKey(kid, base, ctr);
      want('oracle ct', toHex(await otx.seal(kid, meta, fromHex(x.pt))), x.ct);
      // Fresh frames both ways under random keys, KIDs, counters, metadata and payloads.
      for (let i = 0; i < 8; i++) {
        const k = BigInt.asUintN(64, BigInt('0x' + toHex(crypto.getRandomValues(new Uint8Array(1 + (i % 8))))));
        const c0 = BigInt(i * 1000);
        const key = crypto.getRandomValues(new Uint8Array(32));
        const md = crypto.getRandomValues(new Uint8Array(i * 7));
        const pt = crypto.getRandomValues(new Uint8Array(1 + i * 97));
        const wtx = new w.SframeContext(x.cipher_suite);
        wtx.addSendKey(k, key, c0);
        const orx = new sf.SFrameContext(x.cipher_suite);
        await orx.addRecvKey(k, key);
        const wsealed = wtx.seal(k, md, pt);
        const oo = await orx.open(md, wsealed);
        want(`wasm->oracle #${i}`, toHex(oo.payload) + `/${oo.kid}/${oo.ctr}`, toHex(pt) + `/${k}/${c0}`);
        const otx2 = new sf.SFrameContext(x.cipher_suite);
        await otx2.addSendKey(k, key, c0 + 1n);
        const wrx = new w.SframeContext(x.cipher_suite);
        wrx.addRecvKey(k, key);
        const osealed = await otx2.seal(k, md, pt);
        const wo = wrx.open(md, osealed);
        want(`oracle->wasm #${i}`, toHex(wo.payload) + `/${wo.kid}/${wo.ctr}`, toHex(pt) + `/${k}/${c0 + 1n}`);
        for (const ctx of [wtx, wrx, otx2]) ctx.free?.();
      }
      for (const ctx of [tx, rx]) ctx.free();
      check(name, errs.length === 0, errs.join('; '));
    });
  }

  // docs/e2ee-wire-format.md §8 worked examples (parsed from the doc by the harness).
  group = 'wire-format';
  for (const ex of examples) {
    const name = `wire-format example ${ex.id}`;
    await attempt(name, async () => {
      const [codecName] = ex.example.split(',');
      const codec = { VP8: 'VP8', Opus: 'opus', 'H.264': 'H264' }[codecName.trim()];
      const kid = BigInt(ex.example.match(/KID (0x[0-9a-f]+)/i)[1]);
      const ctr = BigInt(ex.example.match(/CTR (0x[0-9a-f]+)/i)[1]);
      const suite = ex.example.includes('AES_128_GCM_SHA256_128') ? 4 : 5;
      const base = fromHex(ex.base_key);
      const plain = fromHex(ex.plain);
      const errs = [];
      const want = (what, got, wv) => got !== wv && errs.push(`${what}: ${got} != ${wv}`);
      const m = w.deriveKeyMaterial(suite, kid, base);
      want('sframe_key', toHex(m.key), ex.sframe_key);
      want('salt', toHex(m.salt), ex.salt);
      want('header', toHex(w.encodeHeader(kid, ctr)), ex.header);
      want('clearPrefixLen', w.clearPrefixLen(CODEC[codec], plain), ex.prefix.length / 2);
      const tx = new w.SframeContext(suite);
      tx.addSendKey(kid, base, ctr);
      const wire = tx.sealFrame(CODEC[codec], kid, plain);
      want('wire', toHex(wire), ex.wire);
      want('clearPrefixLen(wire)', w.clearPrefixLen(CODEC[codec], wire), ex.prefix.length / 2);
      const rx = new w.SframeContext(suite);
      rx.addRecvKey(kid, base);
      want('open', toHex(rx.openFrame(CODEC[codec], fromHex(ex.wire)).frame), ex.plain);
      const orx = new sf.SFrameContext(suite);
      await orx.addRecvKey(kid, base);
      want('oracle opens the wasm wire', toHex((await sf.openFrame(orx, codec, wire)).frame), ex.plain);
      check(name, errs.length === 0, errs.join('; '));
    });
  }

  // Media frames both ways for every codec (H.264 with start-code look-alikes in the
  // ciphertext's way), over all five suites.
  group = 'media';
  const frames = {
    VP8: [fromHex('3002009d012a8002e001' + 'aa'.repeat(300)), fromHex('b10000' + '00'.repeat(50) + '0102')],
    opus: [fromHex('78' + '11'.repeat(80)), fromHex('fc01')],
    H264: [
      fromHex('0000000167640029acd2' + '0000000168ee3cb0' + '0000000165888400' + '000001000003'.repeat(20)),
      fromHex('000001419a' + '00000000000001'.repeat(10) + 'ff'),
    ],
    AV1: [fromHex('12000a0b00000024cefa'), crypto.getRandomValues(new Uint8Array(700))],
    plain: [new Uint8Array(0), crypto.getRandomValues(new Uint8Array(33))],
  };
  for (const suite of [1, 2, 3, 4, 5]) {
    for (const [codec, list] of Object.entries(frames)) {
      const name = `media ${codec} suite ${suite}`;
      await attempt(name, async () => {
        const errs = [];
        const key = crypto.getRandomValues(new Uint8Array(16));
        const kid = 0x21n;
        const wtx = new w.SframeContext(suite);
        wtx.addSendKey(kid, key);
        const wrx = new w.SframeContext(suite);
        wrx.addRecvKey(kid, key);
        const otx = new sf.SFrameContext(suite);
        await otx.addSendKey(kid, key, 1000n);
        const orx = new sf.SFrameContext(suite);
        await orx.addRecvKey(kid, key);
        for (const [i, f] of list.entries()) {
          const wire = wtx.sealFrame(CODEC[codec], kid, f);
          const o = await sf.openFrame(orx, codec, wire);
          if (toHex(o.frame) !== toHex(f)) errs.push(`wasm->oracle #${i}`);
          const owire = await sf.sealFrame(otx, codec, kid, f);
          const wo = wrx.openFrame(CODEC[codec], owire);
          if (toHex(wo.frame) !== toHex(f)) errs.push(`oracle->wasm #${i}`);
        }
        for (const c of [wtx, wrx]) c.free();
        check(name, errs.length === 0, errs.join('; '));
      });
    }
  }

  // Refusals the vectors do not cover: stable codes, never a crash.
  group = 'errors';
  eq('header: empty is refused', await code(() => w.decodeHeader(new Uint8Array(0))), 'malformed');
  eq('header: truncated is refused', await code(() => w.decodeHeader(fromHex('99012345'))), 'malformed');
  eq('header: KID 5 in extended form is refused', await code(() => w.decodeHeader(fromHex('8005'))), 'malformed');
  eq('header: max values round-trip', toHex(w.encodeHeader(2n ** 64n - 1n, 2n ** 64n - 1n)), 'ff' + 'ff'.repeat(16));
  eq('vp8: keyframe without start code is refused', await code(() => w.clearPrefixLen(w.Codec.Vp8, fromHex('3002009d012b8002e001'))), 'malformed');
  eq('opus: empty frame is refused', await code(() => w.clearPrefixLen(w.Codec.Opus, new Uint8Array(0))), 'malformed');
  eq('unknown suite', await code(() => new w.SframeContext(9)), 'unknown_suite');
  eq('suite id out of range', await code(() => new w.SframeContext(65540)), 'unknown_suite');
  await attempt('context: direction, unknown KID, tampering, replay', async () => {
    const key = crypto.getRandomValues(new Uint8Array(16));
    const tx = new w.SframeContext(4);
    const rx = new w.SframeContext(4);
    tx.addSendKey(7n, key);
    rx.addRecvKey(7n, key);
    const frame = fromHex('b10000aabbccddeeff');
    const wire = tx.sealFrame(w.Codec.Vp8, 7n, frame);
    eq('refused seal takes no counter', await code(() => tx.sealFrame(w.Codec.Vp8, 7n, fromHex('3000'))), 'malformed');
    eq('next counter after refusal', String(tx.nextCounter(7n)), '1');
    eq('send key cannot open', await code(() => tx.openFrame(w.Codec.Vp8, wire)), 'wrong_direction');
    eq('unknown KID', await code(() => new w.SframeContext(4).openFrame(w.Codec.Vp8, wire)), 'no_key');
    const bad = wire.slice();
    bad[1] ^= 0x40; // a clear-prefix byte: authenticated as metadata
    eq('altered clear prefix fails authentication', await code(() => rx.openFrame(w.Codec.Vp8, bad)), 'auth_failed');
    eq('the untampered frame still opens afterwards', toHex(rx.openFrame(w.Codec.Vp8, wire).frame), toHex(frame));
    eq('replayed frame is refused', await code(() => rx.openFrame(w.Codec.Vp8, wire)), 'replayed');
    eq('duplicate KID', await code(() => rx.addRecvKey(7n, key)), 'duplicate_kid');
    eq('bad base key length', await code(() => rx.addRecvKey(8n, new Uint8Array(0))), 'invalid_argument');
    eq('error is a TelesfuError', await (async () => {
      try {
        rx.openFrame(w.Codec.Vp8, wire);
        return 'no throw';
      } catch (e) {
        return `${e instanceof Error} ${e.name}`;
      }
    })(), 'true TelesfuError');
  });

  return results;
}
