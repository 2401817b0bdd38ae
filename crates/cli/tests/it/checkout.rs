//! The hosted checkout page in a real headless Chromium, against `coffer
//! dev` (a real anvil, the real gateway, `coffer dev pay` as the customer's
//! wallet): every state reached without a reload, the QR code decoded by an
//! independent reader, the page with JavaScript off, hostile text inert, no
//! request to another origin, and the return link verified as a shop would.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::browser::{self, Browser, decode_qr, keep_screenshot};
use crate::dev::wait_for_dev_json;
use crate::support::{Running, coffer, run_ok};

/// `coffer dev` in a directory of its own, and a client of its API.
pub(crate) struct Dev {
    _process: Running,
    _dir: tempfile::TempDir,
    state: std::path::PathBuf,
    pub(crate) base: String,
    pub(crate) key: String,
    pub(crate) merchant: String,
    /// dev.json.
    pub(crate) info: Value,
    http: reqwest::Client,
}

impl Dev {
    pub(crate) fn start() -> Self {
        Self::start_with(&[])
    }

    /// With more arguments for `coffer dev` (`--block-time 3600`, say).
    pub(crate) fn start_with(args: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join(".coffer-dev");
        let process =
            Running::spawn(coffer().args(["dev", "--listen", "127.0.0.1:0"]).args(args).arg("--dir").arg(&state));
        let info = wait_for_dev_json(&state, None);
        Self {
            _process: process,
            _dir: dir,
            base: info["gateway_url"].as_str().unwrap().to_owned(),
            key: info["api_key"].as_str().unwrap().to_owned(),
            merchant: info["merchant_id"].as_str().unwrap().to_owned(),
            info,
            state,
            http: reqwest::Client::new(),
        }
    }

    pub(crate) async fn post(&self, path: &str, body: Value) -> Value {
        let response = self.http.post(format!("{}{path}", self.base)).bearer_auth(&self.key).json(&body).send().await;
        let response = response.unwrap();
        assert!(response.status().is_success(), "{path}: {}", response.status());
        response.json().await.unwrap()
    }

    pub(crate) fn pay(&self, invoice: &str, amount: Option<&str>) -> String {
        let mut command = coffer();
        command.args(["dev", "pay", invoice]);
        if let Some(amount) = amount {
            command.args(["--amount", amount]);
        }
        run_ok(command.arg("--dir").arg(&self.state))
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.state
    }

    /// `coffer <args> --config <the dev configuration>`, run to success.
    pub(crate) fn cli(&self, args: &[&str]) -> String {
        run_ok(coffer().args(args).arg("--config").arg(self.state.join("coffer.toml")))
    }
}

/// A 96×96 PNG logo: a coffee-brown ring on a transparent ground, drawn here.
pub(crate) fn logo_png() -> Vec<u8> {
    let size = 96u32;
    let mut pixels = Vec::with_capacity((size * size * 4) as usize);
    for y in 0..size {
        for x in 0..size {
            let (dx, dy) = (f64::from(x) - 47.5, f64::from(y) - 47.5);
            let r = (dx * dx + dy * dy).sqrt();
            let inside = (28.0..46.0).contains(&r) || r < 14.0;
            pixels.extend_from_slice(if inside { &[0x6b, 0x3e, 0x26, 0xff] } else { &[0, 0, 0, 0] });
        }
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, size, size);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.write_header().unwrap().write_image_data(&pixels).unwrap();
    out
}

impl Dev {
    /// Brands the demo shop with `coffer merchant brand`.
    pub(crate) fn brand(&self, color: &str) {
        let logo = self.state.join("logo.png");
        std::fs::write(&logo, logo_png()).unwrap();
        let logo = logo.to_str().unwrap().to_owned();
        self.cli(&["merchant", "brand", "--merchant", &self.merchant, "--color", color, "--logo", &logo]);
    }
}

