//! The console's pages, for merchants and the operator: plain HTML forms,
//! no script. The gateway reads what each page shows through the same
//! service calls as its API and hands it here as text, already formatted;
//! every piece is escaped by askama on the way out.

use askama::Template;

/// The console's stylesheet, served from `/console/assets/console.css`.
pub const CONSOLE_CSS: &str = include_str!("../assets/console.css");

/// What every page of a signed-in session shows around its body.
#[derive(Clone, Debug, Default)]
pub struct Chrome {
    /// Who is signed in (a merchant's name, or "Operator"); `None` before sign-in.
    pub who: Option<String>,
    /// The session's form token, put into every form.
    pub csrf: String,
    /// The navigation links.
    pub nav: Vec<(String, String)>,
    /// A line saying what the last action did.
    pub flash: Option<String>,
}

#[derive(Template)]
#[template(path = "console/sign_in.html")]
struct SignIn<'a> {
    title: &'a str,
    page: &'a str,
    c: &'a Chrome,
    link_token: Option<&'a str>,
}

/// The sign-in page: with `link_token`, one button that uses that link
/// (a GET never signs in, so a link preview cannot spend the link).
pub fn sign_in(link_token: Option<&str>, flash: Option<String>) -> Result<String, askama::Error> {
    let chrome = Chrome { flash, ..Chrome::default() };
    SignIn { title: "Sign in", page: "sign-in", c: &chrome, link_token }.render()
}

#[derive(Template)]
#[template(path = "console/message.html")]
struct Message<'a> {
    title: &'a str,
    page: &'a str,
    c: &'a Chrome,
    heading: &'a str,
    body: &'a str,
}

/// A page that only says something (a refusal, a page not found).
pub fn message(chrome: &Chrome, heading: &str, body: &str) -> String {
    let page = Message { title: heading, page: "message", c: chrome, heading, body };
    page.render().unwrap_or_else(|_| heading.to_owned())
}

/// One invoice in the list.
#[derive(Clone, Debug)]
pub struct InvoiceLine {
    /// `inv_…`
    pub id: String,
    /// When it was made.
    pub created: String,
    /// The shop's order id, or empty.
    pub order_id: String,
    /// "0.01 ETH"
    pub amount: String,
    /// What was received.
    pub paid: String,
    /// Its status, as the API names it.
    pub status: String,
    /// Its exceptions, comma-separated.
    pub exceptions: String,
}

/// The invoice list and its filters.
#[derive(Clone, Debug)]
pub struct InvoiceList {
    /// `(value, label, selected)` for the status filter, "" first for any.
    pub statuses: Vec<(String, String, bool)>,
    /// The same for the exception filter.
    pub exceptions: Vec<(String, String, bool)>,
    /// The search text.
    pub q: String,
    /// The invoices shown.
    pub rows: Vec<InvoiceLine>,
    /// Whether more match than are shown.
    pub more: bool,
}

#[derive(Template)]
#[template(path = "console/invoices.html")]
struct Invoices<'a> {
    title: &'a str,
    page: &'a str,
    c: &'a Chrome,
    statuses: &'a [(String, String, bool)],
    exceptions: &'a [(String, String, bool)],
    q: &'a str,
    rows: &'a [InvoiceLine],
    more: bool,
}

/// A merchant's invoices.
pub fn invoices(chrome: &Chrome, list: &InvoiceList) -> Result<String, askama::Error> {
    Invoices {
        title: "Invoices",
        page: "invoices",
        c: chrome,
        statuses: &list.statuses,
        exceptions: &list.exceptions,
        q: &list.q,
        rows: &list.rows,
        more: list.more,
    }
    .render()
}

/// A payment in an invoice's story.
#[derive(Clone, Debug)]
pub struct PaymentLine {
    /// When the watcher saw it.
    pub seen: String,
    /// How much.
    pub amount: String,
    /// The sender.
    pub from: String,
    /// The transaction.
    pub tx: String,
    /// Its block (number and hash).
    pub block: String,
    /// "3 of 2", or "—" once it no longer counts.
    pub confirmations: String,
    /// canonical, reorganised away, displaced, held…
    pub state: String,
}

