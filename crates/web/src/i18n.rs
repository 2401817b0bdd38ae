//! The checkout page's words, in English, German and Spanish.
//!
//! Each language is one `const` [`Text`]: a message missing in any language
//! is a missing struct field, so the build fails. Placeholders (`{amount}`)
//! are checked by a test to be the same in every language.

/// A language the page speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    /// English (the default).
    En,
    /// German.
    De,
    /// Spanish.
    Es,
}

impl Lang {
    /// Every language, the default first.
    pub const ALL: [Lang; 3] = [Lang::En, Lang::De, Lang::Es];

    /// The BCP 47 tag, for `<html lang>` and `?lang=`.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::De => "de",
            Lang::Es => "es",
        }
    }

    /// The messages in this language.
    pub fn text(self) -> &'static Text {
        match self {
            Lang::En => &EN,
            Lang::De => &DE,
            Lang::Es => &ES,
        }
    }

    fn from_tag(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        Self::ALL.into_iter().find(|l| l.tag() == primary)
    }

    /// `?lang=` if it names a language, else the best of `Accept-Language`
    /// by its q-values, else English.
    pub fn negotiate(query: Option<&str>, accept_language: Option<&str>) -> Lang {
        if let Some(lang) = query.and_then(Self::from_tag) {
            return lang;
        }
        let mut best: Option<(u16, Lang)> = None;
        for range in accept_language.unwrap_or_default().split(',').take(20) {
            let mut parts = range.split(';');
            let Some(lang) = parts.next().and_then(Self::from_tag) else { continue };
            let q = parts.filter_map(|p| p.trim().strip_prefix("q=")).map(quality).next().unwrap_or(1000);
            if q > 0 && best.is_none_or(|(b, _)| q > b) {
                best = Some((q, lang));
            }
        }
        best.map_or(Lang::En, |(_, lang)| lang)
    }
}

/// An HTTP q-value in thousandths (`0.8` is 800); unparsable is 0.
fn quality(text: &str) -> u16 {
    let (whole, frac) = text.trim().split_once('.').unwrap_or((text.trim(), ""));
    let digits: String = frac.chars().take(3).collect();
    let frac: u16 = format!("{digits:0<3}").parse().unwrap_or(0);
    match whole {
        "1" => 1000,
        "0" => frac,
        _ => 0,
    }
}

/// Every message of the page.
#[derive(Debug)]
pub struct Text {
    /// `<title>`: `{merchant}`.
    pub page_title: &'static str,
    /// "Order".
    pub order: &'static str,
    /// "Amount".
    pub amount: &'static str,
    /// "Network".
    pub network: &'static str,
    /// "To this address".
    pub address: &'static str,
    /// A copy button.
    pub copy: &'static str,
    /// What a copy button says once pressed.
    pub copied: &'static str,
    /// The EIP-681 link.
    pub open_in_wallet: &'static str,
    /// The EIP-1193 button.
    pub pay_with_browser_wallet: &'static str,
    /// Under a token's QR code, which holds the address alone.
    pub token_qr_note: &'static str,
    /// Waiting: title.
    pub waiting_title: &'static str,
    /// Waiting: `{amount}`, `{asset}`, `{chain}`.
    pub waiting_body: &'static str,
    /// Paid in part: title.
    pub partial_title: &'static str,
    /// Paid in part: `{paid}`, `{due}`, `{asset}`.
    pub partial_body: &'static str,
    /// Confirming: title.
    pub confirming_title: &'static str,
    /// Confirming: `{n}`, `{m}`, `{time}`.
    pub confirming_body: &'static str,
    /// Settled: title.
    pub settled_title: &'static str,
    /// Settled: `{paid}`, `{asset}`.
    pub settled_body: &'static str,
    /// The receipt's heading.
    pub receipt: &'static str,
    /// A receipt line's label: the transaction.
    pub transaction: &'static str,
    /// A receipt line's label: when it was paid.
    pub paid_at: &'static str,
    /// A link that opens no invoice: title.
    pub not_found_title: &'static str,
    /// A link that opens no invoice: body.
    pub not_found_body: &'static str,
    /// Expired: title.
    pub expired_title: &'static str,
    /// Expired: body.
    pub expired_body: &'static str,
    /// Expired after a part was paid: `{paid}`, `{asset}`.
    pub expired_partial_note: &'static str,
    /// Invalid: title.
    pub invalid_title: &'static str,
    /// Invalid: body.
    pub invalid_body: &'static str,
    /// Overpaid: `{extra}`, `{asset}`.
    pub overpaid_note: &'static str,
    /// Paid late.
    pub late_note: &'static str,
    /// Held for review: title.
    pub held_title: &'static str,
    /// Held for review: body (never why).
    pub held_body: &'static str,
    /// The countdown: `{time}`.
    pub expires_in: &'static str,
    /// Before paying, back to the shop.
    pub back_to_shop: &'static str,
    /// After paying, back to the shop.
    pub return_to_shop: &'static str,
    /// Before the automatic redirect.
    pub redirecting: &'static str,
    /// Without JavaScript.
    pub refreshes_itself: &'static str,
    /// `{n}` seconds.
    pub seconds: &'static str,
    /// `{n}` minutes.
    pub minutes: &'static str,
    /// The language switcher's label.
    pub language: &'static str,
}