/// What a shop does with the return link: recompute the signature over
/// `<t>.coffer-return.v1.<invoice>.<status>` with its webhook secret.
fn verify_return_link(link: &str, secret: &str) -> Result<(String, String), String> {
    let query = link.split_once('?').ok_or("no query")?.1.split('#').next().unwrap_or_default();
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .map(|v| v.replace("%3D", "=").replace("%2C", ","))
            .ok_or(format!("no {name}"))
    };
    let (invoice, status, signature) = (param("coffer_invoice")?, param("coffer_status")?, param("coffer_signature")?);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let text = format!("coffer-return.v1.{invoice}.{status}");
    coffer_webhooks::signature::verify(secret, &signature, text.as_bytes(), now, 300).map_err(|e| e.to_string())?;
    Ok((invoice, status))
}

/// The README's Python check, run as a shop runs it (and the README shows
/// this very file's function).
fn documented_check(link: &str, secret: &str, forged: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let script = root.join("docs/examples/verify_return.py");
    let source = std::fs::read_to_string(&script).unwrap();
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let function = source.split("def verify_return").nth(1).unwrap().split("\n\nif __name__").next().unwrap();
    assert!(readme.contains(function), "the README shows docs/examples/verify_return.py's verify_return");
    if std::env::var("COFFER_TEST_PYTHON").as_deref() == Ok("skip") {
        eprintln!("SKIPPED: the Python check of the return link (no python3; scripts/test said so)");
        return;
    }
    let run = |url: &str| std::process::Command::new("python3").arg(&script).args([url, secret]).output().unwrap();
    let good = run(link);
    assert!(good.status.success(), "{}", String::from_utf8_lossy(&good.stdout));
    assert!(String::from_utf8_lossy(&good.stdout).ends_with("settled\n"));
    assert!(!run(forged).status.success(), "the documented check refuses an edited status");
}

