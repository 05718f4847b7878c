//! The offer parser: one pass over the lines, then whole-offer consistency checks.

use super::{
    CodecParams, Direction, Extmap, Fingerprint, MAX_EXTMAPS, MAX_LINE_BYTES, MAX_OFFER_BYTES,
    MAX_RIDS, MAX_RTCP_FB, MAX_SECTIONS, MAX_SMALL_LIST, MAX_SSRC_GROUPS, MAX_SSRCS, MediaKind,
    MediaSection, Mid, Msid, Offer, Rid, RidDescription, RidDirection, SdpError, Setup, Simulcast,
    SimulcastStream, Ssrc, SsrcDescription, SsrcGroup,
};

/// Parses a client's offer. Accepts CRLF or LF line endings; ignores empty lines, unknown
/// line types and unknown attributes. See the module docs for the caps and checks.
pub fn parse_offer(sdp: &str) -> Result<Offer, SdpError> {
    if sdp.len() > MAX_OFFER_BYTES {
        return Err(SdpError::TooLarge {
            line: 0,
            what: "bytes in the offer",
            max: MAX_OFFER_BYTES,
        });
    }
    let mut p = Parser::default();
    for (i, raw) in sdp.split('\n').enumerate() {
        let line_no = i + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.len() > MAX_LINE_BYTES {
            return Err(SdpError::TooLarge {
                line: line_no,
                what: "bytes in one line",
                max: MAX_LINE_BYTES,
            });
        }
        // RFC 8866 §5: no CR, LF or NUL inside a line. A lone CR (or any other control
        // character) would otherwise ride into values the answer echoes (fmtp) and split
        // the answer's lines.
        if let Some(b) = line.bytes().find(|b| b.is_ascii_control() && *b != b'\t') {
            return Err(malformed(
                line_no,
                format!("control character 0x{b:02x} inside the line"),
            ));
        }
        p.line(line_no, line)?;
    }
    p.finish()
}

fn malformed(line: usize, reason: impl Into<String>) -> SdpError {
    SdpError::Malformed {
        line,
        reason: reason.into(),
    }
}

fn conflict(line: usize, reason: impl Into<String>) -> SdpError {
    SdpError::Conflict {
        line,
        reason: reason.into(),
    }
}

fn too_large(line: usize, what: &'static str, max: usize) -> SdpError {
    SdpError::TooLarge { line, what, max }
}

/// A value with the line it came from, for conflict reports.
#[derive(Debug, Clone)]
struct At<T> {
    line: usize,
    value: T,
}

/// Transport attributes, allowed at session and media level.
#[derive(Debug, Default)]
struct Transport {
    ufrag: Option<At<String>>,
    pwd: Option<At<String>>,
    fingerprints: Vec<At<Fingerprint>>,
    setup: Option<At<Setup>>,
    ice_options: Vec<String>,
}

#[derive(Debug)]
struct SectionBuilder {
    section: MediaSection,
    transport: Transport,
    /// Line of each extmap, parallel to `section.extmaps`.
    extmap_lines: Vec<usize>,
    simulcast_line: usize,
    mid_line: usize,
    saw_rtpmap: Vec<u8>,
}

#[derive(Debug, Default)]
struct Parser {
    saw_version: bool,
    origin_session_id: String,
    session: Transport,
    bundle: Option<At<Vec<Mid>>>,
    groups: usize,
    extmap_allow_mixed: bool,
    sections: Vec<SectionBuilder>,
}

impl Parser {
    fn line(&mut self, n: usize, line: &str) -> Result<(), SdpError> {
        if line.is_empty() {
            return Ok(());
        }
        let bytes = line.as_bytes();
        if bytes.len() < 2 || bytes[1] != b'=' || !bytes[0].is_ascii_lowercase() {
            return Err(malformed(n, "expected <type>=<value>"));
        }
        let kind = bytes[0];
        // Safe: byte 1 is the ASCII '=', so 2 is a char boundary.
        let value = &line[2..];
        if !self.saw_version {
            if kind != b'v' || value != "0" {
                return Err(malformed(n, "an SDP must start with v=0"));
            }
            self.saw_version = true;
            return Ok(());
        }
        match kind {
            b'v' => Err(malformed(n, "second v= line")),
            b'o' if self.sections.is_empty() => {
                let mut f = value.split(' ');
                let _username = f.next();
                self.origin_session_id = f
                    .next()
                    .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or_else(|| malformed(n, "o= session id is not a number"))?
                    .to_owned();
                Ok(())
            }
            b'm' => self.media_line(n, value),
            b'a' => {
                let (name, val) = match value.split_once(':') {
                    Some((name, val)) => (name, Some(val)),
                    None => (value, None),
                };
                self.attribute(n, name, val)
            }
            _ => Ok(()),
        }
    }