/// English.
pub const EN: Text = Text {
    page_title: "Pay {merchant}",
    order: "Order",
    amount: "Amount",
    network: "Network",
    address: "To this address",
    copy: "Copy",
    copied: "Copied",
    open_in_wallet: "Open in wallet",
    pay_with_browser_wallet: "Pay with browser wallet",
    token_qr_note: "The QR code holds the address only: enter the amount in your wallet.",
    waiting_title: "Waiting for your payment",
    waiting_body: "Send exactly {amount} {asset} on {chain} to the address below. This page updates by itself.",
    partial_title: "Paid in part",
    partial_body: "We received {paid} {asset}. Still due: {due} {asset}.",
    confirming_title: "Payment seen, confirming",
    confirming_body: "{n} of {m} confirmations, about {time} left.",
    settled_title: "Paid, thank you",
    settled_body: "Your payment of {paid} {asset} is confirmed.",
    receipt: "Receipt",
    transaction: "Transaction",
    paid_at: "Paid at",
    not_found_title: "No such payment page",
    not_found_body: "This link opens no invoice. Check the link the shop gave you, or ask the shop for a new one.",
    expired_title: "This invoice has expired",
    expired_body: "The time to pay has run out. Do not send a payment to this address now.",
    expired_partial_note: "We received {paid} {asset} before it expired. Contact the shop with your order number.",
    invalid_title: "This invoice was cancelled",
    invalid_body: "The shop cancelled it. Do not send a payment; if you already did, contact the shop.",
    overpaid_note: "You sent {extra} {asset} more than asked. The shop will be in touch about the difference.",
    late_note: "Your payment arrived after the invoice expired. The shop will confirm your order.",
    held_title: "Your payment is being reviewed",
    held_body: "We received your payment and are checking it. The shop will contact you; there is nothing more to do.",
    expires_in: "Expires in {time}",
    back_to_shop: "Back to the shop",
    return_to_shop: "Return to the shop",
    redirecting: "Taking you back to the shop…",
    refreshes_itself: "This page refreshes itself every few seconds.",
    seconds: "{n} s",
    minutes: "{n} min",
    language: "Language",
};