/// A ledger line of an invoice.
#[derive(Clone, Debug)]
pub struct EntryLine {
    /// The posting (receipt, settlement…).
    pub kind: String,
    /// The account.
    pub account: String,
    /// The amount if a debit.
    pub debit: String,
    /// The amount if a credit.
    pub credit: String,
}

/// A webhook delivery of an invoice's event.
#[derive(Clone, Debug)]
pub struct DeliveryLine {
    /// `whd_…`
    pub id: String,
    /// When it was queued.
    pub created: String,
    /// The event's type.
    pub event: String,
    /// The endpoint's URL.
    pub endpoint: String,
    /// pending, delivered, failed.
    pub state: String,
    /// How many attempts.
    pub attempts: String,
    /// The last attempt's HTTP status or error.
    pub last: String,
}

/// One invoice's whole story.
#[derive(Clone, Debug)]
pub struct Story {
    /// `inv_…`
    pub id: String,
    /// Its facts, label and value.
    pub facts: Vec<(String, String)>,
    /// Where its customer pays.
    pub checkout_url: String,
    /// Its payments.
    pub payments: Vec<PaymentLine>,
    /// Its ledger lines.
    pub entries: Vec<EntryLine>,
    /// Its webhook deliveries.
    pub deliveries: Vec<DeliveryLine>,
    /// Whether the session may not read webhooks (an API key without
    /// `webhooks:read`): then deliveries are not shown at all.
    pub webhooks_hidden: bool,
}

#[derive(Template)]
#[template(path = "console/invoice.html")]
struct InvoicePage<'a> {
    title: &'a str,
    page: &'a str,
    c: &'a Chrome,
    s: &'a Story,
}

/// One invoice's page.
pub fn invoice(chrome: &Chrome, story: &Story) -> Result<String, askama::Error> {
    InvoicePage { title: &story.id, page: "invoice", c: chrome, s: story }.render()
}

/// A merchant in the operator's list.
#[derive(Clone, Debug)]
pub struct MerchantLine {
    /// Its name.
    pub name: String,
    /// `mer_…`
    pub id: String,
    /// When it was made.
    pub created: String,
    /// What it is owed, per asset.
    pub balances: String,
}

#[derive(Template)]
#[template(path = "console/merchants.html")]
struct Merchants<'a> {
    title: &'a str,
    page: &'a str,
    c: &'a Chrome,
    merchants: &'a [MerchantLine],
}

/// The operator's list of merchants.
pub fn merchants(chrome: &Chrome, merchants: &[MerchantLine]) -> Result<String, askama::Error> {
    Merchants { title: "Merchants", page: "merchants", c: chrome, merchants }.render()
}

/// A button on one row: a form posting to `path`, with a required note
/// (its placeholder) when the act needs a reason on the audit log.
#[derive(Clone, Debug)]
pub struct RowAction {
    /// Where the form posts.
    pub path: String,
    /// The button's text.
    pub label: String,
    /// The button's class (tests find it by this).
    pub class: String,
    /// The note's placeholder, if the act needs one.
    pub note: Option<String>,
}

/// One row of a section's table.
#[derive(Clone, Debug)]
pub struct Row {
    /// What identifies it (`data-key`).
    pub key: String,
    /// Its cells, as text.
    pub cells: Vec<String>,
    /// Its buttons.
    pub actions: Vec<RowAction>,
}

/// A form under a section's table (create a key, ask for a payout).
#[derive(Clone, Debug)]
pub struct SectionForm {
    /// Its id.
    pub id: String,
    /// Where it posts.
    pub path: String,
    /// `(name, label, placeholder)` of each text field.
    pub fields: Vec<(String, String, String)>,
    /// `(name, value)` of each hidden field (an idempotency key).
    pub hidden: Vec<(String, String)>,
    /// The button's text.
    pub button: String,
}

