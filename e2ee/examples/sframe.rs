//! Seal and open SFrame frames from hex, to compare another client's bytes with ours.
//!
//! ```text
//! cargo run -p telesfu-e2ee --example sframe -- seal --suite 4 --kid 0x123 --ctr 0x4567 \
//!     --key 000102030405060708090a0b0c0d0e0f --metadata 4945544620534672616d6520574700 \
//!     --plaintext 647261667420
//! cargo run -p telesfu-e2ee --example sframe -- open --suite 4 \
//!     --key 000102030405060708090a0b0c0d0e0f --ciphertext 9901234567...
//! ```
//! Options: `--suite N` (1-5; 6-8 with feature `draft-aes256-ctr-hmac`), `--kid N`,
//! `--ctr N` (decimal or 0x-hex), `--key HEX` (the base key), `--metadata HEX` (default empty),
//! `--backend ring|rust-crypto`, `-v` (also print the derived key, salt, nonce and AAD).
//! `--codec vp8|opus|h264|av1|plain` seals or opens a whole media frame with telesfu's clear
//! prefix (docs/e2ee-wire-format.md) instead of a bare SFrame ciphertext.
//!
//! Prints the result as one line of hex. Any error prints one line to stderr and exits 1.

use std::process::ExitCode;

use telesfu_e2ee::crypto::{CryptoProvider, all_providers, default_provider, suite_provider};
use telesfu_e2ee::key::derive_key_material;
use telesfu_e2ee::media::{self, Codec};
use telesfu_e2ee::{CipherSuite, Context, ContextConfig, Counter, Header, KeyId, NONCE_LEN};

struct Args {
    op: String,
    suite: CipherSuite,
    kid: u64,
    ctr: u64,
    key: Vec<u8>,
    metadata: Vec<u8>,
    input: Vec<u8>,
    provider: &'static dyn CryptoProvider,
    codec: Option<Codec>,
    verbose: bool,
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(name: &str, s: &str) -> Result<Vec<u8>, String> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    if !s.len().is_multiple_of(2) {
        return Err(format!("--{name}: odd number of hex digits ({})", s.len()));
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&s[i..i + 2], 16)
                .map_err(|_| format!("--{name}: '{}' is not hex", &s[i..i + 2]))
        })
        .collect()
}

fn number(name: &str, s: &str) -> Result<u64, String> {
    let r = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16),
        None => s.parse(),
    };
    r.map_err(|_| format!("--{name}: '{s}' is not a number (decimal or 0x-hex, up to 2^64-1)"))
}