    fn media_line(&mut self, n: usize, value: &str) -> Result<(), SdpError> {
        if self.sections.len() >= MAX_SECTIONS {
            return Err(too_large(n, "m-sections", MAX_SECTIONS));
        }
        let mut f = value.split(' ');
        let media = f.next().unwrap_or("");
        let port = f.next().unwrap_or("");
        let proto = f.next().unwrap_or("");
        if media.is_empty() || port.is_empty() || proto.is_empty() {
            return Err(malformed(n, "m= needs <media> <port> <proto> <fmt>..."));
        }
        let kind = match media {
            "audio" => MediaKind::Audio,
            "video" => MediaKind::Video,
            "application" => MediaKind::Application,
            other => {
                if !other.bytes().all(|b| b.is_ascii_alphanumeric()) || other.len() > 32 {
                    return Err(malformed(n, "m= media type is not a token"));
                }
                MediaKind::Other(other.to_owned())
            }
        };
        // `<port>/<count>` is allowed by RFC 8866; the count is irrelevant here.
        let port = port.split('/').next().unwrap_or("");
        let port: u16 = parse_num(port).ok_or_else(|| malformed(n, "m= port is not 0-65535"))?;
        let is_rtp = proto.contains("RTP/");
        let mut formats = Vec::new();
        let mut codecs = Vec::new();
        for fmt in f {
            if fmt.is_empty() {
                return Err(malformed(n, "m= has an empty format (double space)"));
            }
            if formats.len() >= 128 {
                return Err(too_large(n, "formats on one m-line", 128));
            }
            if is_rtp {
                let pt = parse_pt(n, "m=", fmt)?;
                if codecs.iter().any(|c: &CodecParams| c.payload_type == pt) {
                    return Err(conflict(n, format!("m= lists payload type {pt} twice")));
                }
                let (name, clock_rate, channels) = static_payload_type(pt);
                codecs.push(CodecParams {
                    payload_type: pt,
                    name: name.to_owned(),
                    clock_rate,
                    channels,
                    fmtp: None,
                    rtcp_fb: Vec::new(),
                    apt: None,
                });
            }
            formats.push(fmt.to_owned());
        }
        if formats.is_empty() {
            return Err(malformed(n, "m= has no formats"));
        }
        let index = self.sections.len();
        self.sections.push(SectionBuilder {
            section: MediaSection {
                index,
                kind,
                port,
                proto: proto.to_owned(),
                formats,
                mid: None,
                direction: Direction::SendRecv,
                codecs,
                extmaps: Vec::new(),
                rids: Vec::new(),
                simulcast: None,
                ssrcs: Vec::new(),
                ssrc_groups: Vec::new(),
                msid: None,
                rtcp_mux: false,
                rtcp_rsize: false,
            },
            transport: Transport::default(),
            extmap_lines: Vec::new(),
            simulcast_line: 0,
            mid_line: 0,
            saw_rtpmap: Vec::new(),
        });
        Ok(())
    }

    fn attribute(&mut self, n: usize, name: &str, val: Option<&str>) -> Result<(), SdpError> {
        let transport = match self.sections.last_mut() {
            Some(s) => &mut s.transport,
            None => &mut self.session,
        };
        match name {
            "ice-ufrag" => {
                let v = need(n, name, val)?;
                check_ice_chars(n, name, v, 4)?;
                set_once(n, name, &mut transport.ufrag, v.to_owned())
            }
            "ice-pwd" => {
                let v = need(n, name, val)?;
                check_ice_chars(n, name, v, 22)?;
                set_once(n, name, &mut transport.pwd, v.to_owned())
            }
            "ice-options" => {
                for opt in need(n, name, val)?.split(' ').filter(|s| !s.is_empty()) {
                    if transport.ice_options.len() >= MAX_SMALL_LIST {
                        return Err(too_large(n, "ice-options", MAX_SMALL_LIST));
                    }
                    if !transport.ice_options.iter().any(|o| o == opt) {
                        transport.ice_options.push(opt.to_owned());
                    }
                }
                Ok(())
            }
            "fingerprint" => {
                if transport.fingerprints.len() >= MAX_SMALL_LIST {
                    return Err(too_large(n, "fingerprints", MAX_SMALL_LIST));
                }
                let fp = parse_fingerprint(n, need(n, name, val)?)?;
                transport.fingerprints.push(At { line: n, value: fp });
                Ok(())
            }
            "setup" => {
                let setup = match need(n, name, val)? {
                    "actpass" => Setup::ActPass,
                    "active" => Setup::Active,
                    "passive" => Setup::Passive,
                    "holdconn" => Setup::HoldConn,
                    _ => {
                        return Err(malformed(
                            n,
                            "a=setup is not actpass/active/passive/holdconn",
                        ));
                    }
                };
                set_once(n, name, &mut transport.setup, setup)
            }
            _ => match self.sections.last_mut() {
                Some(s) => s.attribute(n, name, val),
                None => self.session_attribute(n, name, val),
            },
        }
    }

