//! `b64f32:` arrays: standard padded base64 of little-endian IEEE float32 values.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

pub const PREFIX: &str = "b64f32:";

pub fn encode(values: &[f32]) -> String {
    let mut bytes = Vec::with_capacity(values.len() * 4);
    for v in values {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    format!("{PREFIX}{}", STANDARD.encode(bytes))
}

pub fn encode_f64(values: &[f64]) -> String {
    encode(&values.iter().map(|v| *v as f32).collect::<Vec<_>>())
}

/// Decodes one array; `None` for a missing prefix, bad base64 or a length that
/// is not a whole number of floats.
pub fn decode(text: &str) -> Option<Vec<f32>> {
    let bytes = STANDARD.decode(text.strip_prefix(PREFIX)?).ok()?;
    if bytes.len() % 4 != 0 {
        return None;
    }
    Some(
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn matches_python() {
        // base64.b64encode(struct.pack('<3f', 1.5, -2.0, 1e-9))
        assert_eq!(encode(&[1.5, -2.0, 1e-9]), "b64f32:AADAPwAAAMBfcIkw");
        assert_eq!(decode("b64f32:AADAPwAAAMBfcIkw").unwrap(), vec![1.5, -2.0, 1e-9]);
        assert!(decode("AADAPw==").is_none());
        assert!(decode("b64f32:AADA").is_none());
    }

    proptest! {
        #[test]
        fn round_trip(values in proptest::collection::vec(any::<f32>().prop_filter("not NaN", |v| !v.is_nan()), 0..300)) {
            prop_assert_eq!(decode(&encode(&values)).unwrap(), values);
        }

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,100}") {
            let _ = decode(&text);
            let _ = decode(&format!("{PREFIX}{text}"));
        }
    }
}