fn parse() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let op = it
        .next()
        .ok_or("usage: sframe seal|open --suite N --key HEX ... (see the source header)")?;
    if op != "seal" && op != "open" {
        return Err(format!("unknown command '{op}': use seal or open"));
    }
    let mut a = Args {
        op,
        suite: CipherSuite::Aes128GcmSha256,
        kid: 0,
        ctr: 0,
        key: Vec::new(),
        metadata: Vec::new(),
        input: Vec::new(),
        provider: default_provider(),
        codec: None,
        verbose: false,
    };
    let mut have_input = false;
    while let Some(flag) = it.next() {
        if flag == "-v" {
            a.verbose = true;
            continue;
        }
        let name = flag.trim_start_matches("--").to_string();
        let val = it.next().ok_or(format!("{flag} needs a value"))?;
        match name.as_str() {
            "suite" => {
                let id = number("suite", &val)?;
                let id = u16::try_from(id).map_err(|_| format!("--suite: {id} is out of range"))?;
                a.suite = CipherSuite::from_id(id).map_err(|e| e.to_string())?;
            }
            "kid" => a.kid = number("kid", &val)?,
            "ctr" => a.ctr = number("ctr", &val)?,
            "key" => a.key = unhex("key", &val)?,
            "metadata" => a.metadata = unhex("metadata", &val)?,
            "plaintext" | "ciphertext" => {
                a.input = unhex(&name, &val)?;
                have_input = true;
            }
            "backend" => {
                a.provider = all_providers()
                    .into_iter()
                    .find(|p| p.name() == val)
                    .ok_or(format!(
                        "--backend: unknown backend '{val}' (ring, rust-crypto)"
                    ))?;
            }
            "codec" => {
                a.codec = Some(match val.to_ascii_lowercase().as_str() {
                    "vp8" => Codec::Vp8,
                    "opus" => Codec::Opus,
                    "h264" | "h.264" => Codec::H264,
                    "av1" => Codec::Av1,
                    "plain" => Codec::Plain,
                    _ => {
                        return Err(format!(
                            "--codec: unknown codec '{val}' (vp8, opus, h264, av1, plain)"
                        ));
                    }
                })
            }
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    if a.key.is_empty() {
        return Err("--key HEX (the base key) is required".into());
    }
    if !have_input {
        return Err(format!(
            "--{} HEX is required",
            if a.op == "seal" {
                "plaintext"
            } else {
                "ciphertext"
            }
        ));
    }
    Ok(a)
}

fn run(a: Args) -> Result<String, String> {
    let mut cfg = ContextConfig::new(a.suite);
    cfg.provider = a.provider;
    let mut ctx = Context::with_config(cfg).map_err(|e| e.to_string())?;
    let e = |e: telesfu_e2ee::Error| e.to_string();
    let kid = if a.op == "seal" {
        KeyId(a.kid)
    } else {
        // The KID comes from the frame's header (after the clear prefix in media mode).
        let skip = match a.codec {
            Some(c) => media::clear_prefix_len(c, &a.input).map_err(e)?,
            None => 0,
        };
        // H.264 wire frames are escaped after the prefix: undo that to read the header.
        let mut body = a.input[skip..].to_vec();
        if a.codec == Some(Codec::H264) {
            let n = media::h264_unescape_in_place(&mut body);
            body.truncate(n);
        }
        Header::decode(&body)
            .map_err(|err| format!("ciphertext: {err}"))?
            .0
            .kid
    };
    if a.verbose {
        let sp = suite_provider(a.provider, a.suite).map_err(e)?;
        let m = derive_key_material(sp, kid, &a.key).map_err(e)?;
        eprintln!("backend     {}", a.provider.name());
        eprintln!("sframe_key  {}", hex(m.key()));
        eprintln!("sframe_salt {}", hex(m.salt()));
        if a.op == "seal" {
            let mut nonce = *m.salt();
            for (n, c) in nonce[NONCE_LEN - 8..].iter_mut().zip(a.ctr.to_be_bytes()) {
                *n ^= c;
            }
            let (h, n) = Header::new(kid, Counter(a.ctr)).to_bytes();
            eprintln!("nonce       {}", hex(&nonce));
            eprintln!("aad         {}{}", hex(&h[..n]), hex(&a.metadata));
        }
    }
    if a.op == "seal" {
        ctx.add_send_key_at(kid, &a.key, Counter(a.ctr))
            .map_err(e)?;
        let len = match a.codec {
            Some(c) => media::seal_buffer_len(&ctx, c, a.input.len()),
            None => a.input.len() + ctx.max_overhead(),
        };
        let mut out = vec![0; len];
        let n = match a.codec {
            Some(c) => {
                out[..a.input.len()].copy_from_slice(&a.input);
                media::seal_frame(&mut ctx, c, kid, &mut out, a.input.len()).map_err(e)?
            }
            None => ctx.seal(kid, &a.metadata, &a.input, &mut out).map_err(e)?,
        };
        Ok(hex(&out[..n]))
    } else {
        ctx.add_recv_key(kid, &a.key).map_err(e)?;
        let mut buf = a.input.clone();
        match a.codec {
            Some(c) => {
                let (_, n) = media::open_frame(&mut ctx, c, &mut buf).map_err(e)?;
                Ok(hex(&buf[..n]))
            }
            None => {
                let o = ctx.open_in_place(&a.metadata, &mut buf).map_err(e)?;
                Ok(hex(&buf[o.payload]))
            }
        }
    }
}

fn main() -> ExitCode {
    match parse().and_then(run) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(msg) => {
            eprintln!("sframe: {msg}");
            ExitCode::FAILURE
        }
    }
}
