//! The signed link back to the shop.
//!
//! A customer could type the shop's success URL by hand and claim "paid";
//! so the link carries a signature the shop checks with its webhook
//! secret, exactly as it checks a webhook (`Coffer-Signature`):
//!
//! ```text
//! https://shop.example/thanks?order=inv_…&coffer_invoice=inv_…&coffer_status=settled
//!     &coffer_webhook=wh_…&coffer_signature=t%3D1767225600%2Cv1%3D<hex>
//! ```
//!
//! where `v1` is HMAC-SHA256, keyed with the secret of webhook endpoint
//! `coffer_webhook`, of `<t>.coffer-return.v1.<invoice>.<status>`. The
//! shop recomputes it and refuses a timestamp older than a few minutes
//! (the page signs afresh on every render). A merchant with no webhook
//! endpoint gets an unsigned link, and should trust only the API then.

use coffer_domain::{InvoiceId, InvoiceStatus, ReturnUrl, Timestamp};
use coffer_store::WebhookEndpoint;

/// What the shop verifies the signature over, after `<t>.`.
pub(crate) fn signed_text(invoice: InvoiceId, status: InvoiceStatus) -> String {
    format!("coffer-return.v1.{invoice}.{}", status.as_str())
}

/// `url` for `invoice` in `status`, signed with `endpoint`'s secret if any.
pub(crate) fn build(
    url: &ReturnUrl,
    invoice: InvoiceId,
    status: InvoiceStatus,
    endpoint: Option<&WebhookEndpoint>,
    now: Timestamp,
) -> String {
    let base = url.for_invoice(&invoice.to_string());
    let (base, fragment) = match base.split_once('#') {
        Some((before, after)) => (before.to_owned(), Some(after.to_owned())),
        None => (base, None),
    };
    let mut link = base;
    link.push(if link.contains('?') { '&' } else { '?' });
    link.push_str(&format!("coffer_invoice={invoice}&coffer_status={}", status.as_str()));
    if let Some(endpoint) = endpoint {
        let signature = coffer_webhooks::signature::sign(
            &endpoint.secret,
            now.as_millis() / 1000,
            signed_text(invoice, status).as_bytes(),
        );
        let encoded = signature.replace('=', "%3D").replace(',', "%2C");
        link.push_str(&format!("&coffer_webhook={}&coffer_signature={encoded}", endpoint.id));
    }
    if let Some(fragment) = fragment {
        link.push('#');
        link.push_str(&fragment);
    }
    link
}

#[cfg(test)]
mod tests {
    use super::*;
    use coffer_domain::{MerchantId, WebhookId};

    fn endpoint() -> WebhookEndpoint {
        WebhookEndpoint {
            id: WebhookId::new(),
            merchant_id: MerchantId::new(),
            url: "https://shop.example/hook".into(),
            events: Vec::new(),
            secret: "whsec_test".into(),
            created_at: Timestamp::from_millis(0),
        }
    }

    fn query(link: &str, name: &str) -> String {
        let query = link.split_once('?').unwrap().1.split('#').next().unwrap();
        let value = query.split('&').find_map(|kv| kv.strip_prefix(&format!("{name}="))).unwrap();
        value.replace("%3D", "=").replace("%2C", ",")
    }

    #[test]
    fn the_shop_verifies_the_link_with_its_webhook_secret_and_a_forged_status_fails() {
        let (invoice, hook, now) = (InvoiceId::new(), endpoint(), Timestamp::now());
        let url = ReturnUrl::parse("https://shop.example/thanks?order={INVOICE_ID}#done").unwrap();
        let link = build(&url, invoice, InvoiceStatus::Settled, Some(&hook), now);
        assert!(link.starts_with(&format!("https://shop.example/thanks?order={invoice}&coffer_invoice={invoice}")));
        assert!(link.ends_with("#done"));
        let signature = query(&link, "coffer_signature");
        let secs = now.as_millis() / 1000;
        let text = |status| signed_text(query(&link, "coffer_invoice").parse().unwrap(), status);
        assert_eq!(query(&link, "coffer_webhook"), hook.id.to_string());
        coffer_webhooks::signature::verify(
            "whsec_test",
            &signature,
            text(InvoiceStatus::Settled).as_bytes(),
            secs,
            300,
        )
        .unwrap();
        // A customer who edits the status, or a stranger's secret, gets nowhere.
        assert!(
            coffer_webhooks::signature::verify(
                "whsec_test",
                &signature,
                text(InvoiceStatus::New).as_bytes(),
                secs,
                300
            )
            .is_err()
        );
        assert!(
            coffer_webhooks::signature::verify(
                "whsec_other",
                &signature,
                text(InvoiceStatus::Settled).as_bytes(),
                secs,
                300
            )
            .is_err()
        );
        // An old link is stale.
        assert!(
            coffer_webhooks::signature::verify(
                "whsec_test",
                &signature,
                text(InvoiceStatus::Settled).as_bytes(),
                secs + 3600,
                300
            )
            .is_err()
        );
    }

    #[test]
    fn without_an_endpoint_the_link_is_plain() {
        let url = ReturnUrl::parse("https://shop.example/cart").unwrap();
        let invoice = InvoiceId::new();
        let link = build(&url, invoice, InvoiceStatus::New, None, Timestamp::now());
        assert_eq!(link, format!("https://shop.example/cart?coffer_invoice={invoice}&coffer_status=new"));
    }
}
