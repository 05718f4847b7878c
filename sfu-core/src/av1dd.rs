//! The AV1 dependency descriptor RTP header extension (AV1 RTP spec, Appendix A).
//!
//! An SFU forwarding encrypted AV1 sees nothing of the bitstream: the descriptor tells it
//! where frames start and end, their spatial and temporal layer, and (on keyframes) the
//! template structure that later descriptors refer to. [`DependencyStructure`] is kept per
//! stream in fixed-size arrays, so parsing allocates nothing; a descriptor without a structure
//! is read against the last one seen.
//!
//! The writer serves the simulator's synthetic AV1 publishers and the tests.

/// Most templates a structure can hold (template ids are 6 bits).
pub const MAX_TEMPLATES: usize = 64;
/// Most decode targets (5-bit count).
pub const MAX_DECODE_TARGETS: usize = 32;
/// Most spatial layers we keep resolutions for.
pub const MAX_SPATIAL: usize = 4;

/// Why a dependency descriptor did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DdError {
    /// The extension ends inside a field.
    Truncated,
    /// The descriptor refers to a structure we have not seen (no keyframe yet).
    NoStructure,
    /// The template id is outside the structure.
    UnknownTemplate,
    /// More templates, decode targets or spatial layers than the limits.
    TooLarge,
}

impl core::fmt::Display for DdError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Truncated => "dependency descriptor truncated",
            Self::NoStructure => "dependency descriptor before any template structure",
            Self::UnknownTemplate => "dependency descriptor names a template outside its structure",
            Self::TooLarge => "dependency descriptor structure exceeds supported limits",
        })
    }
}

impl std::error::Error for DdError {}

struct BitReader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl BitReader<'_> {
    fn f(&mut self, n: u32) -> Result<u32, DdError> {
        let mut v = 0u32;
        for _ in 0..n {
            let byte = *self.b.get(self.pos / 8).ok_or(DdError::Truncated)?;
            v = (v << 1) | u32::from((byte >> (7 - self.pos % 8)) & 1);
            self.pos += 1;
        }
        Ok(v)
    }

    /// Non-symmetric unsigned value in 0..n.
    fn ns(&mut self, n: u32) -> Result<u32, DdError> {
        let w = 32 - n.leading_zeros();
        let m = (1u32 << w) - n;
        let v = self.f(w - 1)?;
        if v < m {
            return Ok(v);
        }
        Ok((v << 1) - m + self.f(1)?)
    }
}

/// Bit writer for descriptors.
#[derive(Debug)]
struct BitWriter {
    out: [u8; 256],
    pos: usize,
}

impl BitWriter {
    fn new() -> Self {
        Self {
            out: [0; 256],
            pos: 0,
        }
    }

    fn f(&mut self, n: u32, v: u32) -> Option<()> {
        for i in (0..n).rev() {
            let byte = self.out.get_mut(self.pos / 8)?;
            if (v >> i) & 1 != 0 {
                *byte |= 1 << (7 - self.pos % 8);
            }
            self.pos += 1;
        }
        Some(())
    }

    fn ns(&mut self, n: u32, v: u32) -> Option<()> {
        let w = 32 - n.leading_zeros();
        let m = (1u32 << w) - n;
        if v < m {
            self.f(w - 1, v)
        } else {
            let x = v + m;
            self.f(w - 1, x >> 1)?;
            self.f(1, x & 1)
        }
    }
}

/// The template dependency structure a keyframe's descriptor carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DependencyStructure {
    /// Offset added to template indices to form template ids.
    pub template_id_offset: u8,
    /// Number of decode targets.
    pub decode_targets: u8,
    /// Number of templates.
    pub templates: u8,
    /// Spatial id of each template.
    pub spatial: [u8; MAX_TEMPLATES],
    /// Temporal id of each template.
    pub temporal: [u8; MAX_TEMPLATES],
    /// Decode target indication of each template for each decode target (0 not present,
    /// 1 discardable, 2 switch, 3 required).
    pub dti: [[u8; MAX_DECODE_TARGETS]; MAX_TEMPLATES],
    /// Frame diffs of each template (up to 15 kept).
    pub fdiffs: [[u8; 15]; MAX_TEMPLATES],
    /// How many frame diffs each template has.
    pub fdiff_count: [u8; MAX_TEMPLATES],
    /// Number of chains.
    pub chains: u8,
    /// Chain protecting each decode target.
    pub protected_by: [u8; MAX_DECODE_TARGETS],
    /// Chain frame diffs of each template.
    pub chain_fdiff: [[u8; MAX_DECODE_TARGETS]; MAX_TEMPLATES],
    /// Render resolution (width, height) per spatial layer, if sent.
    pub resolutions: Option<[(u16, u16); MAX_SPATIAL]>,
}