    fn session_attribute(
        &mut self,
        n: usize,
        name: &str,
        val: Option<&str>,
    ) -> Result<(), SdpError> {
        match name {
            "group" => {
                self.groups += 1;
                if self.groups > MAX_SMALL_LIST {
                    return Err(too_large(n, "a=group lines", MAX_SMALL_LIST));
                }
                let v = need(n, name, val)?;
                let mut f = v.split(' ').filter(|s| !s.is_empty());
                if f.next() != Some("BUNDLE") {
                    return Ok(()); // LS and other semantics: not used by telesfu
                }
                if self.bundle.is_some() {
                    return Err(SdpError::Unsupported {
                        reason: format!(
                            "line {n}: a second BUNDLE group (telesfu runs one transport)"
                        ),
                    });
                }
                let mut mids = Vec::new();
                for m in f {
                    if mids.len() >= MAX_SECTIONS {
                        return Err(too_large(n, "mids in a BUNDLE group", MAX_SECTIONS));
                    }
                    let mid = parse_mid(n, m)?;
                    if mids.contains(&mid) {
                        return Err(conflict(
                            n,
                            format!("BUNDLE lists mid {} twice", mid.as_str()),
                        ));
                    }
                    mids.push(mid);
                }
                self.bundle = Some(At {
                    line: n,
                    value: mids,
                });
                Ok(())
            }
            "extmap-allow-mixed" => {
                self.extmap_allow_mixed = true;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn finish(self) -> Result<Offer, SdpError> {
        if !self.saw_version {
            return Err(SdpError::Missing { what: "v=0 line" });
        }
        let mut ufrag = self.session.ufrag.clone();
        let mut pwd = self.session.pwd.clone();
        let mut setup = self.session.setup.clone();
        let mut fingerprint: Option<At<Fingerprint>> = sha256(&self.session.fingerprints)?;
        let mut ice_options = self.session.ice_options.clone();
        let mut sections = Vec::with_capacity(self.sections.len());
        let bundle = self.bundle.map(|b| b.value).unwrap_or_default();
        let mut ext_seen: Vec<(u8, String, usize)> = Vec::new();

        for b in &self.sections {
            let s = &b.section;
            if let Some(mid) = s.mid
                && sections.iter().any(|o: &MediaSection| o.mid == Some(mid))
            {
                return Err(conflict(
                    b.mid_line,
                    format!("mid {} used twice", mid.as_str()),
                ));
            }
            // Rejected sections may carry stale transport attributes; only live ones must agree.
            if s.port == 0 {
                sections.push(s.clone());
                continue;
            }
            merge(&mut ufrag, &b.transport.ufrag, "a=ice-ufrag")?;
            merge(&mut pwd, &b.transport.pwd, "a=ice-pwd")?;
            merge(&mut setup, &b.transport.setup, "a=setup")?;
            let fp = sha256(&b.transport.fingerprints)?;
            merge(&mut fingerprint, &fp, "a=fingerprint:sha-256")?;
            for o in &b.transport.ice_options {
                if !ice_options.contains(o) && ice_options.len() < MAX_SMALL_LIST {
                    ice_options.push(o.clone());
                }
            }
            let bundled = s.mid.is_some_and(|m| bundle.contains(&m));
            if bundled {
                for (e, &line) in s.extmaps.iter().zip(&b.extmap_lines) {
                    for (id, uri, _) in &ext_seen {
                        if *id == e.id && *uri != e.uri {
                            return Err(conflict(
                                line,
                                format!(
                                    "extmap id {} means {uri} in another bundled section",
                                    e.id
                                ),
                            ));
                        }
                        if *id != e.id && *uri == e.uri {
                            return Err(conflict(
                                line,
                                format!("{} has id {id} in another bundled section", e.uri),
                            ));
                        }
                    }
                    if !ext_seen.iter().any(|(id, _, _)| *id == e.id) {
                        ext_seen.push((e.id, e.uri.clone(), line));
                    }
                }
            }
            if let Some(sim) = &s.simulcast {
                for (streams, dir) in [
                    (&sim.send, RidDirection::Send),
                    (&sim.recv, RidDirection::Recv),
                ] {
                    for rid in streams.iter().flat_map(|st| &st.alternatives) {
                        if !s.rids.iter().any(|r| r.id == *rid && r.direction == dir) {
                            return Err(conflict(
                                b.simulcast_line,
                                format!(
                                    "a=simulcast names rid {} without a matching a=rid",
                                    rid.as_str()
                                ),
                            ));
                        }
                    }
                }
            }
            sections.push(s.clone());
        }
        for mid in &bundle {
            if !sections.iter().any(|s| s.mid == Some(*mid)) {
                return Err(SdpError::Conflict {
                    line: 0,
                    reason: format!(
                        "a=group:BUNDLE names mid {} that no m-section has",
                        mid.as_str()
                    ),
                });
            }
        }
        let ufrag = ufrag.ok_or(SdpError::Missing {
            what: "a=ice-ufrag",
        })?;
        let pwd = pwd.ok_or(SdpError::Missing { what: "a=ice-pwd" })?;
        let fingerprint = fingerprint.ok_or(SdpError::Missing {
            what: "a=fingerprint:sha-256",
        })?;
        Ok(Offer {
            origin_session_id: self.origin_session_id,
            ice_ufrag: ufrag.value,
            ice_pwd: pwd.value,
            ice_options,
            fingerprint: fingerprint.value,
            setup: setup.map(|s| s.value),
            bundle,
            extmap_allow_mixed: self.extmap_allow_mixed,
            sections,
        })
    }
}

impl SectionBuilder {
    fn attribute(&mut self, n: usize, name: &str, val: Option<&str>) -> Result<(), SdpError> {
        let s = &mut self.section;
        if let Some(dir) = Direction::from_token(name) {
            s.direction = dir;
            return Ok(());
        }
        match name {
            "mid" => {
                if s.mid.is_some() {
                    return Err(conflict(n, "second a=mid in one m-section"));
                }
                s.mid = Some(parse_mid(n, need(n, name, val)?)?);
                self.mid_line = n;
            }
            "rtcp-mux" => s.rtcp_mux = true,
            "rtcp-rsize" => s.rtcp_rsize = true,
            "rtpmap" => {
                let v = need(n, name, val)?;
                let (pt, rest) = split_pt(n, name, v)?;
                let mut f = rest.split('/');
                let enc = f.next().unwrap_or("");
                if enc.is_empty() || !enc.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(malformed(n, "a=rtpmap encoding name is missing"));
                }
                let clock: u32 = f
                    .next()
                    .and_then(parse_num)
                    .filter(|c| *c > 0)
                    .ok_or_else(|| malformed(n, "a=rtpmap clock rate is not a positive number"))?;
                let channels = match f.next() {
                    None => None,
                    Some(c) => Some(
                        parse_num::<u16>(c)
                            .filter(|c| *c > 0)
                            .ok_or_else(|| malformed(n, "a=rtpmap channel count is not 1-65535"))?,
                    ),
                };
                if f.next().is_some() {
                    return Err(malformed(n, "a=rtpmap has too many / fields"));
                }
                if self.saw_rtpmap.contains(&pt) {
                    return Err(conflict(
                        n,
                        format!("second a=rtpmap for payload type {pt}"),
                    ));
                }
                self.saw_rtpmap.push(pt);
                if let Some(c) = codec_mut(&mut s.codecs, pt) {
                    c.name = enc.to_owned();
                    c.clock_rate = clock;
                    c.channels = channels;
                }
            }
            "fmtp" => {
                let v = need(n, name, val)?;
                let (pt, rest) = split_pt(n, name, v)?;
                let apt = rest
                    .split(';')
                    .find_map(|kv| kv.trim().strip_prefix("apt="))
                    .map(|a| parse_pt(n, "a=fmtp apt", a))
                    .transpose()?;
                if let Some(c) = codec_mut(&mut s.codecs, pt) {
                    if c.fmtp.is_some() {
                        return Err(conflict(n, format!("second a=fmtp for payload type {pt}")));
                    }
                    c.fmtp = Some(rest.to_owned());
                    c.apt = apt;
                }
            }
            "rtcp-fb" => {
                let v = need(n, name, val)?;
                let (pt, fb) = v
                    .split_once(' ')
                    .ok_or_else(|| malformed(n, "a=rtcp-fb needs <pt> <type>"))?;
                let fb = fb.trim();
                if fb.is_empty() {
                    return Err(malformed(n, "a=rtcp-fb needs <pt> <type>"));
                }
                let add = |c: &mut CodecParams| -> Result<(), SdpError> {
                    if c.rtcp_fb.iter().any(|f| f == fb) {
                        return Ok(());
                    }
                    if c.rtcp_fb.len() >= MAX_RTCP_FB {
                        return Err(too_large(n, "a=rtcp-fb per payload type", MAX_RTCP_FB));
                    }
                    c.rtcp_fb.push(fb.to_owned());
                    Ok(())
                };
                if pt == "*" {
                    for c in &mut s.codecs {
                        add(c)?;
                    }
                } else {
                    let pt = parse_pt(n, "a=rtcp-fb", pt)?;
                    if let Some(c) = codec_mut(&mut s.codecs, pt) {
                        add(c)?;
                    }
                }
            }
            "extmap" => {
                if s.extmaps.len() >= MAX_EXTMAPS {
                    return Err(too_large(n, "a=extmap in one m-section", MAX_EXTMAPS));
                }
                let v = need(n, name, val)?;
                let mut f = v.split(' ').filter(|x| !x.is_empty());
                let id_dir = f.next().unwrap_or("");
                let uri = f
                    .next()
                    .ok_or_else(|| malformed(n, "a=extmap needs <id> <uri>"))?;
                let (id, dir) = match id_dir.split_once('/') {
                    Some((id, dir)) => (
                        id,
                        Some(Direction::from_token(dir).ok_or_else(|| {
                            malformed(n, "a=extmap direction is not a direction")
                        })?),
                    ),
                    None => (id_dir, None),
                };
                let id: u8 = parse_num::<u16>(id)
                    .and_then(|i| u8::try_from(i).ok())
                    .filter(|i| *i >= 1)
                    .ok_or_else(|| malformed(n, format!("a=extmap id {id} is not 1-255")))?;
                if s.extmaps.iter().any(|e| e.id == id) {
                    return Err(conflict(
                        n,
                        format!("a=extmap id {id} used twice in one m-section"),
                    ));
                }
                if s.extmaps.iter().any(|e| e.uri == uri) {
                    return Err(conflict(
                        n,
                        format!("a=extmap {uri} mapped twice in one m-section"),
                    ));
                }
                s.extmaps.push(Extmap {
                    id,
                    direction: dir,
                    uri: uri.to_owned(),
                });
                self.extmap_lines.push(n);
            }
            "rid" => {
                if s.rids.len() >= MAX_RIDS {
                    return Err(too_large(n, "a=rid in one m-section", MAX_RIDS));
                }
                let v = need(n, name, val)?;
                let mut f = v.splitn(3, ' ');
                let id = parse_rid(n, f.next().unwrap_or(""))?;
                let direction = match f.next() {
                    Some("send") => RidDirection::Send,
                    Some("recv") => RidDirection::Recv,
                    _ => return Err(malformed(n, "a=rid direction is not send or recv")),
                };
                if s.rids.iter().any(|r| r.id == id) {
                    return Err(conflict(n, format!("a=rid {} declared twice", id.as_str())));
                }
                s.rids.push(RidDescription {
                    id,
                    direction,
                    params: f.next().unwrap_or("").trim().to_owned(),
                });
            }
            "simulcast" => {
                if s.simulcast.is_some() {
                    return Err(conflict(n, "second a=simulcast in one m-section"));
                }
                s.simulcast = Some(parse_simulcast(n, need(n, name, val)?)?);
                self.simulcast_line = n;
            }
            "ssrc" => {
                let v = need(n, name, val)?;
                let (ssrc, attr) = v.split_once(' ').unwrap_or((v, ""));
                let ssrc = Ssrc(
                    parse_num(ssrc).ok_or_else(|| malformed(n, "a=ssrc id is not 0-4294967295"))?,
                );
                let idx = match s.ssrcs.iter().position(|d| d.ssrc == ssrc) {
                    Some(i) => i,
                    None => {
                        if s.ssrcs.len() >= MAX_SSRCS {
                            return Err(too_large(n, "SSRCs in one m-section", MAX_SSRCS));
                        }
                        s.ssrcs.push(SsrcDescription {
                            ssrc,
                            cname: None,
                            msid: None,
                        });
                        s.ssrcs.len() - 1
                    }
                };
                let d = &mut s.ssrcs[idx];
                if let Some(c) = attr.strip_prefix("cname:") {
                    d.cname = Some(c.to_owned());
                } else if let Some(m) = attr.strip_prefix("msid:") {
                    d.msid = Some(m.to_owned());
                }
            }
            "ssrc-group" => {
                if s.ssrc_groups.len() >= MAX_SSRC_GROUPS {
                    return Err(too_large(
                        n,
                        "a=ssrc-group in one m-section",
                        MAX_SSRC_GROUPS,
                    ));
                }
                let v = need(n, name, val)?;
                let mut f = v.split(' ').filter(|x| !x.is_empty());
                let semantics = f.next().unwrap_or("");
                if semantics.is_empty() || !semantics.bytes().all(|b| b.is_ascii_graphic()) {
                    return Err(malformed(n, "a=ssrc-group needs semantics"));
                }
                let mut ssrcs = Vec::new();
                for x in f {
                    if ssrcs.len() >= MAX_SMALL_LIST {
                        return Err(too_large(n, "SSRCs in one a=ssrc-group", MAX_SMALL_LIST));
                    }
                    ssrcs.push(Ssrc(parse_num(x).ok_or_else(|| {
                        malformed(n, "a=ssrc-group SSRC is not 0-4294967295")
                    })?));
                }
                if ssrcs.is_empty() {
                    return Err(malformed(n, "a=ssrc-group lists no SSRC"));
                }
                if semantics == "FID" && ssrcs.len() != 2 {
                    return Err(malformed(n, "a=ssrc-group:FID needs exactly 2 SSRCs"));
                }
                s.ssrc_groups.push(SsrcGroup {
                    semantics: semantics.to_owned(),
                    ssrcs,
                });
            }
            // Only the first a=msid is kept (one track per transceiver in unified plan).
            "msid" if s.msid.is_none() => {
                let v = need(n, name, val)?;
                let mut f = v.split(' ').filter(|x| !x.is_empty());
                let stream = f
                    .next()
                    .ok_or_else(|| malformed(n, "a=msid needs a stream id"))?;
                s.msid = Some(Msid {
                    stream: stream.to_owned(),
                    track: f.next().map(str::to_owned),
                });
            }
            _ => {}
        }
        Ok(())
    }
}

fn codec_mut(codecs: &mut [CodecParams], pt: u8) -> Option<&mut CodecParams> {
    codecs.iter_mut().find(|c| c.payload_type == pt)
}

fn need<'a>(n: usize, name: &str, val: Option<&'a str>) -> Result<&'a str, SdpError> {
    match val {
        Some(v) if !v.trim().is_empty() => Ok(v.trim()),
        _ => Err(malformed(n, format!("a={name} needs a value"))),
    }
}

