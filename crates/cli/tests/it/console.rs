//! The web console against `coffer dev`: a merchant signs in with a
//! one-time link in a real Chromium, finds an invoice paid on the dev chain,
//! reads its story (payment, ledger lines, deliveries) and redelivers a webhook, and each step lands on the audit log. Then, as an
//! attacker with plain HTTP: another merchant's session, a form without its
//! CSRF token, a post from another site, a spent link and a revoked key all
//! get nothing.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use fantoccini::Locator;
use reqwest::header::{CONTENT_TYPE, COOKIE, ORIGIN, SET_COOKIE};
use serde_json::{Value, json};

use crate::browser::{self, Browser, keep_screenshot};
use crate::checkout::Dev;
use crate::http_double::Double;

fn link_for(dev: &Dev, merchant: &str) -> String {
    let out = dev.cli(&["console", "link", "--merchant", merchant, "--base-url", &dev.base]);
    let link = out.trim().to_owned();
    assert!(link.starts_with(&format!("{}/console/sign-in?link=", dev.base)), "{link}");
    link
}

fn audit_log(dev: &Dev) -> Vec<Value> {
    let out = dev.cli(&["audit", "export"]);
    out.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn secret_of(link: &str) -> &str {
    link.rsplit('=').next().unwrap()
}

const FORM: &str = "application/x-www-form-urlencoded";

/// An `application/x-www-form-urlencoded` body, as a browser encodes a form.
fn form(fields: &[(&str, &str)]) -> String {
    let encode = |text: &str| {
        text.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect::<String>()
    };
    fields.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&")
}

/// A client that follows no redirect, so every answer is seen as sent.
fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// Signs in over plain HTTP as a browser would post the form: the session cookie.
async fn sign_in(dev: &Dev, field: &str, value: &str) -> reqwest::Response {
    sign_in_at(&dev.base, field, value).await
}

async fn sign_in_at(base: &str, field: &str, value: &str) -> reqwest::Response {
    client()
        .post(format!("{base}/console/sign-in"))
        .header(ORIGIN, base)
        .header(CONTENT_TYPE, FORM)
        .body(form(&[(field, value)]))
        .send()
        .await
        .unwrap()
}

fn session_cookie(response: &reqwest::Response) -> String {
    let set = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Strict") && set.contains("Path=/console"), "{set}");
    set.split(';').next().unwrap().to_owned()
}

async fn get(dev: &Dev, cookie: &str, path: &str) -> (u16, String) {
    get_at(&dev.base, cookie, path).await
}

async fn get_at(base: &str, cookie: &str, path: &str) -> (u16, String) {
    let answer = client().get(format!("{base}{path}")).header(COOKIE, cookie).send().await.unwrap();
    (answer.status().as_u16(), answer.text().await.unwrap())
}

/// The `csrf` token of the first form on a page.
fn csrf_of(html: &str) -> String {
    html.split("name=\"csrf\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn a_merchant_signs_in_finds_an_invoice_and_redelivers_its_webhook() {
    if !browser::available() {
        return;
    }
    let dev = Dev::start();
    let receiver = Double::start(vec![("POST", "/hooks".into(), 200, "{}".into())]);
    let events = json!(["invoice.settled"]);
    dev.post("/v1/webhooks", json!({"url": format!("{}/hooks", receiver.url), "events": events})).await;
    let order = "ORDER-<b>42</b>";
    let invoice = dev.post("/v1/invoices", json!({"amount": "0.01", "asset": "ETH", "order_id": order})).await;
    let id = invoice["id"].as_str().unwrap().to_owned();
    dev.post("/v1/invoices", json!({"amount": "3", "asset": "USDT", "order_id": "OTHER-1"})).await;
    dev.pay(&id, None);
    wait_until("the settlement's webhook arrives", || receiver.posted("/hooks").len() == 1);

    let page = Browser::start(true).await;
    page.client.set_window_size(1100, 1300).await.unwrap();
    page.client.goto(&link_for(&dev, &dev.merchant)).await.unwrap();
    // Opening the link signs no one in; the button does.
    page.client.find(Locator::Css("#use-link")).await.unwrap().click().await.unwrap();
    wait_for_page(&page, "invoices").await;
    assert_eq!(page.text("#signed-in-as").await, "Demo shop");
    let cookies = page.client.get_all_cookies().await.unwrap();
    let cookie = cookies.iter().find(|c| c.name() == "coffer_console").unwrap();
    assert_eq!((cookie.http_only(), cookie.path()), (Some(true), Some("/console")));
    assert_eq!(format!("{:?}", cookie.same_site()), "Some(Strict)");

    let search = page.client.find(Locator::Css("#search")).await.unwrap();
    search.send_keys(order).await.unwrap();
    page.client.find(Locator::Css("#filter")).await.unwrap().click().await.unwrap();
    wait_for_page(&page, "invoices").await;
    let rows = page.client.find_all(Locator::Css("#invoices tbody tr")).await.unwrap();
    assert_eq!(rows.len(), 1, "the search finds the one invoice");
    assert_eq!(page.text("#invoices tbody td.order").await, order, "markup in an order id is text");
    page.client.find(Locator::LinkText(&id)).await.unwrap().click().await.unwrap();
    wait_for_page(&page, "invoice").await;
    assert_eq!(page.text("#invoice-id").await, id);
    assert!(page.text("#invoice-facts").await.contains("settled"));
    let payment = page.text("#payments tbody tr").await;
    assert!(payment.contains("0.01 ETH") && payment.contains("of 2") && payment.contains("confirmed"), "{payment}");
    let ledger = page.text("#ledger").await;
    assert!(ledger.contains("receipt") && ledger.contains("settlement") && ledger.contains("Your balance"), "{ledger}");
    assert_eq!(page.text("#deliveries tbody td.state").await, "delivered");
    keep_screenshot("console-invoice.png", &page.screenshot_page().await);

    page.client.find(Locator::Css("button.redeliver")).await.unwrap().click().await.unwrap();
    wait_for_page(&page, "invoice").await;
    assert!(page.text("#flash").await.starts_with("Queued again"), "{}", page.text("#flash").await);
    assert_eq!(page.client.find_all(Locator::Css("#deliveries tbody tr")).await.unwrap().len(), 2);
    wait_until("the redelivery arrives", || receiver.posted("/hooks").len() == 2);
    let bodies = receiver.posted("/hooks");
    assert_eq!(bodies[0]["id"], bodies[1]["id"], "the same event, sent again");

    // Every step is on the audit log, under one actor name.
    let log = audit_log(&dev);
    let find = |action: &str| log.iter().rev().find(|e| e["action"] == action).cloned().unwrap_or_default();
    let signed_in = find("console.signed_in");
    let redelivered = find("console.webhook_redelivered");
    assert_eq!(signed_in["subject"], dev.merchant.as_str());
    assert_eq!(redelivered["detail"]["invoice_id"], id.as_str());
    assert!(signed_in["actor"].as_str().unwrap().starts_with("console:"));
    assert_eq!(signed_in["actor"], redelivered["actor"], "the action names the sign-in it came from");
    assert!(log.iter().any(|e| e["action"] == "console.link_created"));
    dev.cli(&["audit", "verify"]);

    page.client.find(Locator::Css("#sign-out")).await.unwrap().click().await.unwrap();
    wait_for_page(&page, "sign-in").await;
    page.client.goto(&format!("{}/console/invoices/{id}", dev.base)).await.unwrap();
    wait_for_page(&page, "sign-in").await;
    assert!(audit_log(&dev).iter().any(|e| e["action"] == "console.signed_out"));
}

#[tokio::test]
async fn another_merchant_a_forged_form_a_spent_link_and_a_revoked_key_get_nothing() {
    let dev = Dev::start();
    let invoice = dev.post("/v1/invoices", json!({"amount": "1", "asset": "USDT", "order_id": "MINE-1"})).await;
    let id = invoice["id"].as_str().unwrap().to_owned();

    // The shop's own session.
    let link = link_for(&dev, &dev.merchant);
    let signed = sign_in(&dev, "link", secret_of(&link)).await;
    assert_eq!(signed.status(), 303);
    let mine = session_cookie(&signed);
    let (status, html) = get(&dev, &mine, &format!("/console/invoices/{id}")).await;
    assert_eq!(status, 200);
    assert!(html.contains("MINE-1"));
    let csrf = csrf_of(&html);

    // The link works once.
    assert_eq!(sign_in(&dev, "link", secret_of(&link)).await.status(), 401);

    // Another merchant, signed in with its own link, sees nothing of it.
    let other = dev.cli(&["merchant", "create", "--name", "Other shop"]).trim().to_owned();
    let theirs = session_cookie(&sign_in(&dev, "link", secret_of(&link_for(&dev, &other))).await);
    let (status, html) = get(&dev, &theirs, &format!("/console/invoices/{id}")).await;
    assert_eq!(status, 404, "{html}");
    assert!(!html.contains("MINE-1"));
    let (_, list) = get(&dev, &theirs, "/console/invoices?q=MINE-1").await;
    assert!(list.contains("No invoices match") && !list.contains(&id));
    let (_, list) = get(&dev, &theirs, &format!("/console/invoices?q={}", invoice["address"].as_str().unwrap())).await;
    assert!(list.contains("No invoices match"));

    // Forms without the session's token, or from another site, are refused.
    let sign_out = format!("{}/console/sign-out", dev.base);
    let post = |form: Vec<(&'static str, String)>, origin: &str| {
        let body: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let request = client().post(&sign_out).header(COOKIE, &mine).header(ORIGIN, origin);
        request.header(CONTENT_TYPE, FORM).body(self::form(&body)).send()
    };
    let answer = post(vec![], &dev.base).await.unwrap();
    assert_eq!(answer.status(), 403);
    assert!(answer.text().await.unwrap().contains("csrf_token_invalid"));
    let answer = post(vec![("csrf", "0".repeat(48))], &dev.base).await.unwrap();
    assert_eq!(answer.status(), 403, "a wrong token");
    // Their own token on our session: tokens belong to sessions.
    let (_, their_page) = get(&dev, &theirs, "/console/invoices").await;
    assert_eq!(post(vec![("csrf", csrf_of(&their_page))], &dev.base).await.unwrap().status(), 403);
    let answer = post(vec![("csrf", csrf.clone())], "http://evil.example").await.unwrap();
    assert_eq!(answer.status(), 403);
    assert!(answer.text().await.unwrap().contains("cross_site"));
    assert_eq!(get(&dev, &mine, "/console/invoices").await.0, 200, "still signed in after the refusals");
    assert_eq!(post(vec![("csrf", csrf)], &dev.base).await.unwrap().status(), 303, "the real form signs out");
    assert_eq!(get(&dev, &mine, "/console/invoices").await.0, 303, "and the cookie opens nothing after");

    // The operator revokes the other shop's sessions from the host.
    assert_eq!(get(&dev, &theirs, "/console/invoices").await.0, 200);
    dev.cli(&["console", "sign-out", "--merchant", &other]);
    assert_eq!(get(&dev, &theirs, "/console/invoices").await.0, 303, "signed out by the operator");

    // The operator's console is on the operator's own listener only (dev
    // serves the operator's routes apart): refused on the public one, and
    // that refusal does not spend the link.
    let operator_url = dev.info["operator_url"].as_str().unwrap();
    let operator_link = dev.cli(&["console", "link", "--operator", "--base-url", operator_url]);
    let secret = secret_of(operator_link.trim());
    assert_eq!(sign_in(&dev, "link", secret).await.status(), 401, "not on the public listener");
    let operator = session_cookie(&sign_in_at(operator_url, "link", secret).await);
    let (status, html) = get_at(operator_url, &operator, "/console/merchants").await;
    assert_eq!(status, 200);
    assert!(html.contains("Demo shop") && html.contains("Other shop"));
    assert_eq!(get_at(operator_url, &mine_again(&dev).await, "/console/merchants").await.0, 303, "no merchant there");
    assert_eq!(get_at(operator_url, &mine_again(&dev).await, "/console/invoices").await.0, 303);

    // A key that may read invoices but not webhooks sees no deliveries.
    let reader = dev.cli(&["apikey", "create", "--merchant", &dev.merchant, "--scopes", "invoices:read"]);
    let by_reader = session_cookie(&sign_in(&dev, "api_key", reader.trim()).await);
    let (status, html) = get(&dev, &by_reader, &format!("/console/invoices/{id}")).await;
    assert_eq!(status, 200);
    assert!(html.contains("webhooks-hidden") && !html.contains("id=\"deliveries\""));

    // An API key signs in, and its session ends when the key is revoked.
    let key_session = sign_in(&dev, "api_key", &dev.key).await;
    assert_eq!(key_session.status(), 303);
    let by_key = session_cookie(&key_session);
    assert_eq!(get(&dev, &by_key, "/console/invoices").await.0, 200);
    assert_eq!(sign_in(&dev, "api_key", "coffer_sk_00000000000000000000000000000000_x").await.status(), 401);
    let key_id = dev.key.split('_').nth(2).unwrap();
    dev.cli(&["apikey", "revoke", &format!("key_{key_id}")]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while get(&dev, &by_key, "/console/invoices").await.0 != 303 {
        assert!(Instant::now() < deadline, "a revoked key's session must end");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The console's pages run no script and cannot be framed.
    let answer = client().get(format!("{}/console/sign-in", dev.base)).send().await.unwrap();
    let csp = answer.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(
        !csp.contains("script-src") && csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'")
    );
    assert_eq!(answer.headers()["x-frame-options"], "DENY");
    assert_eq!(answer.headers()["cache-control"], "no-store");
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within 20 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until the console shows `page` (its `main#console[data-page]`).
async fn wait_for_page(page: &Browser, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(main) = page.client.find(Locator::Css("main#console")).await
            && let Ok(Some(now)) = main.attr("data-page").await
            && now == name
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the console did not show {name:?}: {}",
            page.client.source().await.unwrap()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A fresh session of the demo shop, from a new link.
async fn mine_again(dev: &Dev) -> String {
    session_cookie(&sign_in(dev, "link", secret_of(&link_for(dev, &dev.merchant))).await)
}

/// Posts a console form with the session's cookie and token, from its own origin.
async fn post_form(base: &str, cookie: &str, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    client()
        .post(format!("{base}{path}"))
        .header(COOKIE, cookie)
        .header(ORIGIN, base)
        .header(CONTENT_TYPE, FORM)
        .body(form(fields))
        .send()
        .await
        .unwrap()
}

fn location(response: &reqwest::Response) -> String {
    response.headers()["location"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_operator_decides_a_hold_and_a_shop_manages_keys_webhooks_and_payouts() {
    let dev = Dev::start();
    let invoice = dev.post("/v1/invoices", json!({"amount": "3", "asset": "USDT"})).await;
    let id = invoice["id"].as_str().unwrap().to_owned();
    // The Ronin exploiter, on OFAC's list: the payment is held.
    let sanctioned = "0x098B716B8Aaf21512996dC57EB0615e2383E2f96";
    crate::support::run_ok(
        crate::support::coffer().args(["dev", "pay", &id, "--from", sanctioned, "--dir"]).arg(dev.dir()),
    );

    let operator_url = dev.info["operator_url"].as_str().unwrap();
    let link = dev.cli(&["console", "link", "--operator", "--base-url", operator_url]);
    let operator = session_cookie(&sign_in_at(operator_url, "link", secret_of(link.trim())).await);
    let deadline = Instant::now() + Duration::from_secs(20);
    let (held, pay_id) = loop {
        let (_, html) = get_at(operator_url, &operator, "/console/holds").await;
        if let Some(rest) = html.split("data-key=\"").nth(1) {
            break (html.clone(), rest.split('"').next().unwrap().to_owned());
        }
        assert!(Instant::now() < deadline, "no held payment listed: {html}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(held.contains(&id) && held.contains("sanction"), "{held}");
    let csrf = csrf_of(&held);
    let release = format!("/console/holds/{pay_id}/release");
    let unexplained = post_form(operator_url, &operator, &release, &[("csrf", &csrf), ("note", " ")]).await;
    assert_eq!(location(&unexplained), "/console/holds?done=note_needed", "a decision needs a reason");
    let why = "KYC-4411: the sender is our customer, listed in error";
    let released = post_form(operator_url, &operator, &release, &[("csrf", &csrf), ("note", why)]).await;
    assert_eq!(location(&released), "/console/holds?done=released");
    let log = audit_log(&dev);
    let entry = log.iter().find(|e| e["action"] == "screening.released").unwrap();
    assert!(entry["actor"].as_str().unwrap().starts_with("console:") && entry["detail"]["reason"] == why, "{entry}");
    let (_, chains) = get_at(operator_url, &operator, "/console/chains").await;
    assert!(chains.contains("anvil (31337)"), "{chains}");
    let (_, treasury) = get_at(operator_url, &operator, "/console/treasury").await;
    assert!(treasury.contains("USDT (31337)") && treasury.contains("ETH (31337)"), "{treasury}");
    let (_, signer) = get_at(operator_url, &operator, "/console/signer").await;
    let freeze = format!("coffer freeze --key YOUR.key --gateway {operator_url}");
    assert!(signer.contains("Not frozen") && signer.contains(&freeze), "{signer}");
    assert!(signer.contains("No payout is waiting for approvers"));
    assert_eq!(get(&dev, &mine_again(&dev).await, "/console/treasury").await.0, 404, "not a merchant's page");

    // The shop, signed in with a link, makes a read-only key and revokes it.
    let shop = session_cookie(&sign_in(&dev, "link", secret_of(&link_for(&dev, &dev.merchant))).await);
    let (_, keys) = get(&dev, &shop, "/console/keys").await;
    let csrf = csrf_of(&keys);
    let fields = [("csrf", csrf.as_str()), ("label", "reports"), ("scopes", "invoices:read")];
    let made = post_form(&dev.base, &shop, "/console/keys", &fields).await.text().await.unwrap();
    let token = made.split("id=\"revealed-value\">").nth(1).unwrap().split('<').next().unwrap().to_owned();
    let http = reqwest::Client::new();
    let read = |token: String| {
        let http = http.clone();
        let url = format!("{}/v1/invoices", dev.base);
        async move { http.get(url).bearer_auth(token).send().await.unwrap().status().as_u16() }
    };
    assert_eq!(read(token.clone()).await, 200, "the new key works");
    let key_id = format!("key_{}", token.split('_').nth(2).unwrap());
    let created =
        audit_log(&dev).into_iter().find(|e| e["action"] == "api_key.created" && e["subject"] == key_id.as_str());
    assert!(created.unwrap()["actor"].as_str().unwrap().starts_with("console:"));
    let revoked = post_form(&dev.base, &shop, &format!("/console/keys/{key_id}/revoke"), &[("csrf", &csrf)]).await;
    assert_eq!(location(&revoked), "/console/keys");
    let deadline = Instant::now() + Duration::from_secs(10);
    while read(token.clone()).await != 401 {
        assert!(Instant::now() < deadline, "a revoked key must stop working");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // Another shop's key is not ours to revoke; a key's session makes no keys.
    let other = dev.cli(&["merchant", "create", "--name", "Other shop"]).trim().to_owned();
    let theirs = dev.cli(&["apikey", "create", "--merchant", &other, "--scopes", "invoices:read"]);
    let their_id = format!("key_{}", theirs.trim().split('_').nth(2).unwrap());
    let answer = post_form(&dev.base, &shop, &format!("/console/keys/{their_id}/revoke"), &[("csrf", &csrf)]).await;
    assert_eq!(answer.status(), 404);
    assert_eq!(read(theirs.trim().to_owned()).await, 200, "still working");
    let by_key = session_cookie(&sign_in(&dev, "api_key", &dev.key).await);
    let (_, page) = get(&dev, &by_key, "/console/keys").await;
    assert!(!page.contains("id=\"new-key\""), "no form to make one");
    let key_csrf = csrf_of(&page);
    let answer =
        post_form(&dev.base, &by_key, "/console/keys", &[("csrf", &key_csrf), ("scopes", "payouts:write")]).await;
    assert_eq!(answer.status(), 403);
    assert!(answer.text().await.unwrap().contains("key_session_cannot_manage_keys"));

    // Balances and payouts, as the API has them.
    let (status, balances) = get(&dev, &shop, "/console/balances").await;
    assert_eq!(status, 200);
    assert!(balances.contains("id=\"balances\""), "{balances}");
    let (status, payouts) = get(&dev, &shop, "/console/payouts").await;
    assert_eq!(status, 200);
    assert!(payouts.contains("No payout yet"));

    // Webhook endpoints: registered (its secret shown once), listed by the
    // API too, and deleted, each under the session's name.
    let hooks =
        [("csrf", csrf.as_str()), ("url", "http://127.0.0.1:9/hooks"), ("events", "invoice.settled, invoice.expired")];
    let shown = post_form(&dev.base, &shop, "/console/webhooks", &hooks).await.text().await.unwrap();
    let secret = shown.split("id=\"revealed-value\">").nth(1).unwrap().split('<').next().unwrap();
    assert!(secret.starts_with("whsec_"), "{secret}");
    let listed: Value =
        http.get(format!("{}/v1/webhooks", dev.base)).bearer_auth(&dev.key).send().await.unwrap().json().await.unwrap();
    let endpoint = listed["data"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(listed["data"][0]["events"], json!(["invoice.settled", "invoice.expired"]));
    let bad = [("csrf", csrf.as_str()), ("url", "ftp://example.com/x"), ("events", "invoice.settled")];
    let refused = post_form(&dev.base, &shop, "/console/webhooks", &bad).await.text().await.unwrap();
    assert!(refused.contains("(invalid_webhook_url)"), "{refused}");
    let gone = post_form(&dev.base, &shop, &format!("/console/webhooks/{endpoint}/delete"), &[("csrf", &csrf)]).await;
    assert_eq!(location(&gone), "/console/webhooks");
    let listed: Value =
        http.get(format!("{}/v1/webhooks", dev.base)).bearer_auth(&dev.key).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed["data"], json!([]));
    let log = audit_log(&dev);
    for action in ["webhook.registered", "webhook.deleted"] {
        let entry = log.iter().find(|e| e["action"] == action).unwrap();
        assert!(entry["actor"].as_str().unwrap().starts_with("console:"), "{entry}");
    }

    // The released payment settled the invoice: the shop asks for a payout
    // of part of it. The form's key makes a double submit reserve once.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !get(&dev, &shop, "/console/balances").await.1.contains(">3<") {
        assert!(Instant::now() < deadline, "the released payment never reached the balance");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, payouts) = get(&dev, &shop, "/console/payouts").await;
    let key = payouts.split("name=\"idempotency_key\" value=\"").nth(1).unwrap().split('"').next().unwrap().to_owned();
    let to = "0x000000000000000000000000000000000000dEaD";
    let too_much = [
        ("csrf", csrf.as_str()),
        ("amount", "30"),
        ("asset", "USDT"),
        ("destination", to),
        ("idempotency_key", "console-x"),
    ];
    let refused = post_form(&dev.base, &shop, "/console/payouts", &too_much).await.text().await.unwrap();
    assert!(refused.contains("(insufficient_balance)"), "{refused}");
    let ask =
        [("csrf", csrf.as_str()), ("amount", "1"), ("asset", "USDT"), ("destination", to), ("idempotency_key", &key)];
    for _ in 0..2 {
        let asked = post_form(&dev.base, &shop, "/console/payouts", &ask).await;
        assert_eq!(location(&asked), "/console/payouts?done=payout_reserved");
    }
    let log = audit_log(&dev);
    let requested: Vec<_> = log.iter().filter(|e| e["action"] == "payout.requested").collect();
    assert_eq!(requested.len(), 1, "one payout for two posts of one form");
    assert!(requested[0]["actor"].as_str().unwrap().starts_with("console:"));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, page) = get(&dev, &shop, "/console/payouts").await;
        // The signer's verdict, whichever it is: sent, or refused with its
        // rule tag (here the hot wallet may not hold the swept USDT yet).
        if page.contains(">broadcast<") || page.contains(">confirmed<") {
            break;
        }
        if let Some(verdict) = page.split("<td>refused: ").nth(1) {
            let verdict = verdict.split("</td>").next().unwrap();
            assert!(verdict.ends_with(')') && verdict.contains('.'), "a refusal names its rule: {verdict}");
            break;
        }
        assert!(Instant::now() < deadline, "no verdict from the signer: {page}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