impl DependencyStructure {
    /// A simple structure for `spatial` x `temporal` layers in L{s}T{t} form: one template per
    /// (spatial, temporal) pair, each decode target `s*temporal + t` needing every layer at or
    /// below it. Used by the simulator's publishers.
    pub fn simple(
        spatial: u8,
        temporal: u8,
        resolutions: Option<[(u16, u16); MAX_SPATIAL]>,
    ) -> Self {
        let mut s = Self::empty();
        let n = spatial * temporal;
        s.templates = n;
        s.decode_targets = n;
        for sid in 0..spatial {
            for tid in 0..temporal {
                let t = usize::from(sid * temporal + tid);
                s.spatial[t] = sid;
                s.temporal[t] = tid;
                for dt in 0..usize::from(n) {
                    let (ds, dtid) = (dt as u8 / temporal, dt as u8 % temporal);
                    s.dti[t][dt] = if sid <= ds && tid <= dtid {
                        if tid == 0 { 2 } else { 1 }
                    } else {
                        0
                    };
                }
            }
        }
        s.resolutions = resolutions;
        s
    }

    fn empty() -> Self {
        Self {
            template_id_offset: 0,
            decode_targets: 0,
            templates: 0,
            spatial: [0; MAX_TEMPLATES],
            temporal: [0; MAX_TEMPLATES],
            dti: [[0; MAX_DECODE_TARGETS]; MAX_TEMPLATES],
            fdiffs: [[0; 15]; MAX_TEMPLATES],
            fdiff_count: [0; MAX_TEMPLATES],
            chains: 0,
            protected_by: [0; MAX_DECODE_TARGETS],
            chain_fdiff: [[0; MAX_DECODE_TARGETS]; MAX_TEMPLATES],
            resolutions: None,
        }
    }

    /// Highest spatial id in the structure.
    pub fn max_spatial(&self) -> u8 {
        self.spatial[..usize::from(self.templates)]
            .iter()
            .copied()
            .max()
            .unwrap_or(0)
    }

    fn read(r: &mut BitReader<'_>) -> Result<Self, DdError> {
        let mut s = Self::empty();
        s.template_id_offset = r.f(6)? as u8;
        let dt_cnt = r.f(5)? + 1;
        s.decode_targets = dt_cnt as u8;
        // Template layers.
        let (mut sid, mut tid) = (0u8, 0u8);
        loop {
            let t = usize::from(s.templates);
            if t >= MAX_TEMPLATES {
                return Err(DdError::TooLarge);
            }
            s.spatial[t] = sid;
            s.temporal[t] = tid;
            s.templates += 1;
            match r.f(2)? {
                1 => tid += 1,
                2 => {
                    tid = 0;
                    sid += 1;
                }
                3 => break,
                _ => {}
            }
        }
        let tc = usize::from(s.templates);
        for t in 0..tc {
            for dt in 0..dt_cnt as usize {
                s.dti[t][dt] = r.f(2)? as u8;
            }
        }
        for t in 0..tc {
            while r.f(1)? == 1 {
                let d = r.f(4)? as u8 + 1;
                let c = usize::from(s.fdiff_count[t]);
                if c < 15 {
                    s.fdiffs[t][c] = d;
                    s.fdiff_count[t] += 1;
                }
            }
        }
        let chains = r.ns(dt_cnt + 1)?;
        s.chains = chains as u8;
        if chains > 0 {
            for dt in 0..dt_cnt as usize {
                s.protected_by[dt] = r.ns(chains)? as u8;
            }
            for t in 0..tc {
                for c in 0..chains as usize {
                    s.chain_fdiff[t][c] = r.f(4)? as u8;
                }
            }
        }
        if r.f(1)? == 1 {
            let max_sid = usize::from(s.max_spatial());
            if max_sid >= MAX_SPATIAL {
                return Err(DdError::TooLarge);
            }
            let mut res = [(0u16, 0u16); MAX_SPATIAL];
            for item in res.iter_mut().take(max_sid + 1) {
                let w = r.f(16)? as u16 + 1;
                let h = r.f(16)? as u16 + 1;
                *item = (w, h);
            }
            s.resolutions = Some(res);
        }
        Ok(s)
    }

