use coffer_domain::{AssetId, ChainId};

use super::*;

fn eth() -> Asset {
    Asset {
        id: AssetId { chain_id: ChainId(31337), symbol: "ETH".parse().unwrap() },
        kind: AssetKind::Native,
        decimals: 18,
    }
}

fn usdt() -> Asset {
    Asset {
        id: AssetId { chain_id: ChainId(1), symbol: "USDT".parse().unwrap() },
        kind: AssetKind::Erc20 { contract: Address::repeat_byte(0xdd) },
        decimals: 6,
    }
}

fn facts(asset: &Asset) -> Facts<'_> {
    Facts {
        lang: Lang::En,
        merchant: "Shop",
        order_id: Some("A-1"),
        description: None,
        chain_name: "Anvil",
        asset,
        address: Address::repeat_byte(0x11),
        amount: U256::from(1_000_000u64),
        paid: U256::ZERO,
        status: InvoiceStatus::New,
        exceptions: Exceptions::default(),
        held: false,
        confirmations: None,
        block_secs: 12,
        transactions: Vec::new(),
        paid_at: None,
        invoice_id: "inv_1".into(),
        now: Timestamp::from_millis(1_000_000),
        expires_at: Timestamp::from_millis(1_000_000 + 900_000),
        page_path: "/pay/abc".into(),
        events_path: "/pay/abc/events".into(),
        success_link: None,
        cancel_link: None,
        logo_path: None,
        theme_path: None,
    }
}

#[test]
fn each_status_is_its_stage_and_a_hold_comes_first() {
    let asset = eth();
    let mut f = facts(&asset);
    assert_eq!(stage(&f), Stage::Waiting);
    f.paid = U256::from(400_000u64);
    assert_eq!(stage(&f), Stage::PartlyPaid { due: U256::from(600_000u64) });
    f.status = InvoiceStatus::Processing;
    f.confirmations = Some((1, 3));
    assert_eq!(stage(&f), Stage::Confirming { have: 1, need: 3 });
    f.held = true;
    assert_eq!(stage(&f), Stage::Held, "a held payment is under review, whatever else");
    f.held = false;
    for (status, expected) in [
        (InvoiceStatus::Settled, Stage::Settled),
        (InvoiceStatus::Expired, Stage::Expired),
        (InvoiceStatus::Invalid, Stage::Invalid),
    ] {
        f.status = status;
        assert_eq!(stage(&f), expected);
    }
}

