//! The checkout page: what the customer is told in each state of the
//! invoice ([`stage`], a pure function of the facts), and its HTML.
//!
//! The page is whole without JavaScript: it refreshes itself while
//! something can change. With JavaScript, the same `<main>` fragment
//! arrives over a server-sent event stream and replaces the old one, so
//! the words and the QR code are always the server's.

use askama::Template;
use coffer_domain::{Address, Asset, AssetKind, Exception, Exceptions, InvoiceStatus, Timestamp, U256, format_units};

use crate::i18n::{Lang, Text, fill};
use crate::qr;

/// The countdown shows this close to the expiry, not before: a clock
/// ticking from the first second makes customers anxious (BTCPay's lesson).
pub const COUNTDOWN_NEAR_SECS: u64 = 300;
/// How often the page reloads itself without JavaScript while the
/// invoice can still change.
pub const REFRESH_SECS: u32 = 10;
/// Seconds on the settled screen before the automatic return to the shop.
pub const REDIRECT_SECS: u32 = 5;

/// Everything the page shows, as the gateway read it.
#[derive(Debug)]
pub struct Facts<'a> {
    /// The customer's language.
    pub lang: Lang,
    /// The merchant's name.
    pub merchant: &'a str,
    /// The merchant's order reference.
    pub order_id: Option<&'a str>,
    /// What is being paid for.
    pub description: Option<&'a str>,
    /// The chain's name for people ("Ethereum", "Anvil").
    pub chain_name: &'a str,
    /// The asset asked for.
    pub asset: &'a Asset,
    /// The deposit address.
    pub address: Address,
    /// The price, in base units.
    pub amount: U256,
    /// What counts towards it so far (credited, confirmed or not), in base units.
    pub paid: U256,
    /// The invoice's status.
    pub status: InvoiceStatus,
    /// Its exceptions.
    pub exceptions: Exceptions,
    /// Whether a payment is held by screening (held or rejected, not released).
    pub held: bool,
    /// While confirming: the fewest confirmations among the payments still
    /// waiting, and how many the chain requires.
    pub confirmations: Option<(u64, u32)>,
    /// Seconds between blocks on this chain, for "about T left".
    pub block_secs: u64,
    /// The transactions that paid it, for the receipt.
    pub transactions: Vec<String>,
    /// When the last payment that counts was seen (RFC 3339).
    pub paid_at: Option<String>,
    /// The invoice's id, shown on the receipt.
    pub invoice_id: String,
    /// Now.
    pub now: Timestamp,
    /// When the payment window closes.
    pub expires_at: Timestamp,
    /// This page's path (`/pay/{token}`), for language links.
    pub page_path: String,
    /// Its event stream's path.
    pub events_path: String,
    /// The signed link back to the shop once paid.
    pub success_link: Option<String>,
    /// The signed link back to the shop before paying.
    pub cancel_link: Option<String>,
    /// The merchant's logo, served by the gateway (`/pay/{token}/logo`).
    pub logo_path: Option<String>,
    /// The merchant's colours, as a stylesheet the gateway serves
    /// (`/pay/{token}/theme.css`): a style attribute would need
    /// `style-src 'unsafe-inline'`.
    pub theme_path: Option<String>,
}

/// Where the customer stands, in the page's terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Nothing has arrived.
    Waiting,
    /// Less than the price has arrived; `due` is what is left, in base units.
    PartlyPaid {
        /// Still to pay.
        due: U256,
    },
    /// Paid in full, waiting for confirmations.
    Confirming {
        /// The fewest confirmations among the payments still waiting.
        have: u64,
        /// How many the chain requires.
        need: u32,
    },
    /// Confirmed and credited.
    Settled,
    /// The window closed before full payment.
    Expired,
    /// The shop cancelled it.
    Invalid,
    /// Screening holds a payment for review.
    Held,
}

