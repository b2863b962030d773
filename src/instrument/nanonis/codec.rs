//! The Nanonis TCP message format ("TCP Programming Interface", SPECS), as
//! the protocol document states it:
//!
//! - request header, 40 bytes: command name NUL-padded to 32 bytes, body size
//!   (int32), send-response-back (uint16, always 1 here), 2 zero bytes;
//! - reply header, 40 bytes: the command name again, body size (int32), 4
//!   unused bytes;
//! - bodies big-endian: numbers as they are, a string as an int32 length and
//!   its bytes, a 1-D array after its count (an argument of its own), a string
//!   array after its size in bytes and its count, a 2-D float32 array after
//!   its rows and columns, row-major;
//! - every reply body ends in the error section: status (uint32), description
//!   size (int32), description. The section must end exactly at the body's end.
//!
//! The vendor's Python client (`nanonis-spm`) is the judge: the emulator's
//! replies must decode there, and the host's requests are byte-for-byte what
//! that client sends.

/// Header length of requests and replies.
pub const HEADER: usize = 40;
/// Longest command name.
pub const NAME: usize = 32;
/// Largest reply body believed (a 2048² float32 frame is 16 MiB).
pub const MAX_BODY: usize = 64 << 20;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CodecError {
    #[error("`{0}` is not a Nanonis command name (printable ASCII, at most 32 bytes)")]
    BadName(String),
    #[error("reply to `{asked}` names `{got}`")]
    WrongCommand { asked: String, got: String },
    #[error("reply body of {0} bytes is not a Nanonis body")]
    BadSize(i64),
    #[error("reply ends early: {0}")]
    Short(String),
    #[error("reply body has {0} bytes after its error section")]
    Trailing(usize),
}

/// A request body, written big-endian field by field.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Body(pub Vec<u8>);

impl Body {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn u16(mut self, v: u16) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn u32(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn i32(mut self, v: i32) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn f32(mut self, v: f32) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn f64(mut self, v: f64) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    /// A string with its int32 length prepended.
    pub fn str(self, s: &str) -> Self {
        let mut b = self.i32(s.len() as i32);
        b.0.extend_from_slice(s.as_bytes());
        b
    }
    /// A string array: its size in bytes (Σ 4 + len, as the document means it),
    /// its count, then each string with its length.
    pub fn strs(self, items: &[&str]) -> Self {
        let bytes: usize = items.iter().map(|s| 4 + s.len()).sum();
        let mut b = self.i32(bytes as i32).i32(items.len() as i32);
        for s in items {
            b = b.str(s);
        }
        b
    }
    /// A 1-D int32 array after its count.
    pub fn i32s(self, items: &[i32]) -> Self {
        let mut b = self.i32(items.len() as i32);
        for v in items {
            b = b.i32(*v);
        }
        b
    }
    /// A 1-D float32 array after its count.
    pub fn f32s(self, items: &[f32]) -> Self {
        let mut b = self.i32(items.len() as i32);
        for v in items {
            b = b.f32(*v);
        }
        b
    }
    /// A 2-D float32 array, `rows` × `cols`, row-major, after its shape.
    pub fn f32_2d(self, rows: usize, cols: usize, values: &[f32]) -> Self {
        debug_assert_eq!(values.len(), rows * cols);
        let mut b = self.i32(rows as i32).i32(cols as i32);
        for v in values {
            b = b.f32(*v);
        }
        b
    }
    /// The error section every reply ends in.
    pub fn error_section(self, error: Option<&str>) -> Self {
        match error {
            None => self.u32(0).i32(0),
            Some(text) => {
                let mut b = self.u32(1).i32(text.len() as i32);
                b.0.extend_from_slice(text.as_bytes());
                b
            }
        }
    }
}

fn check_name(name: &str) -> Result<(), CodecError> {
    if name.is_empty() || name.len() > NAME || !name.bytes().all(|b| (0x21..0x7f).contains(&b)) {
        return Err(CodecError::BadName(name.to_string()));
    }
    Ok(())
}

fn header(name: &str, body_len: usize, tail: [u8; 4]) -> Result<Vec<u8>, CodecError> {
    check_name(name)?;
    let mut out = Vec::with_capacity(HEADER + body_len);
    out.extend_from_slice(name.as_bytes());
    out.resize(NAME, 0);
    out.extend_from_slice(&(body_len as i32).to_be_bytes());
    out.extend_from_slice(&tail);
    Ok(out)
}

/// A whole request: header (send-response-back = 1) and body.
pub fn request(name: &str, body: &Body) -> Result<Vec<u8>, CodecError> {
    let mut out = header(name, body.0.len(), [0, 1, 0, 0])?;
    out.extend_from_slice(&body.0);
    Ok(out)
}

/// A whole reply: header and body (which must end in its error section).
pub fn reply(name: &str, body: &Body) -> Result<Vec<u8>, CodecError> {
    let mut out = header(name, body.0.len(), [0; 4])?;
    out.extend_from_slice(&body.0);
    Ok(out)
}

/// A header as received: the command it names and its body size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub body_len: usize,
    /// Only in requests: whether the sender wants a reply.
    pub send_response: bool,
}