fn set_once<T: Clone + PartialEq>(
    n: usize,
    name: &str,
    slot: &mut Option<At<T>>,
    value: T,
) -> Result<(), SdpError> {
    match slot {
        Some(old) if old.value != value => Err(conflict(
            n,
            format!("a={name} differs from line {}", old.line),
        )),
        Some(_) => Ok(()),
        None => {
            *slot = Some(At { line: n, value });
            Ok(())
        }
    }
}

/// Folds a section's transport attribute into the connection's: they must agree.
fn merge<T: Clone + PartialEq>(
    acc: &mut Option<At<T>>,
    new: &Option<At<T>>,
    what: &str,
) -> Result<(), SdpError> {
    match (acc.as_ref(), new) {
        (Some(a), Some(b)) if a.value != b.value => Err(conflict(
            b.line,
            format!("{what} differs from line {} (one BUNDLE transport)", a.line),
        )),
        (None, Some(b)) => {
            *acc = Some(b.clone());
            Ok(())
        }
        _ => Ok(()),
    }
}

fn sha256(fps: &[At<Fingerprint>]) -> Result<Option<At<Fingerprint>>, SdpError> {
    let mut found: Option<At<Fingerprint>> = None;
    for fp in fps.iter().filter(|f| f.value.algorithm == "sha-256") {
        merge(&mut found, &Some(fp.clone()), "a=fingerprint:sha-256")?;
    }
    Ok(found)
}

