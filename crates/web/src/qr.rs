//! QR codes drawn here, as inline SVG: no image service sees the address,
//! and the page needs no script to show one.

use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

/// Text too long for a QR code.
#[derive(Debug, thiserror::Error)]
#[error("cannot encode {0} bytes as a QR code")]
pub struct TooLong(pub usize);

/// `content` as an SVG element, scaled by its container (`width="100%"`),
/// at error-correction level M (readable with 15% of it damaged or glared).
pub fn svg(content: &str, label: &str) -> Result<String, TooLong> {
    let code =
        QrCode::with_error_correction_level(content.as_bytes(), EcLevel::M).map_err(|_| TooLong(content.len()))?;
    let image = code
        .render::<svg::Color<'_>>()
        .min_dimensions(240, 240)
        .quiet_zone(true)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .build();
    // Inline: drop the XML declaration, and name the picture for screen readers.
    let start = image.find("<svg").unwrap_or(0);
    let label = label.replace('&', "&amp;").replace('<', "&lt;").replace('"', "&quot;");
    Ok(image[start..].replacen("<svg", &format!("<svg role=\"img\" aria-label=\"{label}\" class=\"qr-code\""), 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_an_inline_svg_with_no_script_or_external_reference() {
        let picture = svg("ethereum:0x9858EfFD232B4033E47d90003D41EC34EcaEda94@1?value=1", "QR \"code\" <x>").unwrap();
        assert!(picture.starts_with("<svg role=\"img\" aria-label=\"QR &quot;code&quot; &lt;x>\""), "{picture}");
        assert!(!picture.contains("<?xml") && !picture.contains("<script") && !picture.contains("href"));
        assert!(svg(&"x".repeat(10_000), "").is_err());
    }
}
