#!/usr/bin/env python3
"""Independent generator of the key-agreement test vectors (agreement_vectors.json).

Written from the wire-format and derivation tables in e2ee/src/agreement.rs, on top of
pyca/cryptography, so the Rust code (and later the browser code) is checked against a second
implementation. Run: python3 agreement_vectors.py > agreement_vectors.json
"""
import hashlib
import json
import struct

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

RAW = serialization.Encoding.Raw, serialization.PublicFormat.Raw


def seq_bytes(start, n=32):
    return bytes(range(start, start + n))


def call_id(binding):
    return hashlib.sha256(b"telesfu-e2ee v1 call id" + struct.pack(">I", len(binding)) + binding).digest()


def announcement(call, member, seq, identity, eph_pub):
    body = bytes([1, 1]) + struct.pack(">QI", member, seq) + eph_pub
    sig = identity.sign(b"telesfu-e2ee v1 announcement" + call + body)
    return body + sig


def kek(call, me, my_secret, peer, peer_pub):
    dh = my_secret.exchange(X25519PublicKey.from_public_bytes(peer_pub))
    my_pub = my_secret.public_key().public_bytes(*RAW)
    (lo, lo_eph), (hi, hi_eph) = sorted([(me, my_pub), (peer, peer_pub)])
    info = struct.pack(">QQ", lo, hi) + lo_eph + hi_eph
    return dh, HKDF(hashes.SHA256(), 32, b"telesfu-e2ee v1 pairwise kek" + call, info).derive(dh)


def delivery(call, kek_bytes, sender, recipient, sender_seq, recipient_seq, generation, kid, nonce, base_key):
    header = bytes([1, 2]) + struct.pack(">QQIIQQ", sender, recipient, sender_seq, recipient_seq, generation, kid) + nonce
    aad = b"telesfu-e2ee v1 key delivery" + call + header
    return header + AESGCM(kek_bytes).encrypt(nonce, base_key, aad)


def safety_number(call, entries):
    h = hashlib.sha256(b"telesfu-e2ee v1 safety number" + call + struct.pack(">I", len(entries)))
    for member, identity_pub, eph_pub in sorted(entries):
        h.update(struct.pack(">Q", member) + identity_pub + eph_pub)
    d = h.digest()
    return " ".join("%05d" % (int.from_bytes(d[5 * i:5 * i + 5], "big") % 100000) for i in range(6))


def main():
    binding = b"telesfu test vector call"
    call = call_id(binding)
    a, b = 0x0A0B, 7  # A > B, so B comes first in every ordering
    a_id_seed, b_id_seed = seq_bytes(0x01), seq_bytes(0x21)
    a_eph_secret, b_eph_secret = seq_bytes(0x41), seq_bytes(0x61)
    a_seq, b_seq = 0, 3
    base_key, nonce = seq_bytes(0x81), seq_bytes(0xA1, 12)
    generation = 5
    kid = (a << 8) | (generation % 256)

    a_id, b_id = Ed25519PrivateKey.from_private_bytes(a_id_seed), Ed25519PrivateKey.from_private_bytes(b_id_seed)
    a_eph, b_eph = X25519PrivateKey.from_private_bytes(a_eph_secret), X25519PrivateKey.from_private_bytes(b_eph_secret)
    a_pub, b_pub = a_eph.public_key().public_bytes(*RAW), b_eph.public_key().public_bytes(*RAW)
    dh, k = kek(call, a, a_eph, b, b_pub)
    dh2, k2 = kek(call, b, b_eph, a, a_pub)
    assert (dh, k) == (dh2, k2)
    out = {
        "call_binding": binding.hex(),
        "member_a": a,
        "member_b": b,
        "identity_seed_a": a_id_seed.hex(),
        "identity_seed_b": b_id_seed.hex(),
        "ephemeral_secret_a": a_eph_secret.hex(),
        "ephemeral_secret_b": b_eph_secret.hex(),
        "seq_a": a_seq,
        "seq_b": b_seq,
        "base_key": base_key.hex(),
        "nonce": nonce.hex(),
        "generation": generation,
        "kid": kid,
        "call_id": call.hex(),
        "ephemeral_public_a": a_pub.hex(),
        "ephemeral_public_b": b_pub.hex(),
        "announcement_a": announcement(call, a, a_seq, a_id, a_pub).hex(),
        "announcement_b": announcement(call, b, b_seq, b_id, b_pub).hex(),
        "x25519_shared": dh.hex(),
        "kek": k.hex(),
        "delivery_a_to_b": delivery(call, k, a, b, a_seq, b_seq, generation, kid, nonce, base_key).hex(),
        "safety_number": safety_number(call, [
            (a, a_id.public_key().public_bytes(*RAW), a_pub),
            (b, b_id.public_key().public_bytes(*RAW), b_pub),
        ]),
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
