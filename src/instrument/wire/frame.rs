//! One line of `dualscope-wire/1`: `<seq> <body>*<crc>\n`, the CRC-32 (IEEE,
//! as zlib computes it) of `<seq> <body>` in 8 lower-case hex digits after the
//! last `*` of the line.

/// Longest line either side may send, newline included.
pub const MAX_LINE: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("line longer than 64 KiB")]
    TooLong,
    #[error("line holds bytes that are not printable ASCII")]
    NotPrintable,
    #[error("line has no `*<crc>` trailer")]
    NoCrc,
    /// The CRC does not match; `seq` is given when it could still be read.
    #[error("CRC mismatch")]
    BadCrc { seq: Option<u32> },
    #[error("line does not start with a sequence number and a space")]
    BadSeq,
}

pub fn crc(seq_and_body: &[u8]) -> u32 {
    crc32fast::hash(seq_and_body)
}

/// The whole line for `seq` and `body`, newline included.
pub fn encode(seq: u32, body: &str) -> String {
    let head = format!("{seq} {body}");
    format!("{head}*{:08x}\n", crc(head.as_bytes()))
}

fn leading_seq(text: &str) -> Option<u32> {
    let (seq, _) = text.split_once(' ')?;
    if seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    seq.parse().ok()
}

/// Splits a received line (with or without its `\n`, a `\r` before it is
/// tolerated) into sequence number and body, checking the CRC.
pub fn decode(line: &[u8]) -> Result<(u32, String), FrameError> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.len() >= MAX_LINE {
        return Err(FrameError::TooLong);
    }
    if !line.iter().all(|b| (0x20..0x7f).contains(b)) {
        return Err(FrameError::BadCrc {
            seq: std::str::from_utf8(line).ok().and_then(leading_seq),
        });
    }
    let text = std::str::from_utf8(line).map_err(|_| FrameError::NotPrintable)?;
    let star = text.rfind('*').ok_or(FrameError::NoCrc)?;
    let (head, tail) = (&text[..star], &text[star + 1..]);
    let seq = leading_seq(head);
    let sent = (tail.len() == 8)
        .then(|| u32::from_str_radix(tail, 16).ok())
        .flatten()
        .ok_or(FrameError::BadCrc { seq })?;
    if sent != crc(head.as_bytes()) {
        return Err(FrameError::BadCrc { seq });
    }
    let seq = seq.ok_or(FrameError::BadSeq)?;
    let body = head.split_once(' ').map(|(_, b)| b).unwrap_or("");
    Ok((seq, body.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_line() {
        // Python: '%08x' % zlib.crc32(b"1 *IDN?") == '56b63e16'
        assert_eq!(encode(1, "*IDN?"), "1 *IDN?*56b63e16\n");
        assert_eq!(decode(b"1 *IDN?*56b63e16\n").unwrap(), (1, "*IDN?".to_string()));
        // The CRC follows the *last* star: `*IDN?` itself holds one.
        assert_eq!(decode(b"1 *IDN?*56B63E16\r\n").unwrap().0, 1);
    }

    #[test]
    fn a_flipped_character_is_a_bad_crc_with_its_seq() {
        let mut line = encode(42, "MOVE 10 20").into_bytes();
        line[8] = b'7';
        assert_eq!(decode(&line), Err(FrameError::BadCrc { seq: Some(42) }));
        assert_eq!(decode(b"garbage"), Err(FrameError::NoCrc));
        assert_eq!(decode(b"x y*00000000"), Err(FrameError::BadCrc { seq: None }));
    }

    proptest! {
        #[test]
        fn encode_then_decode_is_the_identity(seq in any::<u32>(), body in "[ -~]{0,200}") {
            let line = encode(seq, &body);
            prop_assert_eq!(decode(line.as_bytes()), Ok((seq, body)));
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode(&bytes);
        }
    }
}