/// Reads a 40-byte header.
pub fn parse_header(bytes: &[u8; HEADER]) -> Result<Header, CodecError> {
    let end = bytes[..NAME].iter().position(|&b| b == 0).unwrap_or(NAME);
    let name = String::from_utf8_lossy(&bytes[..end]).into_owned();
    let len = i32::from_be_bytes(bytes[32..36].try_into().expect("4 bytes")) as i64;
    if len < 0 || len as usize > MAX_BODY {
        return Err(CodecError::BadSize(len));
    }
    Ok(Header {
        name,
        body_len: len as usize,
        send_response: u16::from_be_bytes([bytes[36], bytes[37]]) == 1,
    })
}

/// Reads a body field by field; every read is bounds-checked.
pub struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, at: 0 }
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], CodecError> {
        if self.bytes.len() - self.at < n {
            return Err(CodecError::Short(format!(
                "{what} needs {n} bytes at {}, the body has {}",
                self.at,
                self.bytes.len()
            )));
        }
        let out = &self.bytes[self.at..self.at + n];
        self.at += n;
        Ok(out)
    }

    pub fn left(&self) -> usize {
        self.bytes.len() - self.at
    }

    pub fn u16(&mut self) -> Result<u16, CodecError> {
        Ok(u16::from_be_bytes(self.take(2, "a uint16")?.try_into().expect("2")))
    }
    pub fn u32(&mut self) -> Result<u32, CodecError> {
        Ok(u32::from_be_bytes(self.take(4, "a uint32")?.try_into().expect("4")))
    }
    pub fn i32(&mut self) -> Result<i32, CodecError> {
        Ok(i32::from_be_bytes(self.take(4, "an int32")?.try_into().expect("4")))
    }
    pub fn f32(&mut self) -> Result<f32, CodecError> {
        Ok(f32::from_be_bytes(self.take(4, "a float32")?.try_into().expect("4")))
    }
    pub fn f64(&mut self) -> Result<f64, CodecError> {
        Ok(f64::from_be_bytes(self.take(8, "a float64")?.try_into().expect("8")))
    }

    /// A count or size field: non-negative and no larger than what is left.
    fn count(&mut self, what: &str, unit: usize) -> Result<usize, CodecError> {
        let n = self.i32()?;
        if n < 0 || (n as usize).saturating_mul(unit) > self.left() {
            return Err(CodecError::Short(format!(
                "{what} of {n} with {} bytes left",
                self.left()
            )));
        }
        Ok(n as usize)
    }

    /// A string after its int32 length; text from a Windows controller may
    /// not be UTF-8, so it is read leniently.
    pub fn str(&mut self) -> Result<String, CodecError> {
        let n = self.count("a string", 1)?;
        Ok(String::from_utf8_lossy(self.take(n, "a string")?).into_owned())
    }

    /// A string array after its size in bytes and its count. The size is
    /// checked loosely (clients disagree on it); the count decides.
    pub fn strs(&mut self) -> Result<Vec<String>, CodecError> {
        let _bytes = self.count("a string array's size", 1)?;
        let n = self.count("a string array", 4)?;
        (0..n).map(|_| self.str()).collect()
    }

    pub fn i32s(&mut self) -> Result<Vec<i32>, CodecError> {
        let n = self.count("an int32 array", 4)?;
        (0..n).map(|_| self.i32()).collect()
    }

    pub fn f32s(&mut self) -> Result<Vec<f32>, CodecError> {
        let n = self.count("a float32 array", 4)?;
        (0..n).map(|_| self.f32()).collect()
    }

    /// A 2-D float32 array: (rows, cols, row-major values).
    pub fn f32_2d(&mut self) -> Result<(usize, usize, Vec<f32>), CodecError> {
        let rows = self.count("a 2-D array's rows", 0)?;
        let cols = self.count("a 2-D array's columns", 0)?;
        let n = rows
            .checked_mul(cols)
            .ok_or_else(|| CodecError::Short("a 2-D array too large".into()))?;
        if n.saturating_mul(4) > self.left() {
            return Err(CodecError::Short(format!(
                "a {rows}×{cols} array with {} bytes left",
                self.left()
            )));
        }
        let values = (0..n).map(|_| self.f32()).collect::<Result<_, _>>()?;
        Ok((rows, cols, values))
    }

    /// The error section, which must end the body exactly: `Ok(None)` for
    /// no error, `Ok(Some(text))` for the controller's error.
    pub fn error_section(mut self) -> Result<Option<String>, CodecError> {
        let status = self.u32()?;
        let n = self.count("an error description", 1)?;
        let text = String::from_utf8_lossy(self.take(n, "an error description")?).into_owned();
        if self.left() != 0 {
            return Err(CodecError::Trailing(self.left()));
        }
        Ok((status != 0 || !text.is_empty()).then(|| {
            if text.is_empty() {
                "the controller reports an error and gives no description".to_string()
            } else {
                text
            }
        }))
    }
}

