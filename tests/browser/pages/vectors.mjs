// Runs in the page: every applicable SFrame vector and the wire-format worked examples
// against /web/sframe.js. Returns [{name, ok, detail}].
import * as sf from '/web/sframe.js';

const { toHex, fromHex } = sf;

/** JSON with u64 fields kept exact: large kid/ctr numbers become strings first. */
function parseVectors(text) {
  return JSON.parse(text.replace(/("(?:kid|ctr)"\s*:\s*)(\d+)/g, '$1"$2"'));
}

export async function run(examples) {
  const results = [];
  const check = (name, ok, detail = '') => results.push({ name, ok: !!ok, detail: ok ? '' : String(detail) });
  const eq = (name, got, want) => check(name, got === want, `got ${got}, want ${want}`);
  const attempt = async (name, fn) => {
    try {
      await fn();
    } catch (e) {
      check(name, false, `threw ${e && e.stack ? e.stack : e}`);
    }
  };

  const v = parseVectors(await (await fetch('/data/test-vectors.json')).text());
  eq('rfc header section has 289 vectors', v.header.length, 289);
  eq('rfc aes_ctr_hmac section has 3 vectors', v.aes_ctr_hmac.length, 3);
  eq('rfc sframe section has 5 vectors', v.sframe.length, 5);

  // C.1 header vectors: encode, and strict decode that consumes every byte.
  for (const h of v.header) {
    const name = `header kid=${h.kid} ctr=${h.ctr}`;
    await attempt(name, async () => {
      const kid = BigInt(h.kid);
      const ctr = BigInt(h.ctr);
      const got = toHex(sf.encodeHeader(kid, ctr));
      const d = sf.decodeHeader(fromHex(h.encoded));
      const ok = got === h.encoded && d.kid === kid && d.ctr === ctr && d.len === h.encoded.length / 2;
      check(name, ok, `encoded ${got} want ${h.encoded}; decoded ${d.kid}/${d.ctr}/${d.len}`);
    });
  }

  // C.2 AES-CTR-HMAC AEAD vectors (suites 1-3).
  for (const a of v.aes_ctr_hmac) {
    const name = `aes_ctr_hmac suite ${a.cipher_suite}`;
    await attempt(name, async () => {
      const key = fromHex(a.key);
      const s = sf.suiteById(a.cipher_suite);
      const split = toHex(key.subarray(0, s.nka)) === a.enc_key && toHex(key.subarray(s.nka)) === a.auth_key;
      const aead = await sf.importAead(a.cipher_suite, key);
      const ct = toHex(await sf.aeadSeal(aead, fromHex(a.nonce), fromHex(a.aad), fromHex(a.pt)));
      const pt = toHex(await sf.aeadOpen(aead, fromHex(a.nonce), fromHex(a.aad), fromHex(a.ct)));
      check(name, split && ct === a.ct && pt === a.pt, `split ${split} ct ${ct} pt ${pt}`);
    });
  }

  // C.3 SFrame vectors (suites 1-5): every intermediate value, then seal and open.
  for (const x of v.sframe) {
    const name = `sframe suite ${x.cipher_suite}`;
    await attempt(name, async () => {
      const kid = BigInt(x.kid);
      const ctr = BigInt(x.ctr);
      const base = fromHex(x.base_key);
      const meta = fromHex(x.metadata);
      const errs = [];
      const want = (what, got, w) => got !== w && errs.push(`${what}: ${got} != ${w}`);
      const l = sf.labels(x.cipher_suite, kid);
      want('key label', toHex(l.keyLabel), x.sframe_key_label);
      want('salt label', toHex(l.saltLabel), x.sframe_salt_label);
      want('secret', toHex(await sf.hkdfExtract(x.cipher_suite, base)), x.sframe_secret);
      const m = await sf.deriveKeyMaterial(x.cipher_suite, kid, base);
      want('sframe_key', toHex(m.key), x.sframe_key);
      want('sframe_salt', toHex(m.salt), x.sframe_salt);
      want('nonce', toHex(sf.nonceFor(m.salt, ctr)), x.nonce);
      want('aad', toHex(sf.concat(sf.encodeHeader(kid, ctr), meta)), x.aad);
      const tx = new sf.SFrameContext(x.cipher_suite);
      await tx.addSendKey(kid, base, ctr);
      want('ct', toHex(await tx.seal(kid, meta, fromHex(x.pt))), x.ct);
      want('next ctr', String(tx.nextCounter(kid)), String(ctr + 1n));
      const rx = new sf.SFrameContext(x.cipher_suite);
      await rx.addRecvKey(kid, base);
      const o = await rx.open(meta, fromHex(x.ct));
      want('open pt', toHex(o.payload), x.pt);
      want('open kid/ctr', `${o.kid}/${o.ctr}`, `${kid}/${ctr}`);
      let replay = null;
      try {
        await rx.open(meta, fromHex(x.ct));
      } catch (e) {
        replay = e.code;
      }
      want('replayed open', replay, 'replay');
      check(name, errs.length === 0, errs.join('; '));
    });
  }

  // docs/e2ee-wire-format.md §8 worked examples (given by the harness, parsed from the doc).
  for (const ex of examples) {
    const name = `wire-format example ${ex.id}`;
    await attempt(name, async () => {
      const [codecName] = ex.example.split(',');
      const codec = { 'VP8': 'VP8', 'Opus': 'opus', 'H.264': 'H264' }[codecName.trim()];
      const kid = BigInt(ex.example.match(/KID (0x[0-9a-f]+)/i)[1]);
      const ctr = BigInt(ex.example.match(/CTR (0x[0-9a-f]+)/i)[1]);
      const suite = ex.example.includes('AES_128_GCM_SHA256_128') ? 4 : 5;
      const base = fromHex(ex.base_key);
      const plain = fromHex(ex.plain);
      const errs = [];
      const want = (what, got, w) => got !== w && errs.push(`${what}: ${got} != ${w}`);
      const m = await sf.deriveKeyMaterial(suite, kid, base);
      want('sframe_key', toHex(m.key), ex.sframe_key);
      want('salt', toHex(m.salt), ex.salt);
      want('nonce', toHex(sf.nonceFor(m.salt, ctr)), ex.nonce);
      const p = sf.parsePrefix(codec, plain);
      want('prefix', toHex(plain.subarray(0, p.prefixLen)), ex.prefix);
      want('clearPrefixLen', sf.clearPrefixLen(codec, plain), ex.prefix.length / 2);
      want('metadata', toHex(p.metadata), ex.metadata);
      const header = sf.encodeHeader(kid, ctr);
      want('header', toHex(header), ex.header);
      want('aad', toHex(sf.concat(header, p.metadata)), ex.aad);
      const tx = new sf.SFrameContext(suite);
      await tx.addSendKey(kid, base, ctr);
      const wire = await sf.sealFrame(tx, codec, kid, plain);
      want('wire', toHex(wire), ex.wire);
      if (ex.sframe) want('sframe (unescaped)', toHex(sf.h264Unescape(wire.subarray(p.prefixLen))), ex.sframe);
      want('clearPrefixLen(wire)', sf.clearPrefixLen(codec, wire), p.prefixLen);
      const rx = new sf.SFrameContext(suite);
      await rx.addRecvKey(kid, base);
      const o = await sf.openFrame(rx, codec, fromHex(ex.wire));
      want('open', toHex(o.frame), ex.plain);
      check(name, errs.length === 0, errs.join('; '));
    });
  }

  // Behaviour the vectors do not cover.
  const code = async (fn) => {
    try {
      await fn();
      return 'ok';
    } catch (e) {
      return e.code || String(e);
    }
  };
  eq('header: empty is rejected', await code(() => sf.decodeHeader(new Uint8Array(0))), 'bad_header');
  eq('header: truncated is rejected', await code(() => sf.decodeHeader(fromHex('99012345'))), 'bad_header');
  eq('header: KID 5 in extended form is rejected', await code(() => sf.decodeHeader(fromHex('8005'))), 'bad_header');
  eq('header: CTR 0x00ff in two bytes is rejected', await code(() => sf.decodeHeader(fromHex('0900ff'))), 'bad_header');
  eq('header: max values round-trip', toHex(sf.encodeHeader(2n ** 64n - 1n, 2n ** 64n - 1n)), 'ff' + 'ff'.repeat(16));
  eq('vp8: keyframe without start code is rejected', await code(() => sf.clearPrefixLen('VP8', fromHex('3002009d012b8002e001'))), 'invalid_frame');
  eq('vp8: short keyframe is rejected', await code(() => sf.clearPrefixLen('VP8', fromHex('3002009d01'))), 'invalid_frame');
  eq('vp8: 2-byte interframe is rejected', await code(() => sf.clearPrefixLen('VP8', fromHex('b100'))), 'invalid_frame');
  eq('opus: empty frame is rejected', await code(() => sf.clearPrefixLen('opus', new Uint8Array(0))), 'invalid_frame');
  eq('av1 and plain have no prefix', sf.clearPrefixLen('AV1', fromHex('0102')) + sf.clearPrefixLen('plain', fromHex('03')), 0);

  await attempt('media: shared counter, tampering and replay', async () => {
    const base = crypto.getRandomValues(new Uint8Array(16));
    const tx = new sf.SFrameContext(4);
    const rx = new sf.SFrameContext(4);
    await tx.addSendKey(7n, base);
    await rx.addRecvKey(7n, base);
    const vp8 = fromHex('b10000aabbccddeeff');
    const opus = fromHex('78010203');
    // Concurrent seals from "different tracks" take distinct counters.
    const wires = await Promise.all([
      sf.sealFrame(tx, 'VP8', 7n, vp8), sf.sealFrame(tx, 'opus', 7n, opus),
      sf.sealFrame(tx, 'VP8', 7n, vp8), sf.sealFrame(tx, 'opus', 7n, opus),
    ]);
    const ctrs = wires.map((w, i) => sf.decodeHeader(w.subarray(i % 2 ? 1 : 3)).ctr);
    eq('media: four concurrent seals use counters 0-3', ctrs.map(String).sort().join(','), '0,1,2,3');
    eq('media: refused seal takes no counter', await code(() => sf.sealFrame(tx, 'VP8', 7n, fromHex('3000'))), 'invalid_frame');
    eq('media: next counter after refusal', String(tx.nextCounter(7n)), '4');
    const opened = await sf.openFrame(rx, 'VP8', wires[0]);
    eq('media: VP8 frame opens to the plaintext', toHex(opened.frame), toHex(vp8));
    const bad = new Uint8Array(wires[2]);
    bad[1] ^= 0x40; // a clear-prefix byte, still an interframe
    eq('media: altered clear prefix fails authentication', await code(() => sf.openFrame(rx, 'VP8', bad)), 'auth');
    eq('media: the untampered frame still opens afterwards', toHex((await sf.openFrame(rx, 'VP8', wires[2])).frame), toHex(vp8));
    eq('media: replayed frame is refused', await code(() => sf.openFrame(rx, 'VP8', wires[0])), 'replay');
    eq('media: unknown KID', await code(() => sf.openFrame(new sf.SFrameContext(4), 'opus', wires[1])), 'unknown_kid');
    eq('media: send key cannot open', await code(() => sf.openFrame(tx, 'opus', wires[1])), 'wrong_direction');
    const w = new sf.ReplayWindow(64);
    w.record(100n);
    eq('replay window: inside and unseen', w.check(50n), null);
    eq('replay window: too old', w.check(36n), 'too_old');
    w.record(300n);
    eq('replay window: after a jump, old slot is clear', w.check(299n), null);
    eq('replay window: duplicate', w.check(300n), 'duplicate');
  });

  return results;
}