fn parse_num<T: core::str::FromStr>(s: &str) -> Option<T> {
    // FromStr for integers accepts a leading '+'; SDP does not.
    if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn parse_pt(n: usize, what: &str, s: &str) -> Result<u8, SdpError> {
    parse_num::<u32>(s)
        .filter(|pt| *pt <= 127)
        .and_then(|pt| u8::try_from(pt).ok())
        .ok_or_else(|| malformed(n, format!("{what} payload type {s} is not 0-127")))
}

fn split_pt<'a>(n: usize, name: &str, v: &'a str) -> Result<(u8, &'a str), SdpError> {
    let (pt, rest) = v
        .split_once(' ')
        .ok_or_else(|| malformed(n, format!("a={name} needs <pt> <value>")))?;
    Ok((parse_pt(n, &format!("a={name}"), pt)?, rest.trim()))
}

fn parse_mid(n: usize, s: &str) -> Result<Mid, SdpError> {
    Mid::new(s).ok_or_else(|| malformed(n, "mid is not 1-16 characters of [A-Za-z0-9_-]"))
}

fn parse_rid(n: usize, s: &str) -> Result<Rid, SdpError> {
    Rid::new(s).ok_or_else(|| malformed(n, "rid is not 1-16 characters of [A-Za-z0-9_-]"))
}

