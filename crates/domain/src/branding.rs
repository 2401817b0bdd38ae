//! A merchant's look on its checkout page: an accent colour and a logo.
//!
//! Both reach a customer's browser from the gateway's own origin, so both
//! are checked here: the colour is exactly `#rrggbb` (it goes into a
//! stylesheet, where anything else could add rules), and the logo is a PNG
//! or JPEG by its own bytes, never SVG (an SVG opened on its own runs
//! script in the gateway's origin), of at most [`MAX_LOGO_BYTES`].

use std::fmt;
use std::str::FromStr;

/// Largest logo accepted: a header image, not a photograph.
pub const MAX_LOGO_BYTES: usize = 128 * 1024;

/// An accent colour, `#rrggbb` (stored and shown lower-case).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BrandColor([u8; 3]);

/// Why a colour was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a colour is #rrggbb (six hex digits), not {0:?}")]
pub struct BadColor(pub String);

impl BrandColor {
    /// Its red, green and blue.
    pub fn rgb(self) -> [u8; 3] {
        self.0
    }
}

impl FromStr for BrandColor {
    type Err = BadColor;

    fn from_str(text: &str) -> Result<Self, BadColor> {
        let bad = || BadColor(text.chars().take(20).collect());
        let hex = text.strip_prefix('#').filter(|h| h.len() == 6).ok_or_else(bad)?;
        let mut rgb = [0u8; 3];
        hex::decode_to_slice(hex, &mut rgb).map_err(|_| bad())?;
        Ok(Self(rgb))
    }
}

impl fmt::Display for BrandColor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", hex::encode(self.0))
    }
}

/// A logo's image type, known by its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogoType {
    /// `image/png`
    Png,
    /// `image/jpeg`
    Jpeg,
}

impl LogoType {
    /// The `Content-Type` it is served with.
    pub fn mime(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
        }
    }

    /// The type a stored `mime` names.
    pub fn from_mime(mime: &str) -> Option<Self> {
        [Self::Png, Self::Jpeg].into_iter().find(|t| t.mime() == mime)
    }
}

/// A logo: its bytes and their type, checked.
#[derive(Clone, PartialEq, Eq)]
pub struct Logo {
    kind: LogoType,
    bytes: Vec<u8>,
}

/// Why a logo was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadLogo {
    /// Too large.
    #[error("a logo is at most {MAX_LOGO_BYTES} bytes; this one has {0}")]
    TooLarge(usize),
    /// Neither PNG nor JPEG by its bytes.
    #[error("a logo must be a PNG or JPEG image (SVG is refused: it can carry script)")]
    NotAnImage,
}

impl Logo {
    /// Checks `bytes` and learns their type from them (never from a name).
    pub fn new(bytes: Vec<u8>) -> Result<Self, BadLogo> {
        if bytes.len() > MAX_LOGO_BYTES {
            return Err(BadLogo::TooLarge(bytes.len()));
        }
        let kind = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            LogoType::Png
        } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
            LogoType::Jpeg
        } else {
            return Err(BadLogo::NotAnImage);
        };
        Ok(Self { kind, bytes })
    }

    /// As stored: checked again, so a row edited in the database is refused too.
    pub fn stored(mime: &str, bytes: Vec<u8>) -> Result<Self, BadLogo> {
        let logo = Self::new(bytes)?;
        if LogoType::from_mime(mime) != Some(logo.kind) {
            return Err(BadLogo::NotAnImage);
        }
        Ok(logo)
    }

    /// Its type.
    pub fn kind(&self) -> LogoType {
        self.kind
    }

    /// Its bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl fmt::Debug for Logo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Logo({}, {} bytes)", self.kind.mime(), self.bytes.len())
    }
}

/// A merchant's branding; either part may be absent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Branding {
    /// The accent colour.
    pub color: Option<BrandColor>,
    /// The logo.
    pub logo: Option<Logo>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_six_hex_digits_make_a_colour() {
        assert_eq!("#0B6E4F".parse::<BrandColor>().unwrap().to_string(), "#0b6e4f");
        for bad in ["0b6e4f", "#0b6e4", "#0b6e4f0", "#0b6e4g", "#fff", "red", "#0b6e4f;}", "#0b6e4f}body{x:y"] {
            assert!(bad.parse::<BrandColor>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_logo_is_known_by_its_bytes_and_svg_is_refused() {
        let png = b"\x89PNG\r\n\x1a\n rest".to_vec();
        assert_eq!(Logo::new(png.clone()).unwrap().kind(), LogoType::Png);
        assert_eq!(Logo::new(vec![0xff, 0xd8, 0xff, 0xe0]).unwrap().kind(), LogoType::Jpeg);
        let svg = b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>".to_vec();
        assert_eq!(Logo::new(svg), Err(BadLogo::NotAnImage));
        assert_eq!(Logo::new(vec![0x89; MAX_LOGO_BYTES + 1]), Err(BadLogo::TooLarge(MAX_LOGO_BYTES + 1)));
        assert!(Logo::stored("image/jpeg", png.clone()).is_err(), "a stored type must match the bytes");
        assert!(Logo::stored("image/png", png).is_ok());
    }
}
