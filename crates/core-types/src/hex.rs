//! Lower-case hexadecimal, the one text form of ids and hashes in every format and in JSON.

use crate::error::ModelError;

/// Lower-case hexadecimal of `bytes`.
#[must_use]
pub fn encode(bytes: &[u8]) -> String {
    base16ct::lower::encode_string(bytes)
}

/// Exactly `N` bytes from `2 * N` lower-case hexadecimal digits (the only form
/// captoken writes, so one value has one text form).
///
/// # Errors
/// [`ModelError::InvalidHex`] for another length, an upper-case or non-hex digit.
pub fn decode<const N: usize>(text: &str) -> Result<[u8; N], ModelError> {
    let mut out = [0u8; N];
    if text.len() != 2 * N {
        return Err(ModelError::InvalidHex);
    }
    base16ct::lower::decode(text, &mut out).map_err(|_| ModelError::InvalidHex)?;
    Ok(out)
}

/// Serde for a newtype over `[u8; N]`: lower-case hex in human-readable formats
/// (JSON, TOML), the bytes themselves in binary ones (postcard).
macro_rules! serde_bytes_as_hex {
    ($ty:ident, $n:literal) => {
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                if s.is_human_readable() {
                    s.serialize_str(&$crate::hex::encode(&self.0))
                } else {
                    s.serialize_newtype_struct(stringify!($ty), &self.0)
                }
            }
        }

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                #[derive(serde::Deserialize)]
                struct Repr([u8; $n]);
                if d.is_human_readable() {
                    let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                    $crate::hex::decode::<$n>(&text)
                        .map(Self)
                        .map_err(serde::de::Error::custom)
                } else {
                    Repr::deserialize(d).map(|r| Self(r.0))
                }
            }
        }
    };
}
pub(crate) use serde_bytes_as_hex;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_canonical_only() {
        assert_eq!(encode(&[0x00, 0xab, 0xff]), "00abff");
        assert_eq!(decode::<3>("00abff"), Ok([0x00, 0xab, 0xff]));
        for bad in ["00ABff", "00abf", "00abfff", "00abfg", "", " 0abff"] {
            assert_eq!(decode::<3>(bad), Err(ModelError::InvalidHex), "{bad:?}");
        }
    }
}