#[test]
fn markup_from_the_merchant_is_text_and_the_page_has_no_inline_script() {
    let asset = eth();
    let mut f = facts(&asset);
    f.order_id = Some("<script>alert(1)</script>");
    f.merchant = "Bob's <b>Shop</b> \"&\"";
    f.description = Some("<img src=x onerror=alert(1)>");
    let html = page(&f).unwrap().html;
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"), "{html}");
    assert!(!html.contains("<img"), "{html}");
    assert!(!html.contains("<b>Shop"), "{html}");
    assert_eq!(html.matches("<script").count(), 1, "only the page's own script file");
    assert!(html.contains(r#"<script src="/pay/assets/checkout.js" defer></script>"#));
    assert!(!html.contains(" onclick=") && !html.contains("javascript:"), "no handler attributes, no script URLs");
}

#[test]
fn a_token_qr_code_holds_the_bare_address_and_eip681_sits_behind_a_link() {
    let asset = usdt();
    let f = facts(&asset);
    let (_, main) = main(&f);
    let pay = main.pay.unwrap();
    assert_eq!(pay.qr_content, f.address.to_checksum(None));
    assert!(pay.token);
    assert!(pay.wallet_link.starts_with("ethereum:0xDDdD"), "{}", pay.wallet_link);
    assert!(pay.wallet_link.ends_with("/transfer?address=0x1111111111111111111111111111111111111111&uint256=1000000"));
    assert_eq!(pay.tx_data.len(), 2 + 8 + 128, "transfer(address,uint256) calldata");
}

#[test]
fn an_ether_qr_code_asks_for_what_is_still_due() {
    let asset = eth();
    let mut f = facts(&asset);
    f.paid = U256::from(250_000u64);
    let (stage, main) = main(&f);
    assert_eq!(stage.name(), "partial");
    let pay = main.pay.unwrap();
    assert_eq!(pay.qr_content, "ethereum:0x1111111111111111111111111111111111111111@31337?value=750000");
    assert_eq!(pay.tx_value, "0xb71b0");
    assert!(main.body.contains("Still due: 0.00000000000075 ETH"), "{}", main.body);
}

#[test]
fn the_countdown_shows_only_near_the_end() {
    let asset = eth();
    let mut f = facts(&asset);
    assert!(!main(&f).1.countdown.unwrap().visible, "15 minutes left: no clock");
    f.now = Timestamp::from_millis(f.expires_at.as_millis() - 120_000);
    let countdown = main(&f).1.countdown.unwrap();
    assert!(countdown.visible);
    assert_eq!(countdown.text, "Expires in 2:00");
}

#[test]
fn a_settled_page_shows_a_receipt_and_returns_to_the_shop() {
    let asset = eth();
    let mut f = facts(&asset);
    f.status = InvoiceStatus::Settled;
    f.paid = f.amount;
    f.transactions = vec!["0xabc".into()];
    f.success_link = Some("https://shop.example/thanks?coffer_status=settled&amp=1".into());
    let rendered = page(&f).unwrap();
    assert_eq!(rendered.stage, Stage::Settled);
    assert!(rendered.html.contains("id=\"receipt\"") && rendered.html.contains("0xabc"));
    assert!(rendered.html.contains("data-redirect=\"https://shop.example/thanks?coffer_status=settled&#38;amp=1\""));
    assert!(rendered.html.contains("<meta http-equiv=\"refresh\" content=\"5;url=https://shop.example/thanks"));
    assert!(!rendered.html.contains("id=\"qr\""), "nothing more to pay");
}

#[test]
fn overpaid_and_late_payments_are_explained() {
    let asset = eth();
    let mut f = facts(&asset);
    f.status = InvoiceStatus::Settled;
    f.paid = U256::from(1_500_000u64);
    f.exceptions.insert(Exception::PaidOver);
    f.exceptions.insert(Exception::PaidLate);
    let (_, main) = main(&f);
    assert_eq!(main.notes.len(), 2, "{:?}", main.notes);
    assert!(main.notes[0].contains("0.0000000000005 ETH more"), "{:?}", main.notes);
}

#[test]
fn every_language_renders_every_stage() {
    let asset = usdt();
    for lang in Lang::ALL {
        for status in InvoiceStatus::ALL {
            let mut f = facts(&asset);
            f.lang = lang;
            f.status = status;
            let html = page(&f).unwrap().html;
            assert!(html.contains(&format!("<html lang=\"{}\">", lang.tag())));
            assert!(!html.contains('{') || !html.contains("{amount}"), "a placeholder left unfilled");
            assert!(fragment(&f).unwrap().html.starts_with("<main id=\"checkout\""));
        }
    }
}

#[test]
fn a_merchant_s_theme_is_a_stylesheet_and_its_logo_an_image_of_the_gateway() {
    let asset = usdt();
    let mut branded = facts(&asset);
    branded.logo_path = Some("/pay/abc/logo".into());
    branded.theme_path = Some("/pay/abc/theme.css".into());
    let html = page(&branded).unwrap().html;
    assert!(html.contains(r#"<link rel="stylesheet" href="/pay/abc/theme.css">"#));
    assert!(html.contains(r#"<img class="logo" id="logo" src="/pay/abc/logo" alt="">"#));
    assert!(!html.contains("style="), "no style attribute: the CSP allows none");
    let plain = page(&facts(&asset)).unwrap().html;
    assert!(!plain.contains("theme.css") && !plain.contains("id=\"logo\""));
    let css = crate::checkout::theme_css("#ffd400".parse().unwrap());
    assert_eq!(css, ":root { --accent: #ffd400; --on-accent: #14181b; }\n");
}

#[test]
fn text_is_dark_on_light_colours_and_light_on_dark_ones() {
    let on = |c: &str| crate::checkout::theme_css(c.parse().unwrap());
    assert!(on("#ffffff").contains("--on-accent: #14181b") && on("#ffd400").contains("--on-accent: #14181b"));
    assert!(on("#0b6e4f").contains("--on-accent: #ffffff") && on("#000000").contains("--on-accent: #ffffff"));
}