/// German.
pub const DE: Text = Text {
    page_title: "Bezahlen bei {merchant}",
    order: "Bestellung",
    amount: "Betrag",
    network: "Netzwerk",
    address: "An diese Adresse",
    copy: "Kopieren",
    copied: "Kopiert",
    open_in_wallet: "In der Wallet öffnen",
    pay_with_browser_wallet: "Mit Browser-Wallet bezahlen",
    token_qr_note: "Der QR-Code enthält nur die Adresse: Geben Sie den Betrag in Ihrer Wallet ein.",
    waiting_title: "Wir warten auf Ihre Zahlung",
    waiting_body: "Senden Sie genau {amount} {asset} über {chain} an die Adresse unten. Diese Seite aktualisiert sich selbst.",
    partial_title: "Teilweise bezahlt",
    partial_body: "Wir haben {paid} {asset} erhalten. Noch offen: {due} {asset}.",
    confirming_title: "Zahlung gesehen, wird bestätigt",
    confirming_body: "{n} von {m} Bestätigungen, noch etwa {time}.",
    settled_title: "Bezahlt, vielen Dank",
    settled_body: "Ihre Zahlung von {paid} {asset} ist bestätigt.",
    receipt: "Beleg",
    transaction: "Transaktion",
    paid_at: "Bezahlt am",
    not_found_title: "Diese Zahlungsseite gibt es nicht",
    not_found_body: "Dieser Link öffnet keine Rechnung. Prüfen Sie den Link des Shops oder bitten Sie um einen neuen.",
    expired_title: "Diese Rechnung ist abgelaufen",
    expired_body: "Die Zahlungsfrist ist vorbei. Senden Sie jetzt keine Zahlung an diese Adresse.",
    expired_partial_note: "Wir haben vor Ablauf {paid} {asset} erhalten. Wenden Sie sich mit Ihrer Bestellnummer an den Shop.",
    invalid_title: "Diese Rechnung wurde storniert",
    invalid_body: "Der Shop hat sie storniert. Senden Sie keine Zahlung; falls schon geschehen, wenden Sie sich an den Shop.",
    overpaid_note: "Sie haben {extra} {asset} mehr gesendet als verlangt. Der Shop meldet sich wegen der Differenz.",
    late_note: "Ihre Zahlung kam nach Ablauf der Rechnung an. Der Shop bestätigt Ihre Bestellung.",
    held_title: "Ihre Zahlung wird geprüft",
    held_body: "Wir haben Ihre Zahlung erhalten und prüfen sie. Der Shop meldet sich bei Ihnen; Sie müssen nichts weiter tun.",
    expires_in: "Läuft ab in {time}",
    back_to_shop: "Zurück zum Shop",
    return_to_shop: "Zurück zum Shop",
    redirecting: "Sie werden zum Shop zurückgeleitet…",
    refreshes_itself: "Diese Seite lädt sich alle paar Sekunden neu.",
    seconds: "{n} s",
    minutes: "{n} Min.",
    language: "Sprache",
};

/// Spanish.
pub const ES: Text = Text {
    page_title: "Pagar a {merchant}",
    order: "Pedido",
    amount: "Importe",
    network: "Red",
    address: "A esta dirección",
    copy: "Copiar",
    copied: "Copiado",
    open_in_wallet: "Abrir en la billetera",
    pay_with_browser_wallet: "Pagar con la billetera del navegador",
    token_qr_note: "El código QR contiene solo la dirección: introduzca el importe en su billetera.",
    waiting_title: "Esperando su pago",
    waiting_body: "Envíe exactamente {amount} {asset} en {chain} a la dirección de abajo. Esta página se actualiza sola.",
    partial_title: "Pagado en parte",
    partial_body: "Hemos recibido {paid} {asset}. Falta por pagar: {due} {asset}.",
    confirming_title: "Pago recibido, confirmando",
    confirming_body: "{n} de {m} confirmaciones, faltan unos {time}.",
    settled_title: "Pagado, gracias",
    settled_body: "Su pago de {paid} {asset} está confirmado.",
    receipt: "Recibo",
    transaction: "Transacción",
    paid_at: "Pagado el",
    not_found_title: "Esta página de pago no existe",
    not_found_body: "Este enlace no abre ninguna factura. Revise el enlace de la tienda o pida uno nuevo.",
    expired_title: "Esta factura ha caducado",
    expired_body: "El plazo para pagar ha terminado. No envíe ahora ningún pago a esta dirección.",
    expired_partial_note: "Recibimos {paid} {asset} antes de que caducara. Contacte con la tienda con su número de pedido.",
    invalid_title: "Esta factura fue anulada",
    invalid_body: "La tienda la anuló. No envíe ningún pago; si ya lo hizo, contacte con la tienda.",
    overpaid_note: "Envió {extra} {asset} más de lo pedido. La tienda se pondrá en contacto por la diferencia.",
    late_note: "Su pago llegó después de que caducara la factura. La tienda confirmará su pedido.",
    held_title: "Su pago está en revisión",
    held_body: "Hemos recibido su pago y lo estamos revisando. La tienda se pondrá en contacto; no tiene que hacer nada más.",
    expires_in: "Caduca en {time}",
    back_to_shop: "Volver a la tienda",
    return_to_shop: "Volver a la tienda",
    redirecting: "Le llevamos de vuelta a la tienda…",
    refreshes_itself: "Esta página se recarga sola cada pocos segundos.",
    seconds: "{n} s",
    minutes: "{n} min",
    language: "Idioma",
};

