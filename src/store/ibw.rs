//! Igor binary waves, version 5 (`.ibw`), written from WaveMetrics' Technical
//! Note PTN003 and checked against the reference reader (`igor2`): the format
//! the paper's notebooks and pycroscopy's readers open, as Asylum's
//! instruments write it. Written by hand because no Rust crate writes it.
//!
//! A file is a 64-byte BinHeader5, a 320-byte WaveHeader5, the data
//! (column-major: the first dimension varies fastest), then the optional
//! sections that are used here: the wave note and the dimension labels (one
//! 32-byte field for the dimension itself and one per item). The 192 int16
//! words of the two headers sum to 0 (the checksum). Little-endian.

/// Seconds from Igor's epoch (1904-01-01) to Unix's.
const MAC_EPOCH_S: i64 = 2_082_844_800;
const NT_FP32: i16 = 2;
const LABEL: usize = 32;

/// One wave: up to 4 dimensions, float32 values column-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Wave {
    /// At most 31 bytes: a letter, then letters, digits and `_`.
    pub name: String,
    /// Items per dimension (0 for unused ones).
    pub dims: [usize; 4],
    /// Column-major values, `dims` multiplied.
    pub data: Vec<f32>,
    /// Per dimension: value of index e is `delta·e + offset`.
    pub delta: [f64; 4],
    pub offset: [f64; 4],
    /// At most 3 bytes each (base SI: `m`, `V`, `A`, `s`).
    pub data_units: String,
    pub dim_units: [String; 4],
    /// Asylum's `Key:Value` lines, CR-separated.
    pub note: String,
    /// Per dimension: labels of its items (empty: none written).
    pub labels: [Vec<String>; 4],
    /// Unix seconds of creation.
    pub created_s: i64,
}

impl Wave {
    /// An empty wave of `dims` for the caller to fill.
    pub fn new(name: &str, dims: [usize; 4]) -> Self {
        Self {
            name: name.to_string(),
            dims,
            data: Vec::new(),
            delta: [1.0; 4],
            offset: [0.0; 4],
            data_units: String::new(),
            dim_units: Default::default(),
            note: String::new(),
            labels: Default::default(),
            created_s: 0,
        }
    }

    fn points(&self) -> usize {
        self.dims.iter().take_while(|&&n| n > 0).product::<usize>()
    }
}

/// A fixed-size NUL-padded field, the text cut to fit with its NUL.
fn fixed(text: &str, n: usize) -> Vec<u8> {
    let mut b: Vec<u8> = text.bytes().filter(|&c| c != 0).take(n - 1).collect();
    b.resize(n, 0);
    b
}

/// A wave name Igor accepts: a letter first, then `[A-Za-z0-9_]`, ≤ 31 bytes.
pub fn wave_name(text: &str) -> String {
    let mut s: String = text
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .take(31)
        .collect();
    if !s.starts_with(|c: char| c.is_ascii_alphabetic()) {
        s.insert(0, 'w');
        s.truncate(31);
    }
    s
}