impl Stage {
    /// The name tests and the stylesheet use (`data-state`).
    pub fn name(&self) -> &'static str {
        match self {
            Stage::Waiting => "waiting",
            Stage::PartlyPaid { .. } => "partial",
            Stage::Confirming { .. } => "confirming",
            Stage::Settled => "settled",
            Stage::Expired => "expired",
            Stage::Invalid => "invalid",
            Stage::Held => "held",
        }
    }

    /// Whether the customer should still pay (the QR code shows).
    pub fn asks_for_payment(&self) -> bool {
        matches!(self, Stage::Waiting | Stage::PartlyPaid { .. })
    }

    /// Whether nothing more can happen (an expired invoice can still be
    /// paid late; a settled or cancelled one is done).
    pub fn is_final(&self) -> bool {
        matches!(self, Stage::Settled | Stage::Invalid)
    }

    /// Whether anything can still change without a person acting.
    pub fn is_live(&self) -> bool {
        matches!(self, Stage::Waiting | Stage::PartlyPaid { .. } | Stage::Confirming { .. } | Stage::Held)
    }
}

/// The stage the facts put the customer in. A held payment comes first
/// (the customer is told it is being reviewed, never why); then the
/// invoice's own status.
pub fn stage(facts: &Facts<'_>) -> Stage {
    if facts.held && facts.status != InvoiceStatus::Settled && facts.status != InvoiceStatus::Invalid {
        return Stage::Held;
    }
    match facts.status {
        InvoiceStatus::Invalid => Stage::Invalid,
        InvoiceStatus::Settled => Stage::Settled,
        InvoiceStatus::Expired => Stage::Expired,
        InvoiceStatus::Processing => {
            let (have, need) = facts.confirmations.unwrap_or((0, 1));
            Stage::Confirming { have, need }
        }
        InvoiceStatus::New if facts.paid.is_zero() => Stage::Waiting,
        InvoiceStatus::New => Stage::PartlyPaid { due: facts.amount.saturating_sub(facts.paid) },
    }
}

/// What the customer should send now, as a QR code and links.
#[derive(Debug)]
pub struct PayBox {
    amount: String,
    asset: String,
    chain: String,
    address: String,
    qr_svg: String,
    qr_content: String,
    token: bool,
    wallet_link: String,
    chain_hex: String,
    tx_to: String,
    tx_value: String,
    tx_data: String,
}

/// The countdown near the end.
#[derive(Debug)]
pub struct Countdown {
    expires_ms: i64,
    near_secs: u64,
    text: String,
    visible: bool,
}

/// The `<main>` fragment's contents.
#[derive(Debug)]
pub struct Main {
    state: &'static str,
    merchant: String,
    logo: Option<String>,
    order_id: Option<String>,
    description: Option<String>,
    title: String,
    body: String,
    notes: Vec<String>,
    pay: Option<PayBox>,
    countdown: Option<Countdown>,
    receipt: Option<Vec<(String, String)>>,
    return_link: Option<(String, String)>,
    redirect: Option<String>,
    events_path: String,
}

/// The whole page.
#[derive(Template)]
#[template(path = "checkout.html")]
struct Page<'a> {
    t: &'static Text,
    lang: &'static str,
    title: String,
    refresh: Option<String>,
    languages: Vec<(&'static str, String, bool)>,
    theme: Option<String>,
    m: &'a Main,
}

/// The fragment alone, for the event stream.
#[derive(Template)]
#[template(path = "main.html")]
struct Fragment<'a> {
    t: &'static Text,
    m: &'a Main,
}

/// A rendered page, and the stage it shows.
#[derive(Debug)]
pub struct Rendered {
    /// The stage.
    pub stage: Stage,
    /// The HTML.
    pub html: String,
}

/// The whole page.
pub fn page(facts: &Facts<'_>) -> Result<Rendered, askama::Error> {
    let (stage, main) = main(facts);
    let t = facts.lang.text();
    let refresh = if let Some(url) = &main.redirect {
        Some(format!("{REDIRECT_SECS};url={url}"))
    } else {
        stage.is_live().then(|| REFRESH_SECS.to_string())
    };
    let languages = Lang::ALL
        .into_iter()
        .map(|l| (l.tag(), format!("{}?lang={}", facts.page_path, l.tag()), l == facts.lang))
        .collect();
    let page = Page {
        t,
        lang: facts.lang.tag(),
        title: fill(t.page_title, &[("merchant", facts.merchant)]),
        refresh,
        languages,
        theme: facts.theme_path.clone(),
        m: &main,
    };
    Ok(Rendered { html: page.render()?, stage })
}