/// The error section of a body found from its end, whatever came before it
/// (a layout this version does not parse): the last offset `p` where a status
/// of 0 or 1 is followed by a description size that ends the body.
pub fn error_from_end(body: &[u8]) -> Option<Option<String>> {
    let n = body.len();
    if n < 8 {
        return None;
    }
    for p in (0..=n - 8).rev() {
        let status = u32::from_be_bytes(body[p..p + 4].try_into().ok()?);
        let len = i32::from_be_bytes(body[p + 4..p + 8].try_into().ok()?);
        if status <= 1 && len >= 0 && p + 8 + len as usize == n {
            return Cursor::new(&body[p..]).error_section().ok();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bias_set_is_the_documents_bytes() {
        // TCPProtocol_SPM.pdf's layout; the vendor client sends the same.
        let r = request("Bias.Set", &Body::new().f32(1.5)).unwrap();
        assert_eq!(r.len(), 44);
        assert_eq!(&r[..8], b"Bias.Set");
        assert!(r[8..32].iter().all(|&b| b == 0));
        assert_eq!(&r[32..], &[0, 0, 0, 4, 0, 1, 0, 0, 0x3f, 0xc0, 0, 0]);
        let ok = reply("Bias.Set", &Body::new().error_section(None)).unwrap();
        assert_eq!(&ok[32..], &[0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn folme_example_of_the_document() {
        // x = 10 nm, y = 15 nm, wait = 1 (TCPProtocol_SPM.pdf, worked example).
        let b = Body::new().f64(10e-9).f64(15e-9).u32(1);
        assert_eq!(
            b.0,
            [
                0x3e, 0x45, 0x79, 0x8e, 0xe2, 0x30, 0x8c, 0x3a, 0x3e, 0x50, 0x1b, 0x2b, 0x29, 0xa4, 0x69, 0x2b, 0, 0,
                0, 1
            ]
        );
    }

    #[test]
    fn a_reply_reads_back_and_its_error_section_must_end_it() {
        let body = Body::new()
            .strs(&["Bias calc (V)", "Current (A)"])
            .f32_2d(2, 3, &[0.0, 0.5, 1.0, 1e-12, 2e-12, 3e-12])
            .f32s(&[1.0])
            .error_section(None);
        let mut c = Cursor::new(&body.0);
        assert_eq!(c.strs().unwrap(), ["Bias calc (V)", "Current (A)"]);
        let (r, k, v) = c.f32_2d().unwrap();
        assert_eq!((r, k, v[2]), (2, 3, 1.0));
        assert_eq!(c.f32s().unwrap(), [1.0]);
        assert_eq!(c.error_section().unwrap(), None);
        let err = Body::new().u32(7).error_section(Some("Bias out of range"));
        let mut c = Cursor::new(&err.0);
        let _ = c.u32().unwrap();
        assert_eq!(c.error_section().unwrap().as_deref(), Some("Bias out of range"));
        // Bytes after the error section: a layout mismatch, never ignored.
        let mut extra = Body::new().error_section(None).0;
        extra.push(0);
        assert_eq!(Cursor::new(&extra).error_section(), Err(CodecError::Trailing(1)));
        assert_eq!(error_from_end(&err.0), Some(Some("Bias out of range".into())));
    }

    #[test]
    fn a_status_without_text_is_still_an_error() {
        let b = Body::new().u32(1).i32(0);
        assert!(Cursor::new(&b.0).error_section().unwrap().is_some());
    }

    proptest! {
        #[test]
        fn arbitrary_bodies_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut c = Cursor::new(&bytes);
            let _ = c.strs();
            let _ = c.f32_2d();
            let _ = c.f32s();
            let _ = Cursor::new(&bytes).error_section();
            let _ = error_from_end(&bytes);
        }

        #[test]
        fn names_and_bodies_round_trip(name in "[A-Za-z.]{1,32}", values in proptest::collection::vec(-1e3f32..1e3, 0..50)) {
            let body = Body::new().f32s(&values).error_section(None);
            let bytes = reply(&name, &body).unwrap();
            let h = parse_header(bytes[..HEADER].try_into().unwrap()).unwrap();
            prop_assert_eq!(&h.name, &name);
            prop_assert_eq!(h.body_len, body.0.len());
            let mut c = Cursor::new(&bytes[HEADER..]);
            prop_assert_eq!(c.f32s().unwrap(), values);
            prop_assert_eq!(c.error_section().unwrap(), None);
        }
    }
}