fn check_ice_chars(n: usize, name: &str, v: &str, min: usize) -> Result<(), SdpError> {
    // RFC 8839 §5.4: ice-char = ALPHA / DIGIT / "+" / "/"; 4 (ufrag) or 22 (pwd) to 256.
    let ok = (min..=256).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/');
    if ok {
        Ok(())
    } else {
        Err(malformed(
            n,
            format!("a={name} is not {min}-256 characters of [A-Za-z0-9+/]"),
        ))
    }
}

fn parse_fingerprint(n: usize, v: &str) -> Result<Fingerprint, SdpError> {
    let (alg, value) = v
        .split_once(' ')
        .ok_or_else(|| malformed(n, "a=fingerprint needs <hash> <value>"))?;
    let algorithm = alg.to_ascii_lowercase();
    let value = value.trim().to_ascii_uppercase();
    let well_formed = !value.is_empty()
        && value
            .split(':')
            .all(|b| b.len() == 2 && b.bytes().all(|c| c.is_ascii_hexdigit()));
    if !well_formed {
        return Err(malformed(
            n,
            "a=fingerprint value is not colon-separated hex bytes",
        ));
    }
    if algorithm == "sha-256" && value.len() != 32 * 3 - 1 {
        return Err(malformed(n, "a=fingerprint:sha-256 is not 32 bytes"));
    }
    Ok(Fingerprint { algorithm, value })
}

fn parse_simulcast(n: usize, v: &str) -> Result<Simulcast, SdpError> {
    let mut sim = Simulcast::default();
    let mut f = v.split(' ').filter(|x| !x.is_empty());
    let mut saw = [false; 2];
    while let Some(dir) = f.next() {
        let (list, idx) = match dir {
            "send" => (&mut sim.send, 0),
            "recv" => (&mut sim.recv, 1),
            _ => return Err(malformed(n, "a=simulcast direction is not send or recv")),
        };
        if saw[idx] {
            return Err(malformed(n, format!("a=simulcast has two {dir} lists")));
        }
        saw[idx] = true;
        let streams = f
            .next()
            .ok_or_else(|| malformed(n, "a=simulcast direction without streams"))?;
        for stream in streams.split(';') {
            if list.len() >= MAX_RIDS {
                return Err(too_large(n, "simulcast streams", MAX_RIDS));
            }
            let mut alternatives = Vec::new();
            let mut paused = false;
            for (i, alt) in stream.split(',').enumerate() {
                let id = match alt.strip_prefix('~') {
                    Some(id) => {
                        paused |= i == 0;
                        id
                    }
                    None => alt,
                };
                if alternatives.len() >= MAX_RIDS {
                    return Err(too_large(n, "simulcast alternatives", MAX_RIDS));
                }
                alternatives.push(parse_rid(n, id)?);
            }
            list.push(SimulcastStream {
                alternatives,
                paused,
            });
        }
    }
    if !saw[0] && !saw[1] {
        return Err(malformed(n, "a=simulcast is empty"));
    }
    Ok(sim)
}