    fn write(&self, w: &mut BitWriter) -> Option<()> {
        w.f(6, u32::from(self.template_id_offset))?;
        w.f(5, u32::from(self.decode_targets) - 1)?;
        let tc = usize::from(self.templates);
        for t in 1..=tc {
            let idc = if t == tc {
                3
            } else if self.spatial[t] > self.spatial[t - 1] {
                2
            } else if self.temporal[t] > self.temporal[t - 1] {
                1
            } else {
                0
            };
            w.f(2, idc)?;
        }
        for t in 0..tc {
            for dt in 0..usize::from(self.decode_targets) {
                w.f(2, u32::from(self.dti[t][dt]))?;
            }
        }
        for t in 0..tc {
            for &d in &self.fdiffs[t][..usize::from(self.fdiff_count[t])] {
                w.f(1, 1)?;
                w.f(4, u32::from(d) - 1)?;
            }
            w.f(1, 0)?;
        }
        w.ns(u32::from(self.decode_targets) + 1, u32::from(self.chains))?;
        if self.chains > 0 {
            for dt in 0..usize::from(self.decode_targets) {
                w.ns(u32::from(self.chains), u32::from(self.protected_by[dt]))?;
            }
            for t in 0..tc {
                for c in 0..usize::from(self.chains) {
                    w.f(4, u32::from(self.chain_fdiff[t][c]))?;
                }
            }
        }
        match &self.resolutions {
            Some(res) => {
                w.f(1, 1)?;
                for &(wd, ht) in &res[..=usize::from(self.max_spatial())] {
                    w.f(16, u32::from(wd) - 1)?;
                    w.f(16, u32::from(ht) - 1)?;
                }
            }
            None => w.f(1, 0)?,
        }
        Some(())
    }
}

/// What one packet's descriptor says about its frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DdInfo {
    /// The packet starts a frame.
    pub start_of_frame: bool,
    /// The packet ends a frame.
    pub end_of_frame: bool,
    /// Frame number (16 bits, wraps).
    pub frame_number: u16,
    /// Spatial layer of the frame.
    pub spatial_id: u8,
    /// Temporal layer of the frame.
    pub temporal_id: u8,
    /// The descriptor carried a new structure: this frame is a keyframe.
    pub new_structure: bool,
    /// Active decode targets bitmask, if sent.
    pub active_decode_targets: Option<u32>,
}

/// Parses one dependency descriptor. A structure in it replaces `*structure`; otherwise the
/// stored one is used. On error `*structure` is unchanged.
pub fn parse(ext: &[u8], structure: &mut Option<DependencyStructure>) -> Result<DdInfo, DdError> {
    let mut r = BitReader { b: ext, pos: 0 };
    let start_of_frame = r.f(1)? == 1;
    let end_of_frame = r.f(1)? == 1;
    let template_id = r.f(6)? as u8;
    let frame_number = r.f(16)? as u16;
    let mut new = None;
    let mut active = None;
    let (mut custom_dtis, mut custom_fdiffs, mut custom_chains) = (false, false, false);
    if ext.len() > 3 {
        let present = r.f(1)? == 1;
        let active_present = r.f(1)? == 1;
        custom_dtis = r.f(1)? == 1;
        custom_fdiffs = r.f(1)? == 1;
        custom_chains = r.f(1)? == 1;
        if present {
            new = Some(DependencyStructure::read(&mut r)?);
        }
        let s = new
            .as_ref()
            .or(structure.as_ref())
            .ok_or(DdError::NoStructure)?;
        if active_present {
            active = Some(r.f(u32::from(s.decode_targets))?);
        } else if present {
            active = Some(((1u64 << s.decode_targets) - 1) as u32);
        }
    }
    let s = new
        .as_ref()
        .or(structure.as_ref())
        .ok_or(DdError::NoStructure)?;
    let idx = usize::from((template_id + 64 - s.template_id_offset) % 64);
    if idx >= usize::from(s.templates) {
        return Err(DdError::UnknownTemplate);
    }
    // Consume the frame-specific overrides so a truncated descriptor is caught.
    if custom_dtis {
        r.f(2 * u32::from(s.decode_targets))?;
    }
    if custom_fdiffs {
        loop {
            let size = r.f(2)?;
            if size == 0 {
                break;
            }
            r.f(4 * size)?;
        }
    }
    if custom_chains {
        for _ in 0..s.chains {
            r.f(8)?;
        }
    }
    let info = DdInfo {
        start_of_frame,
        end_of_frame,
        frame_number,
        spatial_id: s.spatial[idx],
        temporal_id: s.temporal[idx],
        new_structure: new.is_some(),
        active_decode_targets: active,
    };
    if let Some(n) = new {
        *structure = Some(n);
    }
    Ok(info)
}