/// The `<main>` fragment alone.
pub fn fragment(facts: &Facts<'_>) -> Result<Rendered, askama::Error> {
    let (stage, main) = main(facts);
    let html = Fragment { t: facts.lang.text(), m: &main }.render()?;
    Ok(Rendered { stage, html })
}

fn main(facts: &Facts<'_>) -> (Stage, Main) {
    let t = facts.lang.text();
    let stage = stage(facts);
    let decimals = facts.asset.decimals;
    let asset = facts.asset.id.symbol.to_string();
    let units = |u: U256| format_units(u, decimals);
    let paid = units(facts.paid);
    let (title, body) = match &stage {
        Stage::Waiting => (
            t.waiting_title,
            fill(t.waiting_body, &[("amount", &units(facts.amount)), ("asset", &asset), ("chain", facts.chain_name)]),
        ),
        Stage::PartlyPaid { due } => {
            (t.partial_title, fill(t.partial_body, &[("paid", &paid), ("due", &units(*due)), ("asset", &asset)]))
        }
        Stage::Confirming { have, need } => {
            let left = u64::from(*need).saturating_sub(*have).max(1) * facts.block_secs.max(1);
            let time = duration_words(t, left);
            (
                t.confirming_title,
                fill(t.confirming_body, &[("n", &have.to_string()), ("m", &need.to_string()), ("time", &time)]),
            )
        }
        Stage::Settled => (t.settled_title, fill(t.settled_body, &[("paid", &paid), ("asset", &asset)])),
        Stage::Expired => (t.expired_title, t.expired_body.to_owned()),
        Stage::Invalid => (t.invalid_title, t.invalid_body.to_owned()),
        Stage::Held => (t.held_title, t.held_body.to_owned()),
    };
    let mut notes = Vec::new();
    if stage == Stage::Expired && !facts.paid.is_zero() {
        notes.push(fill(t.expired_partial_note, &[("paid", &paid), ("asset", &asset)]));
    }
    if stage != Stage::Held && facts.exceptions.contains(Exception::PaidOver) && facts.paid > facts.amount {
        notes.push(fill(t.overpaid_note, &[("extra", &units(facts.paid - facts.amount)), ("asset", &asset)]));
    }
    if stage != Stage::Held && facts.exceptions.contains(Exception::PaidLate) {
        notes.push(t.late_note.to_owned());
    }
    let due = match &stage {
        Stage::PartlyPaid { due } => Some(*due),
        Stage::Waiting => Some(facts.amount),
        _ => None,
    };
    let pay = due.map(|due| pay_box(facts, t, due));
    let left_ms = facts.expires_at.as_millis().saturating_sub(facts.now.as_millis());
    let countdown = stage.asks_for_payment().then(|| Countdown {
        expires_ms: facts.expires_at.as_millis(),
        near_secs: COUNTDOWN_NEAR_SECS,
        text: fill(t.expires_in, &[("time", &clock(left_ms.max(0) as u64 / 1000))]),
        visible: left_ms <= (COUNTDOWN_NEAR_SECS * 1000) as i64,
    });
    let receipt = (stage == Stage::Settled).then(|| {
        let mut lines = vec![(t.order.to_owned(), facts.order_id.unwrap_or(&facts.invoice_id).to_owned())];
        lines.push((t.amount.to_owned(), format!("{paid} {asset}")));
        lines.push((t.network.to_owned(), facts.chain_name.to_owned()));
        lines.extend(facts.transactions.iter().map(|tx| (t.transaction.to_owned(), tx.clone())));
        if let Some(at) = &facts.paid_at {
            lines.push((t.paid_at.to_owned(), at.clone()));
        }
        lines
    });
    let (return_link, redirect) = match (&stage, &facts.success_link, &facts.cancel_link) {
        (Stage::Settled, Some(url), _) => (Some((t.return_to_shop.to_owned(), url.clone())), Some(url.clone())),
        (Stage::Settled | Stage::Confirming { .. } | Stage::Held, None, _) => (None, None),
        (Stage::Confirming { .. } | Stage::Held, Some(url), _) => {
            (Some((t.return_to_shop.to_owned(), url.clone())), None)
        }
        (_, _, Some(url)) => (Some((t.back_to_shop.to_owned(), url.clone())), None),
        (_, _, None) => (None, None),
    };
    let main = Main {
        state: stage.name(),
        merchant: facts.merchant.to_owned(),
        logo: facts.logo_path.clone(),
        order_id: facts.order_id.map(str::to_owned),
        description: facts.description.map(str::to_owned),
        title: title.to_owned(),
        body,
        notes,
        pay,
        countdown,
        receipt,
        return_link,
        redirect,
        events_path: facts.events_path.clone(),
    };
    (stage, main)
}