/// Static RTP payload types (RFC 3551) a browser may list without `a=rtpmap`.
fn static_payload_type(pt: u8) -> (&'static str, u32, Option<u16>) {
    match pt {
        0 => ("PCMU", 8000, Some(1)),
        8 => ("PCMA", 8000, Some(1)),
        9 => ("G722", 8000, Some(1)),
        13 => ("CN", 8000, Some(1)),
        _ => ("", 0, None),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const PUBLISH: &str = include_str!("../../tests/data/sdp/chromium156-publish-simulcast.sdp");
    const RENEGOTIATE: &str = include_str!("../../tests/data/sdp/chromium156-renegotiate.sdp");

    const MINIMAL: &str = "v=0\r\n\
o=- 1 2 IN IP4 127.0.0.1\r\n\
s=-\r\n\
t=0 0\r\n\
a=group:BUNDLE 0\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n\
c=IN IP4 0.0.0.0\r\n\
a=ice-ufrag:abcd\r\n\
a=ice-pwd:abcdefghijklmnopqrstuv\r\n\
a=fingerprint:sha-256 4F:88:D0:8B:14:05:D4:AD:24:7B:86:C8:D3:B9:BD:9D:1F:93:78:EB:CD:7F:92:0C:AD:5D:FA:50:69:BA:F0:12\r\n\
a=setup:actpass\r\n\
a=mid:0\r\n\
a=sendonly\r\n\
a=rtcp-mux\r\n\
a=rtpmap:111 opus/48000/2\r\n";

    /// MINIMAL with one line replaced (1-based number) or, with `None`, removed.
    fn with_line(n: usize, new: Option<&str>) -> String {
        MINIMAL
            .split("\r\n")
            .enumerate()
            .filter_map(|(i, l)| if i + 1 == n { new } else { Some(l) })
            .collect::<Vec<_>>()
            .join("\r\n")
    }

    fn reason(r: Result<Offer, SdpError>) -> String {
        r.unwrap_err().to_string()
    }

    #[test]
    fn minimal_offer_parses_with_lf_or_crlf() {
        let crlf = parse_offer(MINIMAL).unwrap();
        let lf = parse_offer(&MINIMAL.replace("\r\n", "\n")).unwrap();
        assert_eq!(crlf, lf);
        assert_eq!(crlf.setup, Some(Setup::ActPass));
        assert_eq!(crlf.sections[0].codecs[0].name, "opus");
        assert_eq!(crlf.origin_session_id, "1");
    }

    #[test]
    fn missing_fingerprint_is_reported() {
        assert_eq!(
            parse_offer(&with_line(10, None)),
            Err(SdpError::Missing {
                what: "a=fingerprint:sha-256"
            })
        );
        // A sha-1 fingerprint alone is not enough.
        let sha1 = with_line(
            10,
            Some("a=fingerprint:sha-1 4F:88:D0:8B:14:05:D4:AD:24:7B:86:C8:D3:B9:BD:9D:1F:93:78:EB"),
        );
        assert_eq!(
            parse_offer(&sha1),
            Err(SdpError::Missing {
                what: "a=fingerprint:sha-256"
            })
        );
        assert_eq!(
            reason(parse_offer(&with_line(
                10,
                Some("a=fingerprint:sha-256 4F:88")
            ))),
            "line 10: a=fingerprint:sha-256 is not 32 bytes"
        );
    }

    #[test]
    fn missing_ice_credentials_are_reported() {
        assert_eq!(
            parse_offer(&with_line(8, None)),
            Err(SdpError::Missing {
                what: "a=ice-ufrag"
            })
        );
        assert_eq!(
            reason(parse_offer(&with_line(9, Some("a=ice-pwd:short")))),
            "line 9: a=ice-pwd is not 22-256 characters of [A-Za-z0-9+/]"
        );
    }

    #[test]
    fn control_characters_inside_a_line_are_refused() {
        // A lone CR inside an fmtp line must not reach the answer (found by the sdp_offer
        // fuzz target).
        let offer = MINIMAL.replace(
            "a=rtpmap:111 opus/48000/2\r\n",
            "a=rtpmap:111 opus/48000/2\r\na=fmtp:111 minptime=10\rinjected\r\n",
        );
        let e = reason(parse_offer(&offer));
        assert!(e.contains("control character 0x0d"), "{e}");
    }

    #[test]
    fn bad_rtpmap_names_the_line() {
        let cases = [
            (
                "a=rtpmap:300 opus/48000/2",
                "line 15: a=rtpmap payload type 300 is not 0-127",
            ),
            (
                "a=rtpmap:111 opus",
                "line 15: a=rtpmap clock rate is not a positive number",
            ),
            (
                "a=rtpmap:111 opus/0",
                "line 15: a=rtpmap clock rate is not a positive number",
            ),
            (
                "a=rtpmap:111 opus/48000/2/9",
                "line 15: a=rtpmap has too many / fields",
            ),
            ("a=rtpmap:111", "line 15: a=rtpmap needs <pt> <value>"),
            (
                "a=rtpmap:+11 opus/48000",
                "line 15: a=rtpmap payload type +11 is not 0-127",
            ),
        ];
        for (line, want) in cases {
            assert_eq!(
                reason(parse_offer(&with_line(15, Some(line)))),
                want,
                "{line}"
            );
        }
        assert_eq!(
            reason(parse_offer(&with_line(
                6,
                Some("m=audio 9 UDP/TLS/RTP/SAVPF 128")
            ))),
            "line 6: m= payload type 128 is not 0-127"
        );
    }

    #[test]
    fn bad_extmap_id_names_the_line() {
        let offer = format!("{MINIMAL}a=extmap:0 urn:ietf:params:rtp-hdrext:sdes:mid\r\n");
        assert_eq!(
            reason(parse_offer(&offer)),
            "line 16: a=extmap id 0 is not 1-255"
        );
        let offer = format!("{MINIMAL}a=extmap:256 urn:ietf:params:rtp-hdrext:sdes:mid\r\n");
        assert_eq!(
            reason(parse_offer(&offer)),
            "line 16: a=extmap id 256 is not 1-255"
        );
        let offer = format!("{MINIMAL}a=extmap:3/sideways urn:x\r\n");
        assert_eq!(
            reason(parse_offer(&offer)),
            "line 16: a=extmap direction is not a direction"
        );
        let offer = format!("{MINIMAL}a=extmap:3 urn:a\r\na=extmap:3 urn:b\r\n");
        assert!(matches!(
            parse_offer(&offer),
            Err(SdpError::Conflict { line: 17, .. })
        ));
    }

    #[test]
    fn bundled_sections_must_share_extension_ids() {
        let offer = parse_offer(PUBLISH).unwrap();
        assert_eq!(offer.extension_ids().mid, Some(9));
        // Map the audio section's mid extension to another id.
        let bad = PUBLISH.replace(
            "a=extmap:9 urn:ietf:params:rtp-hdrext:sdes:mid\r\na=sendonly\r\na=msid:7376b066-808a-4491-924b-ceb045a6a9bb 5b41",
            "a=extmap:15 urn:ietf:params:rtp-hdrext:sdes:mid\r\na=sendonly\r\na=msid:7376b066-808a-4491-924b-ceb045a6a9bb 5b41",
        );
        assert_ne!(bad, PUBLISH);
        let err = parse_offer(&bad).unwrap_err();
        assert!(
            matches!(&err, SdpError::Conflict { reason, .. } if reason.contains("has id 9")),
            "{err}"
        );
    }

    #[test]
    fn too_many_sections_is_too_large() {
        let mut offer = MINIMAL.to_owned();
        for i in 1..=MAX_SECTIONS {
            offer.push_str(&format!("m=audio 0 UDP/TLS/RTP/SAVPF 0\r\na=mid:x{i}\r\n"));
        }
        assert!(matches!(
            parse_offer(&offer),
            Err(SdpError::TooLarge {
                what: "m-sections",
                max: MAX_SECTIONS,
                ..
            })
        ));
        let huge = "a".repeat(MAX_OFFER_BYTES + 1);
        assert!(matches!(
            parse_offer(&huge),
            Err(SdpError::TooLarge { line: 0, .. })
        ));
        let long_line = format!("{MINIMAL}a=x:{}\r\n", "y".repeat(MAX_LINE_BYTES));
        assert!(matches!(
            parse_offer(&long_line),
            Err(SdpError::TooLarge { line: 16, .. })
        ));
    }

    #[test]
    fn structure_errors() {
        assert_eq!(reason(parse_offer("")), "offer has no v=0 line");
        assert_eq!(reason(parse_offer("x")), "line 1: expected <type>=<value>");
        assert_eq!(
            reason(parse_offer("o=- 1 1 IN IP4 0.0.0.0\r\n")),
            "line 1: an SDP must start with v=0"
        );
        let dup_mid = format!("{MINIMAL}m=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n");
        assert!(matches!(
            parse_offer(&dup_mid),
            Err(SdpError::Conflict { line: 17, .. })
        ));
        let unknown_bundle = with_line(5, Some("a=group:BUNDLE 0 7"));
        assert!(matches!(
            parse_offer(&unknown_bundle),
            Err(SdpError::Conflict { .. })
        ));
        let other_ufrag =
            format!("{MINIMAL}m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=ice-ufrag:wxyz\r\n");
        assert!(matches!(
            parse_offer(&other_ufrag),
            Err(SdpError::Conflict { line: 18, .. })
        ));
        let sim_without_rid = format!("{MINIMAL}a=simulcast:send a;b\r\n");
        assert!(matches!(
            parse_offer(&sim_without_rid),
            Err(SdpError::Conflict { line: 16, .. })
        ));
    }

    #[test]
    fn simulcast_alternatives_and_paused_streams() {
        let offer = format!(
            "{MINIMAL}a=rid:a send\r\na=rid:b send max-width=640\r\na=rid:c send\r\na=simulcast:send a,b;~c\r\n"
        );
        let o = parse_offer(&offer).unwrap();
        let s = &o.sections[0];
        let sim = s.simulcast.as_ref().unwrap();
        assert_eq!(sim.send.len(), 2);
        assert_eq!(sim.send[0].alternatives.len(), 2);
        assert!(!sim.send[0].paused && sim.send[1].paused);
        assert_eq!(sim.send[1].rid().as_str(), "c");
        assert_eq!(s.rids[1].params, "max-width=640");
        // Audio sections never report simulcast layers.
        assert!(s.simulcast_layers().is_empty());
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = parse_offer(&String::from_utf8_lossy(&bytes));
        }

        #[test]
        fn random_sdp_like_lines_never_panic(
            lines in proptest::collection::vec("[vomcta]=[ -~]{0,60}|a=(rtpmap|fmtp|rtcp-fb|extmap|rid|simulcast|ssrc|ssrc-group|msid|mid|group|fingerprint|ice-ufrag|setup):[ -~]{0,40}", 0..40)
        ) {
            let _ = parse_offer(&format!("v=0\r\n{}", lines.join("\r\n")));
        }

        /// Mutation test over a real offer: replace, delete, duplicate or truncate lines and
        /// flip bytes; the parser returns Ok or Err, never panics.
        #[test]
        fn mutated_real_offer_never_panics(
            ops in proptest::collection::vec((0usize..600, 0u8..5, any::<u8>(), "[ -~]{0,20}"), 1..8)
        ) {
            let mut lines: Vec<String> = RENEGOTIATE.split("\r\n").map(str::to_owned).collect();
            for (at, op, byte, text) in ops {
                let i = at % lines.len();
                match op {
                    0 => lines[i] = text,
                    1 => { lines.remove(i); if lines.is_empty() { lines.push(String::new()); } }
                    2 => { let l = lines[i].clone(); lines.insert(i, l); }
                    3 => { let l = &mut lines[i]; let cut = (byte as usize).min(l.len()); let cut = (0..=cut).rev().find(|c| l.is_char_boundary(*c)).unwrap_or(0); l.truncate(cut); }
                    _ => { let mut b = lines[i].clone().into_bytes(); if !b.is_empty() { let j = byte as usize % b.len(); b[j] = byte; } lines[i] = String::from_utf8_lossy(&b).into_owned(); }
                }
            }
            let _ = parse_offer(&lines.join("\r\n"));
        }
    }
}