#[tokio::test]
async fn a_customer_pays_in_two_parts_and_watches_the_page_settle_without_a_reload() {
    if !browser::available() {
        return;
    }
    let dev = Dev::start();
    dev.brand("#6b3e26");
    let hook =
        dev.post("/v1/webhooks", json!({"url": "http://127.0.0.1:9/hooks", "events": ["invoice.settled"]})).await;
    let secret = hook["secret"].as_str().unwrap().to_owned();
    let hostile = "<script>window.__pwned = 1</script><b>A-1</b>";
    let invoice = dev
        .post(
            "/v1/invoices",
            json!({
                "amount": "0.01", "asset": "ETH", "order_id": hostile,
                "description": "Two bags of coffee <img src=x onerror=alert(1)>",
                "success_url": "http://127.0.0.1:9/thanks?order={INVOICE_ID}",
                "cancel_url": "http://127.0.0.1:9/cart",
            }),
        )
        .await;
    let (id, url) = (invoice["id"].as_str().unwrap(), invoice["checkout_url"].as_str().unwrap());
    assert!(url.starts_with(&format!("{}/pay/", dev.base)) && !url.contains(&id[4..]), "{url}");
    let address = invoice["address"].as_str().unwrap();

    let page = Browser::start(true).await;
    page.client.goto(url).await.unwrap();
    page.wait_for_state("waiting", Duration::from_secs(10)).await;
    assert_eq!(page.text("#order-id").await, hostile, "markup in an order id is shown as text");
    let shown = page.eval("const i = document.getElementById('logo'); return [i.complete, i.naturalWidth]").await;
    assert_eq!(shown, json!([true, 96]), "the merchant's logo, from the gateway");
    let accent = "return getComputedStyle(document.documentElement).getPropertyValue('--accent').trim()";
    assert_eq!(page.eval(accent).await, json!("#6b3e26"), "and its colour, from the theme stylesheet");
    assert_eq!(page.eval("return window.__pwned === undefined").await, json!(true), "and never runs");
    assert!(page.text("#status-body").await.contains("0.01 ETH on anvil"));
    assert_eq!(page.attr("#return-link", "href").await.unwrap().split('?').next(), Some("http://127.0.0.1:9/cart"));
    let qr = decode_qr(&page.screenshot("#qr").await);
    assert_eq!(qr, format!("ethereum:{address}@31337?value=10000000000000000"), "an ether QR code is EIP-681");
    keep_screenshot("checkout-waiting.png", &page.screenshot_page().await);
    // Whatever happens next must reach this same document: no reload.
    page.eval("window.__same_document = 'yes'; return 1").await;

    dev.pay(id, Some("0.004"));
    page.wait_for_state("partial", Duration::from_secs(20)).await;
    assert!(page.text("#status-body").await.contains("Still due: 0.006 ETH"), "{}", page.text("#status-body").await);
    assert_eq!(page.text("#amount").await, "0.006");
    let qr = decode_qr(&page.screenshot("#qr").await);
    assert_eq!(qr, format!("ethereum:{address}@31337?value=6000000000000000"), "the new QR asks for the rest");
    keep_screenshot("checkout-partial.png", &page.screenshot_page().await);

    dev.pay(id, None);
    page.wait_for_state("confirming", Duration::from_secs(20)).await;
    assert!(page.text("#status-body").await.contains("of 2 confirmations"));
    keep_screenshot("checkout-confirming.png", &page.screenshot_page().await);
    page.wait_for_state("settled", Duration::from_secs(30)).await;
    assert_eq!(page.eval("return window.__same_document || null").await, json!("yes"), "updated without a reload");
    keep_screenshot("checkout-settled.png", &page.screenshot_page().await);
    let receipt = page.text("#receipt").await;
    assert!(receipt.contains("0.01 ETH") && receipt.contains(hostile), "{receipt}");

    // The way back to the shop carries a signature the shop can check,
    // and a customer who edits the status breaks it.
    let link = page.attr("#return-link", "href").await.unwrap();
    assert!(link.starts_with(&format!("http://127.0.0.1:9/thanks?order={id}&")), "{link}");
    assert_eq!(verify_return_link(&link, &secret), Ok((id.to_owned(), "settled".to_owned())));
    let edited_status = link.replace("coffer_status=settled", "coffer_status=processing");
    assert!(verify_return_link(&edited_status, &secret).is_err(), "an edited status fails");
    let edited = link.replace(id, "inv_00000000000000000000000000000000");
    assert!(verify_return_link(&edited, &secret).is_err(), "another invoice's id fails");
    assert!(verify_return_link(&link, "whsec_not_the_shops").is_err());
    assert_eq!(page.attr("main#checkout", "data-redirect").await.as_deref(), Some(link.as_str()));
    documented_check(&link, &secret, &edited_status);

    // Every request the page made went to the gateway itself.
    let requests = page.eval("return performance.getEntriesByType('resource').map(e => e.name)").await;
    let requests: Vec<String> = serde_json::from_value(requests).unwrap();
    assert!(!requests.is_empty());
    for request in &requests {
        assert!(request.starts_with(&dev.base), "a request left for another origin: {request}");
    }
}

#[tokio::test]
async fn with_javascript_off_the_page_refreshes_itself_and_a_token_qr_holds_the_bare_address() {
    if !browser::available() {
        return;
    }
    let dev = Dev::start();
    let invoice = dev.post("/v1/invoices", json!({"amount": "12.5", "asset": "USDT", "order_id": "B-2"})).await;
    let (id, url) = (invoice["id"].as_str().unwrap(), invoice["checkout_url"].as_str().unwrap());
    let address = invoice["address"].as_str().unwrap();

    let page = Browser::start(false).await;
    page.client.goto(&format!("{url}?lang=de")).await.unwrap();
    page.wait_for_state("waiting", Duration::from_secs(10)).await;
    assert!(page.text("#status-title").await.contains("Wir warten"), "German by ?lang=de");
    assert_eq!(decode_qr(&page.screenshot("#qr").await), address, "a token's QR code holds the address alone");
    let wallet = page.attr("#open-in-wallet", "href").await.unwrap();
    assert!(wallet.ends_with(&format!("/transfer?address={address}&uint256=12500000")), "{wallet}");
    let wallet_button = page.client.find(fantoccini::Locator::Css("#browser-wallet")).await.unwrap();
    assert!(!wallet_button.is_displayed().await.unwrap(), "no script, no wallet button shown");
    keep_screenshot("checkout-no-javascript.png", &page.screenshot_page().await);

    dev.pay(id, None);
    // Only the page's own refresh can move it on: scripts are off.
    page.wait_for_state("settled", Duration::from_secs(60)).await;
    assert!(page.text("#status-title").await.contains("Bezahlt"));
    let _ = dev.dir();
}

