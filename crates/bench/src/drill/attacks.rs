//! The attacker: everything a root on the gateway host can do, as fast as
//! the API takes it. Each attempt is recorded with its kind and outcome.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use alloy_primitives::{Address, U256};
use coffer_signer_api::{Decision, PolicyChange};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use super::config::DrillConfig;
use super::report::FreezeFacts;
use super::setup::{World, sign};
use super::{fresh_address, now, usdt};

/// One attempt's kind and what came of it.
pub(crate) type Tally = BTreeMap<(String, String), u64>;

pub(crate) struct Attack {
    pub(crate) attempts: Tally,
    pub(crate) attacker_addresses: Vec<Address>,
    pub(crate) started: Instant,
    pub(crate) finished: Instant,
    pub(crate) freeze: Option<FreezeFacts>,
    /// Ids of every request that reached the signer (to find on its log).
    pub(crate) signer_ids: Vec<String>,
    /// Requests the signer refused before reading them (auth), by count.
    pub(crate) rejected_unread: u64,
}

#[derive(Default)]
struct Shared {
    attempts: Tally,
    addresses: Vec<Address>,
    signer_ids: Vec<String>,
    rejected_unread: u64,
}

fn outcome(status: u16, body: &Value) -> String {
    let rule = body["rule"].as_str().or(body["error"]["rule"].as_str()).or(body["error"]["code"].as_str());
    match (status, body["state"].as_str().or(body["status"].as_str()), rule) {
        (_, _, Some(rule)) => rule.to_owned(),
        (_, Some(state), None) => state.to_owned(),
        _ => format!("http {status}"),
    }
}

fn payout_intent(id: &str, merchant: &str, whole: u64, to: Address) -> Value {
    json!({ "id": id, "merchant": merchant, "chain_id": 31337, "asset": "USDT",
        "amount": usdt(whole).to_string(), "destination": to })
}

fn payout_id() -> String {
    format!("po_{}", uuid::Uuid::now_v7().simple())
}