/// The QR code, links and wallet request for paying `due`. For a token the
/// QR code holds the bare address: wallets disagree on EIP-681 token
/// amounts (some read whole tokens, one sent funds to the token contract),
/// so EIP-681 sits behind the explicit "open in wallet" link only.
fn pay_box(facts: &Facts<'_>, t: &Text, due: U256) -> PayBox {
    let address = facts.address.to_checksum(None);
    let chain = facts.asset.id.chain_id;
    let (qr_content, wallet_link, token, tx_to, tx_value, tx_data) = match facts.asset.kind {
        AssetKind::Native => {
            let uri = format!("ethereum:{address}@{chain}?value={due}");
            (uri.clone(), uri, false, address.clone(), format!("{due:#x}"), String::new())
        }
        AssetKind::Erc20 { contract } => {
            let contract = contract.to_checksum(None);
            let uri = format!("ethereum:{contract}@{chain}/transfer?address={address}&uint256={due}");
            let data = format!("0xa9059cbb{:0>64}{:0>64x}", hex_digits(facts.address), due);
            (address.clone(), uri, true, contract, "0x0".to_owned(), data)
        }
    };
    let qr_svg = qr::svg(&qr_content, t.address).unwrap_or_default();
    PayBox {
        amount: format_units(due, facts.asset.decimals),
        asset: facts.asset.id.symbol.to_string(),
        chain: facts.chain_name.to_owned(),
        address,
        qr_svg,
        qr_content,
        token,
        wallet_link,
        chain_hex: format!("{:#x}", chain.0),
        tx_to,
        tx_value,
        tx_data,
    }
}

fn hex_digits(address: Address) -> String {
    format!("{address:x}")
}

/// `m:ss`, as the countdown shows (the same in every language).
fn clock(secs: u64) -> String {
    format!("{}:{:02}", secs / 60, secs % 60)
}

fn duration_words(t: &Text, secs: u64) -> String {
    if secs < 90 {
        fill(t.seconds, &[("n", &secs.to_string())])
    } else {
        fill(t.minutes, &[("n", &secs.div_ceil(60).to_string())])
    }
}

/// The page for a link that opens no invoice (malformed, unknown, or its
/// asset no longer configured: the same words, so a guess learns nothing).
pub fn not_found(lang: Lang) -> String {
    let t = lang.text();
    plain_page(lang.tag(), t.not_found_title, t.not_found_body)
}

/// The page when the gateway cannot read the invoice just now.
pub fn unavailable() -> String {
    plain_page("en", "Temporarily unavailable", "Please try again in a moment. Your payment details have not changed.")
}

#[derive(Template)]
#[template(path = "plain.html")]
struct Plain<'a> {
    lang: &'a str,
    title: &'a str,
    body: &'a str,
}

fn plain_page(lang: &str, title: &str, body: &str) -> String {
    Plain { lang, title, body }.render().unwrap_or_else(|_| title.to_owned())
}

#[cfg(test)]
mod tests;

/// A merchant's colours as a stylesheet (`/pay/{token}/theme.css`): the
/// accent, and text on it dark or light as the accent's luminance asks.
pub fn theme_css(color: coffer_domain::BrandColor) -> String {
    let on_accent = if wants_dark_text(color) { "#14181b" } else { "#ffffff" };
    format!(":root {{ --accent: {color}; --on-accent: {on_accent}; }}\n")
}

/// Whether text on `color` should be dark: its relative luminance (WCAG
/// 2.x) is above the point where black contrasts more than white.
fn wants_dark_text(color: coffer_domain::BrandColor) -> bool {
    let linear = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c <= 0.039_28 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
    };
    let [r, g, b] = color.rgb().map(linear);
    // Contrast with white (1.05 / (L + 0.05)) falls below contrast with black ((L + 0.05) / 0.05).
    0.2126 * r + 0.7152 * g + 0.0722 * b > 0.179
}