#[tokio::test]
async fn the_page_sends_strict_headers_no_cookie_and_one_link_opens_one_invoice() {
    let dev = Dev::start();
    let one = dev.post("/v1/invoices", json!({"amount": "1", "asset": "USDT"})).await;
    let two = dev.post("/v1/invoices", json!({"amount": "1", "asset": "USDT"})).await;
    let (url_one, url_two) = (one["checkout_url"].as_str().unwrap(), two["checkout_url"].as_str().unwrap());
    let token = |url: &str| url.rsplit('/').next().unwrap().to_owned();
    assert_eq!(token(url_one).len(), 48, "192 random bits");
    assert_ne!(token(url_one), token(url_two));

    let page = reqwest::get(url_one).await.unwrap();
    assert_eq!(page.status(), 200);
    let headers = page.headers().clone();
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{csp}");
    assert_eq!(headers["referrer-policy"], "no-referrer", "the token must not leak to the next site");
    assert_eq!(headers["cache-control"], "no-store");
    assert!(!headers.contains_key("set-cookie"));
    let html = page.text().await.unwrap();
    assert!(html.contains(one["address"].as_str().unwrap()) && !html.contains(two["address"].as_str().unwrap()));
    assert!(!html.contains(one["id"].as_str().unwrap()), "the page does not name the API id before payment");

    // A guessed, truncated or malformed token finds nothing, and says only that.
    for wrong in [
        format!("{}/pay/{}", dev.base, "0".repeat(48)),
        url_one[..url_one.len() - 1].to_owned(),
        format!("{}/pay/{}", dev.base, one["id"].as_str().unwrap()),
        format!("{}/pay/..%2F..%2Fetc%2Fpasswd", dev.base),
    ] {
        let answer = reqwest::get(&wrong).await.unwrap();
        assert_eq!(answer.status(), 404, "{wrong}");
        assert!(answer.text().await.unwrap().contains("No such payment page"));
    }
    let events = reqwest::get(format!("{url_one}/events")).await.unwrap();
    assert_eq!(events.headers()["content-type"], "text/event-stream");

    // Branding is served under the page's token, as an image and a stylesheet.
    assert_eq!(reqwest::get(format!("{url_one}/logo")).await.unwrap().status(), 404, "none yet");
    dev.brand("#ffd400");
    let html = reqwest::get(url_one).await.unwrap().text().await.unwrap();
    assert!(html.contains(&format!("src=\"/pay/{}/logo\"", token(url_one))), "{html}");
    let logo = reqwest::get(format!("{url_one}/logo")).await.unwrap();
    assert_eq!(logo.headers()["content-type"], "image/png");
    assert_eq!(logo.headers()["x-content-type-options"], "nosniff");
    assert!(logo.headers()["content-security-policy"].to_str().unwrap().contains("default-src 'none'"));
    assert_eq!(logo.bytes().await.unwrap().to_vec(), logo_png());
    let theme = reqwest::get(format!("{url_one}/theme.css")).await.unwrap().text().await.unwrap();
    assert_eq!(theme, ":root { --accent: #ffd400; --on-accent: #14181b; }\n", "dark text on a light colour");
    assert_eq!(reqwest::get(format!("{}/pay/{}/logo", dev.base, "0".repeat(48))).await.unwrap().status(), 404);
    // An SVG (it could carry script) and a colour that is not one are refused.
    let svg = dev.dir().join("logo.svg");
    std::fs::write(&svg, "<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>").unwrap();
    let config = dev.dir().join("coffer.toml");
    for args in [["--logo", svg.to_str().unwrap()], ["--color", "#fff;}body{display:none"]] {
        let refused = crate::support::run_err(
            coffer().args(["merchant", "brand", "--merchant", &dev.merchant]).args(args).arg("--config").arg(&config),
        );
        assert!(!refused.stderr.is_empty());
    }
}