/// The whole file of one wave.
pub fn file(w: &Wave) -> Vec<u8> {
    let npnts = w.points();
    assert_eq!(w.data.len(), npnts, "a wave's data fills its dimensions");
    let note = w.note.as_bytes();
    let labels: Vec<Vec<u8>> = (0..4)
        .map(|d| {
            if w.labels[d].is_empty() {
                return Vec::new();
            }
            // Field 0 labels the dimension as a whole; then one per item.
            let mut b = fixed("", LABEL);
            for k in 0..w.dims[d] {
                b.extend(fixed(w.labels[d].get(k).map(String::as_str).unwrap_or(""), LABEL));
            }
            b
        })
        .collect();
    let mut bin = Vec::with_capacity(64);
    bin.extend_from_slice(&5i16.to_le_bytes());
    bin.extend_from_slice(&0i16.to_le_bytes()); // checksum, filled in below
    bin.extend_from_slice(&((320 + npnts * 4) as i32).to_le_bytes());
    bin.extend_from_slice(&0i32.to_le_bytes()); // formula
    bin.extend_from_slice(&(note.len() as i32).to_le_bytes());
    bin.extend_from_slice(&0i32.to_le_bytes()); // extended data units
    for _ in 0..4 {
        bin.extend_from_slice(&0i32.to_le_bytes()); // extended dimension units
    }
    for l in &labels {
        bin.extend_from_slice(&(l.len() as i32).to_le_bytes());
    }
    for _ in 0..3 {
        bin.extend_from_slice(&0i32.to_le_bytes()); // string indices, options
    }
    debug_assert_eq!(bin.len(), 64);
    let date = (w.created_s + MAC_EPOCH_S).clamp(0, u32::MAX as i64) as u32;
    let mut wh = Vec::with_capacity(320);
    wh.extend_from_slice(&0u32.to_le_bytes()); // next
    wh.extend_from_slice(&date.to_le_bytes());
    wh.extend_from_slice(&date.to_le_bytes());
    wh.extend_from_slice(&(npnts as i32).to_le_bytes());
    wh.extend_from_slice(&NT_FP32.to_le_bytes());
    wh.extend_from_slice(&0i16.to_le_bytes()); // dLock
    wh.extend_from_slice(&[0u8; 6]);
    wh.extend_from_slice(&1i16.to_le_bytes()); // whVersion
    wh.extend(fixed(&wave_name(&w.name), 32));
    wh.extend_from_slice(&0i32.to_le_bytes()); // whpad2
    wh.extend_from_slice(&0u32.to_le_bytes()); // dFolder
    for n in w.dims {
        wh.extend_from_slice(&(n as i32).to_le_bytes());
    }
    for v in w.delta {
        wh.extend_from_slice(&v.to_le_bytes());
    }
    for v in w.offset {
        wh.extend_from_slice(&v.to_le_bytes());
    }
    wh.extend(fixed(&w.data_units, 4));
    for u in &w.dim_units {
        wh.extend(fixed(u, 4));
    }
    // fsValid, whpad3, top and bottom full scale, then the handles (data
    // units, dimension units and labels, note), unused, modified flags,
    // formula, depID, pads, file name, string indices: all 0.
    wh.resize(320, 0);
    let mut head = bin;
    head.extend_from_slice(&wh);
    let sum = head
        .chunks_exact(2)
        .fold(0u16, |s, c| s.wrapping_add(u16::from_le_bytes([c[0], c[1]])));
    head[2..4].copy_from_slice(&(sum.wrapping_neg()).to_le_bytes());
    let mut out = head;
    for v in &w.data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(note);
    for l in labels {
        out.extend_from_slice(&l);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_headers_sum_to_zero_and_the_data_starts_at_384() {
        let mut w = Wave::new("iv0001", [5, 2, 0, 0]);
        w.data = (0..10).map(|k| k as f32).collect();
        w.labels[1] = vec!["Bias".into(), "Current".into()];
        w.note = "BiasUnit:V\rCurrentUnit:A\r".into();
        let b = file(&w);
        let sum = b[..384]
            .chunks_exact(2)
            .fold(0u16, |s, c| s.wrapping_add(u16::from_le_bytes([c[0], c[1]])));
        assert_eq!(sum, 0);
        assert_eq!(&b[0..2], &[5, 0]);
        assert_eq!(i32::from_le_bytes(b[4..8].try_into().unwrap()), 320 + 40);
        assert_eq!(f32::from_le_bytes(b[384 + 4..388 + 4].try_into().unwrap()), 1.0);
        assert_eq!(b.len(), 384 + 40 + w.note.len() + 3 * 32);
        assert_eq!(&b[64 + 28..64 + 34], b"iv0001");
    }

    #[test]
    fn wave_names_follow_igors_rules() {
        assert_eq!(wave_name("iv0007"), "iv0007");
        assert_eq!(wave_name("7 curves"), "w7_curves");
        assert_eq!(wave_name(&"x".repeat(40)).len(), 31);
    }
}