pub(crate) async fn run(world: &World, config: &DrillConfig) -> anyhow::Result<Attack> {
    let shared = Arc::new(Mutex::new(Shared::default()));
    let next = Arc::new(AtomicU64::new(0));
    let p = &config.policy;
    // Amounts split under every threshold: just under approvals, and smaller.
    let under = p.approval_above.min(p.max_per_payout).max(1);
    let amounts = [under, under.saturating_sub(1).max(1), (under / 2).max(1), (under / 3).max(1)];

    // Before the burst: a large payout that waits for approvals, for the
    // forged-approval attempts later.
    let waiting_id = payout_id();
    let merchant0 = world.merchants[0].id.to_string();
    let large = (p.approval_above + 1).min(p.max_per_payout);
    let waiting = payout_intent(&waiting_id, &merchant0, large, fresh_address(0xee, 0));
    // And one through the API, which the gateway knows and the operator
    // token can carry approvals for; it waits before the burst starts.
    let api_bait = fresh_address(0xee, 1);
    let (status, body) = world.payout(&world.merchants[0], large, api_bait, "attack-bait").await?;
    let api_bait_id = body["id"].as_str().unwrap_or_default().to_owned();
    let waited = Instant::now();
    while waited.elapsed() < Duration::from_secs(10) {
        let path = format!("/v1/payouts/{api_bait_id}");
        let (_, payout) = world.api(&world.merchants[0], "GET", &path, None, None).await?;
        if payout["status"] != "pending" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    record(
        &shared,
        "approval_bait_through_the_api",
        &outcome(status, &body),
        Some(api_bait_id.clone()),
        Some(api_bait),
    )
    .await;
    let started = Instant::now();
    let first_block = world.head().await;
    let (status, body) = world.signer_signed("POST", "/v1/payouts", &waiting, now()).await?;
    record(&shared, "approval_bait", &outcome(status, &body), Some(waiting_id.clone()), Some(fresh_address(0xee, 0)))
        .await;

    // The database is the attacker's: one merchant's balance multiplied.
    inflate_balance(world, &world.merchants[0].id.to_string()).await?;
    record(&shared, "db_inflate_balance", "written", None, None).await;

    let watcher = {
        async {
            loop {
                if let Ok(state) = world.control_state().await
                    && !state["frozen"].is_null()
                {
                    return Some(FreezeFacts {
                        reason: state["frozen"]["reason"].as_str().unwrap_or_default().to_owned(),
                        seen_after: started.elapsed(),
                        blocks_after: world.head().await.saturating_sub(first_block),
                    });
                }
                if started.elapsed() > Duration::from_secs(config.attack_secs) {
                    return None;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    let deadline = started + Duration::from_secs(config.attack_secs);
    let burst = async {
        let mut workers = Vec::new();
        for w in 0..config.attack_concurrency {
            let (shared, next) = (shared.clone(), next.clone());
            workers.push(async move {
                while Instant::now() < deadline {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    let to = fresh_address(0xa0, n);
                    let whole = amounts[usize::try_from(n).unwrap_or(0) % amounts.len()];
                    // Half through the gateway's API with stolen merchant keys,
                    // half straight to the signer with the gateway's request key.
                    if w % 2 == 0 {
                        let merchant = &world.merchants[usize::try_from(n).unwrap_or(0) % world.merchants.len()];
                        let key = format!("attack-{n}");
                        match world.payout(merchant, whole, to, &key).await {
                            Ok((status, body)) => {
                                let id = body["id"].as_str().map(str::to_owned);
                                record(&shared, "api_payout_fresh_address", &outcome(status, &body), id, Some(to))
                                    .await;
                            }
                            Err(_) => record(&shared, "api_payout_fresh_address", "error", None, None).await,
                        }
                    } else {
                        let id = payout_id();
                        let merchant =
                            world.merchants[usize::try_from(n).unwrap_or(0) % world.merchants.len()].id.to_string();
                        // One in four asks for ETH: every asset the hot wallet holds is a target.
                        let intent = if n % 4 == 3 {
                            json!({ "id": id, "merchant": merchant, "chain_id": 31337, "asset": "ETH",
                                "amount": "100000000000000000", "destination": to })
                        } else {
                            payout_intent(&id, &merchant, whole, to)
                        };
                        match world.signer_signed("POST", "/v1/payouts", &intent, now()).await {
                            Ok((status, body)) => {
                                record(&shared, "signer_direct_payout", &outcome(status, &body), Some(id), Some(to))
                                    .await;
                            }
                            Err(_) => record(&shared, "signer_direct_payout", "error", None, None).await,
                        }
                    }
                }
            });
        }
        futures_util::future::join_all(workers).await;
    };
    let (freeze, ()) = tokio::join!(watcher, burst);
    one_offs(world, &shared, &waiting_id, &api_bait_id, &merchant0).await?;
    let finished = Instant::now();
    let shared = Arc::try_unwrap(shared).map_err(|_| anyhow::anyhow!("attack tasks still running"))?.into_inner();
    Ok(Attack {
        attempts: shared.attempts,
        attacker_addresses: shared.addresses,
        started,
        finished,
        freeze,
        signer_ids: shared.signer_ids,
        rejected_unread: shared.rejected_unread,
    })
}

async fn record(shared: &Mutex<Shared>, kind: &str, outcome: &str, id: Option<String>, to: Option<Address>) {
    let mut shared = shared.lock().await;
    *shared.attempts.entry((kind.to_owned(), outcome.to_owned())).or_default() += 1;
    if let Some(id) = id {
        shared.signer_ids.push(id);
    }
    if let Some(to) = to {
        shared.addresses.push(to);
    }
    if outcome.starts_with("auth.") || outcome.starts_with("control.signature") || outcome == "approval.signature" {
        shared.rejected_unread += 1;
    }
}

/// The attacks that are one request each: replayed and stale requests,
/// sweeps aimed elsewhere, a deposit that is not on chain, forged, reused
/// and expired approvals, unfreezing with the gateway's key.
async fn one_offs(
    world: &World,
    shared: &Mutex<Shared>,
    waiting_id: &str,
    api_bait_id: &str,
    merchant: &str,
) -> anyhow::Result<()> {
    let to = fresh_address(0xb0, 0);
    // A request signed once, sent twice: the second is a replay.
    let id = payout_id();
    let intent = payout_intent(&id, merchant, 1, to);
    let bytes = serde_json::to_vec(&intent)?;
    let parts = coffer_signer_api::RequestParts { method: "POST", path: "/v1/payouts", body: &bytes };
    let signed = world.request_key.sign(&parts, now(), [0; 32])?;
    for kind in ["signed_request_first_send", "signed_request_replayed"] {
        let (status, body) = world.signer_raw("POST", "/v1/payouts", bytes.clone(), &signed.to_pairs()).await?;
        record(shared, kind, &outcome(status, &body), Some(id.clone()), Some(to)).await;
    }
    let stale_id = payout_id();
    let (status, body) =
        world.signer_signed("POST", "/v1/payouts", &payout_intent(&stale_id, merchant, 1, to), now() - 3600).await?;
    record(shared, "stale_request", &outcome(status, &body), None, Some(to)).await;

    // Sweeps: the destination is no parameter, and a deposit the chain does not show.
    let sweep = json!({ "id": format!("swp_{}", uuid::Uuid::now_v7().simple()), "chain_id": 31337, "asset": "USDT",
        "index": 7, "destination": to });
    let (status, body) = world.signer_signed("POST", "/v1/sweeps", &sweep, now()).await?;
    record(shared, "sweep_to_attacker_address", &outcome(status, &body), None, Some(to)).await;
    let claim_id = format!("swp_{}", uuid::Uuid::now_v7().simple());
    let claim = json!({ "id": claim_id, "chain_id": 31337, "asset": "USDT", "index": 8,
        "claimed": usdt(100_000).to_string() });
    let (status, body) = world.signer_signed("POST", "/v1/sweeps", &claim, now()).await?;
    record(shared, "sweep_claiming_a_deposit_not_on_chain", &outcome(status, &body), Some(claim_id), None).await;

    // Approvals: the attacker's own key, a real approval of another payout, an old round's.
    let state = world.signer_signed("GET", &format!("/v1/requests/{waiting_id}"), &Value::Null, now()).await?.1;
    let digest: Option<coffer_signer_api::Digest> = state["digest"].as_str().and_then(|d| d.parse().ok());
    let attacker = ed25519_dalek::SigningKey::from_bytes(&[0x66; 32]);
    let path = format!("/v1/payouts/{waiting_id}/approvals");
    let forged = sign(&attacker, Decision::Approve, digest.unwrap_or(coffer_signer_api::Digest([0; 32])));
    let (status, body) = world.signer_unsigned("POST", &path, &serde_json::to_value(&forged)?).await?;
    record(shared, "approval_forged_with_attacker_key", &outcome(status, &body), None, None).await;
    if let Some((honest_id, honest)) = &world.honest_approval {
        let (status, body) = world.signer_unsigned("POST", &path, &serde_json::to_value(honest)?).await?;
        record(shared, "approval_reused_from_another_payout", &outcome(status, &body), None, None).await;
        let old = format!("/v1/payouts/{honest_id}/approvals");
        let (status, body) = world.signer_unsigned("POST", &old, &serde_json::to_value(honest)?).await?;
        record(shared, "approval_replayed_after_its_round", &outcome(status, &body), None, None).await;
    }

    // The operator credential: the gateway relays, and relays only.
    let round = world.signer_signed("GET", &format!("/v1/requests/{api_bait_id}"), &Value::Null, now()).await?.1;
    let round: Option<coffer_signer_api::Digest> = round["digest"].as_str().and_then(|d| d.parse().ok());
    let forged = sign(&attacker, Decision::Approve, round.unwrap_or(coffer_signer_api::Digest([0; 32])));
    let forged = serde_json::to_value(&forged)?;
    let (status, body) = world.operator(&format!("/v1/payouts/{api_bait_id}/approvals"), &forged).await?;
    record(shared, "approval_forged_relayed_with_operator_token", &outcome(status, &body), None, None).await;

    // Unfreeze with the gateway's key: it is no approver's.
    let version = world.control_state().await?["policy_version"].as_u64().unwrap_or_default();
    let proposal = coffer_signer_api::ChangeProposal {
        change: PolicyChange::Unfreeze,
        base_version: version,
        expires_at: now() + 600,
    };
    let mut approval = sign(&attacker, Decision::Approve, proposal.digest());
    approval.approver = world.request_key.public();
    let body = json!({ "proposal": proposal, "approvals": [approval] });
    let (status, answer) = world.signer_signed("POST", "/v1/control", &body, now()).await?;
    record(shared, "unfreeze_with_gateway_key", &outcome(status, &answer), None, None).await;
    let (status, answer) = world.operator("/v1/operator/signer/control", &body).await?;
    record(shared, "unfreeze_relayed_with_operator_token", &outcome(status, &answer), None, None).await;
    // And loosening the limits the same way.
    let raise = coffer_signer_api::ChangeProposal {
        change: PolicyChange::Limit {
            chain_id: coffer_domain::ChainId(31337),
            asset: "USDT".parse()?,
            limit: coffer_signer_api::LimitName::Amount1h,
            value: U256::MAX,
        },
        base_version: version,
        expires_at: now() + 600,
    };
    let mut approval = sign(&attacker, Decision::Approve, raise.digest());
    approval.approver = world.request_key.public();
    let body = json!({ "proposal": raise, "approvals": [approval] });
    let (status, answer) = world.signer_signed("POST", "/v1/control", &body, now()).await?;
    record(shared, "raise_limit_with_gateway_key", &outcome(status, &answer), None, None).await;
    Ok(())
}

/// The attacker rewrites the gateway's database: a merchant's balance ×1000.
async fn inflate_balance(world: &World, merchant: &str) -> anyhow::Result<()> {
    use sqlx::Connection as _;
    let path = world.dir().join("coffer.db");
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display())).await?;
    sqlx::query(
        "UPDATE ledger_balances SET credits = CAST(CAST(credits AS INTEGER) * 1000 AS TEXT) \
         WHERE account LIKE '%' || ? || '%' AND asset = 'USDT'",
    )
    .bind(merchant)
    .execute(&mut conn)
    .await?;
    Ok(())
}