/// Writes a descriptor into `out`: with `structure` attached (keyframes) or the 3 mandatory
/// bytes only. Returns its length, or `None` if `out` is too small or the template is unknown.
pub fn write(
    out: &mut [u8],
    start_of_frame: bool,
    end_of_frame: bool,
    template_index: u8,
    frame_number: u16,
    structure: &DependencyStructure,
    attach_structure: bool,
) -> Option<usize> {
    if template_index >= structure.templates {
        return None;
    }
    let mut w = BitWriter::new();
    w.f(1, u32::from(start_of_frame))?;
    w.f(1, u32::from(end_of_frame))?;
    w.f(
        6,
        u32::from((structure.template_id_offset + template_index) % 64),
    )?;
    w.f(16, u32::from(frame_number))?;
    if attach_structure {
        w.f(5, 0b10000)?;
        structure.write(&mut w)?;
    }
    let len = w.pos.div_ceil(8);
    out.get_mut(..len)?.copy_from_slice(&w.out[..len]);
    Some(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn l3t3_structure_round_trips_and_identifies_layers() {
        let res = [(320, 180), (640, 360), (1280, 720), (0, 0)];
        let s = DependencyStructure::simple(3, 3, Some(res));
        let mut buf = [0u8; 128];
        let n = write(&mut buf, true, false, 0, 1000, &s, true).unwrap();
        let mut stored = None;
        let info = parse(&buf[..n], &mut stored).unwrap();
        assert!(info.new_structure && info.start_of_frame && !info.end_of_frame);
        assert_eq!(
            (info.spatial_id, info.temporal_id, info.frame_number),
            (0, 0, 1000)
        );
        assert_eq!(info.active_decode_targets, Some(0x1ff));
        assert_eq!(stored.as_ref(), Some(&s));
        assert_eq!(
            stored.as_ref().unwrap().resolutions.unwrap()[2],
            (1280, 720)
        );
        // A later frame: mandatory fields only, template 7 = spatial 2, temporal 1.
        let n = write(&mut buf, false, true, 7, 1001, &s, false).unwrap();
        assert_eq!(n, 3);
        let info = parse(&buf[..n], &mut stored).unwrap();
        assert_eq!(
            (info.spatial_id, info.temporal_id, info.new_structure),
            (2, 1, false)
        );
    }

    #[test]
    fn errors_without_structure_or_on_truncation() {
        let s = DependencyStructure::simple(1, 3, None);
        let mut buf = [0u8; 64];
        let n = write(&mut buf, true, true, 1, 5, &s, false).unwrap();
        assert_eq!(parse(&buf[..n], &mut None), Err(DdError::NoStructure));
        let n = write(&mut buf, true, true, 0, 5, &s, true).unwrap();
        let mut stored = None;
        for cut in 4..n {
            assert!(parse(&buf[..cut], &mut stored).is_err(), "cut {cut}");
            assert!(stored.is_none(), "a failed parse stored a structure");
        }
        assert!(parse(&buf[..2], &mut stored).is_err());
        let n = write(&mut buf, true, true, 0, 5, &s, false).unwrap();
        let mut other = Some(DependencyStructure::simple(1, 1, None));
        assert!(parse(&buf[..n], &mut other).is_ok());
        let n = write(&mut buf, true, true, 2, 5, &s, false).unwrap();
        assert_eq!(parse(&buf[..n], &mut other), Err(DdError::UnknownTemplate));
    }
}
