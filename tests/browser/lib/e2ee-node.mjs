// The @telesfu/e2ee wasm layer in Node, for tests that play the server or an attacker: the
// Delivery Service a mock server runs, the authority that certifies test members, and MLS
// clients the test builds itself (a ghost the "server" injects). Same wasm as the browser's.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const pkg = path.resolve(here, '../../../e2ee/web/pkg');
const wasm = await import(path.join(pkg, 'telesfu_e2ee_wasm.js'));
wasm.initSync({ module: fs.readFileSync(path.join(pkg, 'telesfu_e2ee_wasm_bg.wasm')) });

export const { Authority, Client, DeliveryService, memberPublicKey } = wasm;

export const random = (n) => crypto.getRandomValues(new Uint8Array(n));

export function b64u(bytes) {
  return Buffer.from(bytes).toString('base64url');
}

export function unb64u(s) {
  return new Uint8Array(Buffer.from(s, 'base64url'));
}

/**
 * A member the test drives itself (in Node): certified by `authority` for `room`, trusting
 * `anchors`. Returns the wasm Client; drain its `pollTransmit()` to see what it sends.
 */
export function nodeMember({ authority, anchors, room, participant, name, role }) {
  const seed = random(32);
  const now = Date.now() / 1000;
  const certificate = authority.issue(
    { subject: `sub-${name}`, room, notBefore: Math.floor(now) - 60, notAfter: Math.floor(now) + 3600, name, role, tenant: 'demo' },
    memberPublicKey(seed),
  );
  return new Client(room, participant, anchors, seed, certificate, random(32), performance.now(), Date.now(), undefined);
}