/// A part of a page: a title, some lines, a table and perhaps a form.
#[derive(Clone, Debug, Default)]
pub struct Section {
    /// Its id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// Lines above the table.
    pub intro: Vec<String>,
    /// The table's headings.
    pub heads: Vec<String>,
    /// Its rows.
    pub rows: Vec<Row>,
    /// What to say when there are none.
    pub empty: String,
    /// A form below.
    pub form: Option<SectionForm>,
}

impl Section {
    fn has_actions(&self) -> bool {
        self.rows.iter().any(|r| !r.actions.is_empty())
    }
}

#[derive(Template)]
#[template(path = "console/sections.html")]
struct Sections<'a> {
    title: &'a str,
    page: &'a str,
    c: &'a Chrome,
    heading: &'a str,
    revealed: Option<(&'a str, &'a str)>,
    sections: &'a [Section],
}

/// A page of sections (balances, payouts, keys, chains, holds…);
/// `revealed` shows a secret once (a new API key) above them.
pub fn sections(
    chrome: &Chrome,
    page: &str,
    heading: &str,
    revealed: Option<(&str, &str)>,
    sections: &[Section],
) -> Result<String, askama::Error> {
    Sections { title: heading, page, c: chrome, heading, revealed, sections }.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chrome() -> Chrome {
        Chrome {
            who: Some("<b>Shop</b>".into()),
            csrf: "c".repeat(48),
            nav: vec![("/console/invoices".into(), "Invoices".into())],
            flash: None,
        }
    }

    #[test]
    fn every_form_of_a_signed_in_page_carries_the_token_and_markup_is_text() {
        let story = Story {
            id: "inv_1".into(),
            facts: vec![("Order".into(), "<script>x()</script>".into())],
            checkout_url: "http://x/pay/t".into(),
            webhooks_hidden: false,
            payments: vec![],
            entries: vec![],
            deliveries: vec![DeliveryLine {
                id: "whd_1".into(),
                created: "now".into(),
                event: "invoice.settled".into(),
                endpoint: "http://h/\"><img>".into(),
                state: "failed".into(),
                attempts: "3".into(),
                last: "500".into(),
            }],
        };
        let html = invoice(&chrome(), &story).unwrap();
        let forms = html.matches("<form method=\"post\"").count();
        let tokens = html.matches(&format!("name=\"csrf\" value=\"{}\"", "c".repeat(48))).count();
        assert_eq!((forms, tokens), (2, 2), "sign-out and redeliver, each with the token");
        assert!(!html.contains("<script>x()") && html.contains("x()"), "shown, as text");
        assert!(!html.contains("<b>Shop</b>") && !html.contains("\"><img>"));
        assert!(!html.contains("<script"), "the console runs no script");
    }

    #[test]
    fn every_row_action_and_section_form_carries_the_token() {
        let action = |path: &str| RowAction { path: path.into(), label: "Go".into(), class: "go".into(), note: None };
        let section = Section {
            id: "s".into(),
            heads: vec!["A".into()],
            rows: vec![Row {
                key: "k".into(),
                cells: vec!["<i>x</i>".into()],
                actions: vec![action("/a"), action("/b")],
            }],
            form: Some(SectionForm {
                id: "f".into(),
                path: "/c".into(),
                fields: vec![],
                hidden: vec![],
                button: "Make".into(),
            }),
            ..Section::default()
        };
        let html = sections(&chrome(), "p", "Page", Some(("Shown once", "secret")), &[section]).unwrap();
        let forms = html.matches("<form method=\"post\"").count();
        let tokens = html.matches(&format!("name=\"csrf\" value=\"{}\"", "c".repeat(48))).count();
        assert_eq!((forms, tokens), (4, 4), "sign-out, two row actions, one section form");
        assert!(!html.contains("<i>x</i>"));
    }

    #[test]
    fn the_sign_in_page_never_signs_in_by_itself() {
        let html = sign_in(Some("abc"), None).unwrap();
        assert!(html.contains("method=\"post\"") && html.contains("value=\"abc\""));
        assert!(!html.contains("http-equiv"), "no refresh that would post the link on its own");
    }
}