impl Text {
    /// Every message with its name, for the placeholder check. The pattern
    /// names every field, so a message added to [`Text`] must be added here.
    pub fn all(&self) -> [(&'static str, &'static str); 40] {
        let Text {
            page_title,
            order,
            amount,
            network,
            address,
            copy,
            copied,
            open_in_wallet,
            pay_with_browser_wallet,
            token_qr_note,
            waiting_title,
            waiting_body,
            partial_title,
            partial_body,
            confirming_title,
            confirming_body,
            settled_title,
            settled_body,
            receipt,
            transaction,
            paid_at,
            not_found_title,
            not_found_body,
            expired_title,
            expired_body,
            expired_partial_note,
            invalid_title,
            invalid_body,
            overpaid_note,
            late_note,
            held_title,
            held_body,
            expires_in,
            back_to_shop,
            return_to_shop,
            redirecting,
            refreshes_itself,
            seconds,
            minutes,
            language,
        } = self;
        [
            ("page_title", page_title),
            ("order", order),
            ("amount", amount),
            ("network", network),
            ("address", address),
            ("copy", copy),
            ("copied", copied),
            ("open_in_wallet", open_in_wallet),
            ("pay_with_browser_wallet", pay_with_browser_wallet),
            ("token_qr_note", token_qr_note),
            ("waiting_title", waiting_title),
            ("waiting_body", waiting_body),
            ("partial_title", partial_title),
            ("partial_body", partial_body),
            ("confirming_title", confirming_title),
            ("confirming_body", confirming_body),
            ("settled_title", settled_title),
            ("settled_body", settled_body),
            ("receipt", receipt),
            ("transaction", transaction),
            ("paid_at", paid_at),
            ("not_found_title", not_found_title),
            ("not_found_body", not_found_body),
            ("expired_title", expired_title),
            ("expired_body", expired_body),
            ("expired_partial_note", expired_partial_note),
            ("invalid_title", invalid_title),
            ("invalid_body", invalid_body),
            ("overpaid_note", overpaid_note),
            ("late_note", late_note),
            ("held_title", held_title),
            ("held_body", held_body),
            ("expires_in", expires_in),
            ("back_to_shop", back_to_shop),
            ("return_to_shop", return_to_shop),
            ("redirecting", redirecting),
            ("refreshes_itself", refreshes_itself),
            ("seconds", seconds),
            ("minutes", minutes),
            ("language", language),
        ]
    }
}

/// `template` with each `{name}` replaced.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = template.to_owned();
    for (name, value) in values {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placeholders(text: &str) -> Vec<&str> {
        let mut found: Vec<&str> =
            text.split('{').skip(1).filter_map(|rest| rest.split_once('}').map(|(name, _)| name)).collect();
        found.sort_unstable();
        found
    }

    #[test]
    fn every_language_has_the_same_placeholders_as_english() {
        for lang in [Lang::De, Lang::Es] {
            for ((name, en), (_, other)) in EN.all().into_iter().zip(lang.text().all()) {
                assert_eq!(placeholders(en), placeholders(other), "{name} in {}", lang.tag());
                assert!(!other.trim().is_empty(), "{name} in {}", lang.tag());
            }
        }
    }

    #[test]
    fn the_query_wins_then_the_best_accepted_language() {
        assert_eq!(Lang::negotiate(Some("de"), Some("es")), Lang::De);
        assert_eq!(Lang::negotiate(Some("xx"), Some("es-MX,en;q=0.5")), Lang::Es);
        assert_eq!(Lang::negotiate(None, Some("fr-FR,fr;q=0.9,de;q=0.8,en;q=0.7")), Lang::De);
        assert_eq!(Lang::negotiate(None, Some("en;q=0.2, es;q=0.9")), Lang::Es);
        assert_eq!(Lang::negotiate(None, Some("de;q=0")), Lang::En, "q=0 means not acceptable");
        assert_eq!(Lang::negotiate(None, None), Lang::En);
        assert_eq!(Lang::negotiate(None, Some("<script>")), Lang::En);
    }

    #[test]
    fn placeholders_are_filled() {
        assert_eq!(
            fill(EN.partial_body, &[("paid", "1"), ("due", "2"), ("asset", "ETH")]),
            "We received 1 ETH. Still due: 2 ETH."
        );
    }
}
