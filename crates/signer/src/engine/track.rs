//! The life of every stored transaction, driven by the signer alone:
//! send what is stored and not sent (after a crash too: the same bytes),
//! follow each nonce to its confirmations, replace a stuck one with the
//! same nonce and a higher fee (under the fee budget), and wake requests
//! whose cool-down ended. Only this task changes a transaction's state.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use coffer_domain::{Address, AssetId, B256, ChainId, U256};
use coffer_policy::{Spend, assess_fee, hot_excess};
use coffer_signer_api::{OutcomeState, PayoutIntent, TopUp, Transfer};
use serde_json::json;

use super::audit::{SIGNER, append};
use super::plan::{KeyRef, Purpose, StoredPlan, transfer_plan};
use super::{Engine, EngineError, decision_time, now};
use crate::chain::{self, MinedReceipt, NonceTag, SendError, SignedTx, TxPlan};
use crate::store::{self, SpendRow, TxRow, TxState};

/// Receipts asked for at once in a tracking round.
const RECEIPTS_IN_FLIGHT: usize = 16;

impl Engine {
    /// Runs until `shutdown` resolves.
    pub(crate) async fn run_tracker(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        let poll = Duration::from_millis(self.config.file.poll_ms);
        let cap_every = self.config.file.hot_cap_check_secs.max(1);
        let mut last_cap_check = 0;
        tokio::pin!(shutdown);
        loop {
            for chain in self.config.chains.iter().map(|c| c.id).collect::<Vec<_>>() {
                if let Err(e) = self.track(chain).await {
                    tracing::warn!(chain = chain.0, error = %e, "tracking the signer's transactions");
                }
            }
            if let Err(e) = self.wake_requests().await {
                tracing::warn!(error = %e, "waking requests");
            }
            if let Err(e) = self.apply_due_changes().await {
                tracing::warn!(error = %e, "applying policy changes whose time lock ended");
            }
            if let Err(e) = store::checkpoint(&self.inner.lock().await.conn) {
                tracing::warn!(error = %e, "checkpointing the signer's database");
            }
            let at = now();
            if at.saturating_sub(last_cap_check) >= i64::try_from(cap_every).unwrap_or(30) {
                last_cap_check = at;
                if let Err(e) = self.check_hot_caps().await {
                    tracing::warn!(error = %e, "checking the hot wallet against its caps");
                }
            }
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(poll) => {}
            }
        }
    }

    /// Sends every stored transaction of `chain` the node has not accepted yet.
    pub(crate) async fn send_pending(&self, chain: ChainId) {
        let open = {
            let inner = self.inner.lock().await;
            store::open_txs(&inner.conn, chain)
        };
        match open {
            Ok(open) => {
                for tx in open.iter().filter(|tx| tx.state == TxState::Signed) {
                    self.send(tx).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "reading transactions to send"),
        }
    }

    /// Broadcasts `tx` once its record (and the decision behind it) is on disk.
    pub(crate) async fn send(&self, tx: &TxRow) {
        self.durable().await;
        self.broadcast(tx).await;
    }

    /// Broadcasts `tx`; call only once [`Engine::durable`] has returned after
    /// the commit that stored it ([`Engine::send`] does both).
    pub(crate) async fn broadcast(&self, tx: &TxRow) {
        let Ok(rpc) = self.rpc(tx.chain_id) else { return };
        let signed = SignedTx { raw: tx.raw.clone().into(), hash: tx.hash, nonce: tx.nonce, from: tx.sender };
        let sent = match rpc.send_raw(&signed).await {
            Ok(_) | Err(SendError::AlreadyKnown(_)) => true,
            // Mined already (a crash after broadcast): its receipt decides.
            Err(SendError::NonceTooLow(_)) => false,
            Err(e) => {
                tracing::warn!(tx = %tx.hash, code = e.code(), error = %e, "the node refused a signed transaction; retrying later");
                false
            }
        };
        if sent && tx.state == TxState::Signed {
            let inner = self.inner.lock().await;
            let result = store::set_tx_state(&inner.conn, tx.hash, TxState::Sent, None, None, Some(now()));
            if let Err(e) = result {
                tracing::warn!(error = %e, "recording a sent transaction");
            }
        }
    }

    async fn track(&self, chain: ChainId) -> Result<(), EngineError> {
        let rpc = self.rpc(chain)?;
        let depth = u64::from(self.config.chain(chain).map_or(1, |c| c.confirmations));
        let open = {
            let inner = self.inner.lock().await;
            store::open_txs(&inner.conn, chain)?
        };
        let mut groups: BTreeMap<(Address, u64), Vec<TxRow>> = BTreeMap::new();
        for tx in open {
            groups.entry((tx.sender, tx.nonce)).or_default().push(tx);
        }
        let chain_err = |source| EngineError::Chain { chain, source };
        let head = rpc.block_number().await.map_err(chain_err)?;
        // Each sender's count first, once a round: if it says a nonce is
        // used, a receipt read after it shows whether by one of ours.
        let mut used = BTreeMap::new();
        for sender in groups.keys().map(|(sender, _)| *sender).collect::<std::collections::BTreeSet<_>>() {
            used.insert(sender, rpc.nonce(sender, NonceTag::Latest).await.map_err(chain_err)?);
        }
        // The receipts, RECEIPTS_IN_FLIGHT at a time: a round must keep up
        // with the decisions, or what is in flight grows.
        let hashes: Vec<Vec<B256>> = groups.values().map(|a| a.iter().map(|t| t.hash).collect()).collect();
        let mut receipts = Vec::with_capacity(hashes.len());
        for chunk in hashes.chunks(RECEIPTS_IN_FLIGHT) {
            let mut calls = Vec::with_capacity(chunk.len());
            for attempts in chunk {
                calls.push(first_receipt(rpc, attempts));
            }
            receipts.extend(futures_util::future::join_all(calls).await);
        }
        for (((sender, nonce), attempts), mined) in groups.into_iter().zip(receipts) {
            let used = used.get(&sender).copied().unwrap_or_default();
            let mined = mined.map_err(chain_err)?.and_then(|(i, r)| Some((attempts.get(i)?.clone(), r)));
            match mined {
                Some((attempt, receipt)) if head + 1 >= receipt.block_number + depth => {
                    self.finalize(&attempts, &attempt, &receipt).await?;
                }
                Some((attempt, receipt)) => {
                    if attempt.state != TxState::Mined {
                        let inner = self.inner.lock().await;
                        let block = Some(receipt.block_number);
                        store::set_tx_state(&inner.conn, attempt.hash, TxState::Mined, block, None, None)?;
                    }
                }
                None if used > nonce => self.dropped(&attempts).await?,
                None => self.push(&attempts).await?,
            }
        }
        Ok(())
    }

    /// Nothing of this nonce is mined: send, resend or replace the last attempt.
    async fn push(&self, attempts: &[TxRow]) -> Result<(), EngineError> {
        let Some(last) = attempts.last() else { return Ok(()) };
        {
            // Mined before and gone now: a reorganisation took it back.
            let inner = self.inner.lock().await;
            for tx in attempts.iter().filter(|tx| tx.state == TxState::Mined) {
                store::set_tx_state(&inner.conn, tx.hash, TxState::Sent, None, None, None)?;
            }
        }
        let bump_after = i64::try_from(self.config.file.bump_after_secs).unwrap_or(i64::MAX);
        match last.state {
            TxState::Signed => self.send(last).await,
            _ if now().saturating_sub(last.sent_at.unwrap_or(last.created_at)) >= bump_after => self.bump(last).await?,
            _ => {
                let rpc = self.rpc(last.chain_id)?;
                let known = rpc
                    .transaction_known(last.hash)
                    .await
                    .map_err(|source| EngineError::Chain { chain: last.chain_id, source })?;
                if !known {
                    // Dropped from the node's pool: the same bytes again.
                    self.send(last).await;
                }
            }
        }
        Ok(())
    }

    /// Replaces a stuck transaction: the same nonce, a higher fee, signed
    /// and stored before it is sent. The extra fee counts against the fee
    /// budget; beyond it, the transaction waits as it is.
    async fn bump(&self, last: &TxRow) -> Result<(), EngineError> {
        let stored: StoredPlan = serde_json::from_str(&last.plan).map_err(|e| store::corrupt("plan", e))?;
        let chain = last.chain_id;
        let current = self.rpc(chain)?.fees().await.map_err(|source| EngineError::Chain { chain, source })?;
        let plan = stored.plan.replacement(current);
        let extra = chain::max_fee(&plan).saturating_sub(chain::max_fee(&stored.plan));
        let symbol = last.asset.parse().map_err(|e| store::corrupt("asset", e))?;
        let Some(asset) = self.asset(AssetId { chain_id: chain, symbol }).cloned() else { return Ok(()) };
        if let KeyRef::Deposit(_) = stored.key {
            let native = self
                .config
                .assets
                .iter()
                .find(|a| a.id.chain_id == chain && a.kind == coffer_domain::AssetKind::Native);
            if let Some(native) = native
                && self.balance(native, last.sender).await? < chain::max_cost(&plan)
            {
                return Ok(()); // a deposit cannot pay more gas than it was given
            }
        }
        let mut guard = self.inner.lock().await;
        let inner = &mut *guard;
        let now = decision_time(&inner.windows);
        if let Err(refusal) = assess_fee(&self.policy(), &inner.windows, chain, extra, now) {
            self.metrics.refused(refusal.rule);
            tracing::warn!(tx = %last.hash, rule = %refusal.rule, "{}", refusal.message);
            return Ok(());
        }
        let mut tx = store::begin(&mut inner.conn)?;
        let purpose = purpose_of(last.purpose);
        let row = self
            .sign_and_store(
                &mut tx,
                stored.key,
                plan,
                purpose,
                last.request_id.as_deref(),
                last.recipient,
                &asset,
                last.amount,
                last.attempt + 1,
                now,
            )
            .await?;
        let spend = SpendRow {
            at: now,
            kind: "fee",
            chain_id: chain,
            asset: asset.id.symbol.to_string(),
            merchant: None,
            destination: None,
            amount: extra,
            request_id: last.request_id.clone(),
            restricted: false,
        };
        store::insert_spend(&tx, &spend)?;
        if let Some(id) = &last.request_id
            && let Some(request) = store::request(&tx, id)?
            && let OutcomeState::Broadcast { transfer } = &request.outcome
            && transfer.nonce == last.nonce
        {
            let state = OutcomeState::Broadcast { transfer: Transfer { tx_hash: row.hash, ..transfer.clone() } };
            store::update_request(&tx, id, &state, None, request.policy_version, now)?;
        }
        let detail = json!({ "replaces": last.hash.to_string(), "by": row.hash.to_string(), "nonce": last.nonce,
            "extra_fee": extra.to_string() });
        let head = inner.audit;
        let head = append(&tx, head, SIGNER, "tx.bumped", last.request_id.as_deref().unwrap_or("to_cold"), detail)?;
        tx.commit()?;
        inner.audit = head;
        inner.windows.record(now, &Spend::Fee { chain, amount: extra });
        drop(guard);
        self.send(&row).await;
        Ok(())
    }

    /// One attempt of the nonce is as deep as the chain's confirmations.
    async fn finalize(&self, attempts: &[TxRow], mined: &TxRow, receipt: &MinedReceipt) -> Result<(), EngineError> {
        let fee = receipt.fee_paid();
        let mut guard = self.inner.lock().await;
        let inner = &mut *guard;
        let tx = store::begin(&mut inner.conn)?;
        let state = if receipt.success { TxState::Confirmed } else { TxState::Failed };
        store::set_tx_state(&tx, mined.hash, state, Some(receipt.block_number), Some(fee), None)?;
        for other in attempts.iter().filter(|a| a.hash != mined.hash) {
            store::set_tx_state(&tx, other.hash, TxState::Replaced, None, None, None)?;
        }
        let mut continue_sweep = None;
        let mut head = inner.audit;
        if let Some(id) = &mined.request_id
            && let Some(request) = store::request(&tx, id)?
            && !request.outcome.is_final()
        {
            let now = now();
            let outcome = match (purpose_of(mined.purpose), receipt.success) {
                (Purpose::TopUp, true) => {
                    continue_sweep = Some(id.clone());
                    None
                }
                (Purpose::TopUp, false) => Some(OutcomeState::Failed {
                    reason: "the gas top-up reverted".into(),
                    tx_hash: Some(mined.hash),
                    network_fee: U256::ZERO,
                    top_up: Some(TopUp { tx_hash: mined.hash, amount: U256::ZERO, network_fee: fee }),
                }),
                (_, true) => {
                    // `network_fee` is this transaction's own gas; a sweep's
                    // confirmed top-up is reported beside it, so that the
                    // gateway books what left the hot wallet (sent and gas)
                    // apart from what the deposit paid.
                    let top_up = confirmed_top_up(&tx, id)?;
                    let transfer = match &request.outcome {
                        OutcomeState::Broadcast { transfer } => Transfer { tx_hash: mined.hash, ..transfer.clone() },
                        _ => Transfer {
                            tx_hash: mined.hash,
                            from: mined.sender,
                            to: mined.recipient,
                            wallet: None,
                            nonce: mined.nonce,
                            amount: mined.amount,
                        },
                    };
                    Some(OutcomeState::Confirmed {
                        transfer,
                        block_number: receipt.block_number,
                        network_fee: fee,
                        top_up,
                    })
                }
                (_, false) => Some(OutcomeState::Failed {
                    reason: "the transaction reverted on chain; nothing moved but its gas".into(),
                    tx_hash: Some(mined.hash),
                    network_fee: fee,
                    top_up: confirmed_top_up(&tx, id)?,
                }),
            };
            if let Some(outcome) = outcome {
                store::update_request(&tx, id, &outcome, None, request.policy_version, now)?;
                let action = format!("{}.{}", request.kind, if receipt.success { "confirmed" } else { "failed" });
                head = append(&tx, head, SIGNER, &action, id, json!({ "state": &outcome }))?;
                self.metrics.decided(&outcome);
            }
        } else if mined.request_id.is_none() {
            let detail = json!({ "tx_hash": mined.hash.to_string(), "amount": mined.amount.to_string(),
                "asset": mined.asset, "success": receipt.success });
            head = append(&tx, head, SIGNER, "treasury.to_cold.confirmed", "to_cold", detail)?;
        }
        tx.commit()?;
        inner.audit = head;
        drop(guard);
        if let Some(id) = continue_sweep {
            self.continue_sweep(&id).await?;
        }
        Ok(())
    }

    /// The nonce was used by a transaction that is none of ours.
    async fn dropped(&self, attempts: &[TxRow]) -> Result<(), EngineError> {
        let Some(first) = attempts.first() else { return Ok(()) };
        let mut guard = self.inner.lock().await;
        let inner = &mut *guard;
        let tx = store::begin(&mut inner.conn)?;
        for attempt in attempts {
            store::set_tx_state(&tx, attempt.hash, TxState::Failed, None, None, None)?;
        }
        let reason = format!(
            "dropped: nonce {} of {} was used by a transaction the signer did not sign; nothing of ours moved",
            first.nonce, first.sender
        );
        let mut head = inner.audit;
        if let Some(id) = &first.request_id
            && let Some(request) = store::request(&tx, id)?
            && !request.outcome.is_final()
        {
            let top_up = confirmed_top_up(&tx, id)?;
            let outcome =
                OutcomeState::Failed { reason: reason.clone(), tx_hash: None, network_fee: U256::ZERO, top_up };
            store::update_request(&tx, id, &outcome, None, request.policy_version, now())?;
        }
        head = append(
            &tx,
            head,
            SIGNER,
            "tx.dropped",
            first.request_id.as_deref().unwrap_or("to_cold"),
            json!({ "reason": reason }),
        )?;
        tx.commit()?;
        inner.audit = head;
        Ok(())
    }

    /// Decides again the payouts whose cool-down ended.
    async fn wake_requests(&self) -> Result<(), EngineError> {
        let ids = {
            let inner = self.inner.lock().await;
            store::waking_requests(&inner.conn, now())?
        };
        for id in ids {
            let mut guard = self.inner.lock().await;
            let inner = &mut *guard;
            let mut tx = store::begin(&mut inner.conn)?;
            let Some(row) = store::request(&tx, &id)? else { continue };
            // A cool-down that ended, or a round of approvals that did (the
            // payout waits again under a new expiry and digest).
            let waiting =
                matches!(row.outcome, OutcomeState::PendingCooldown { .. } | OutcomeState::PendingApproval { .. });
            if row.kind != "payout" || !waiting {
                continue;
            }
            let intent: PayoutIntent = serde_json::from_str(&row.intent).map_err(|e| store::corrupt("intent", e))?;
            let now = decision_time(&inner.windows);
            let head = inner.audit;
            let gas = self.payout_gas(&intent).await;
            let version = self.policy().version();
            let super::decide::PayoutDecision { state, wake_at, spend, head, signed, frozen } =
                self.decide_payout(&mut tx, &inner.windows, &mut inner.alarms, head, &intent, gas, None, now).await?;
            store::update_request(&tx, &id, &state, wake_at, version, now)?;
            tx.commit()?;
            self.committed(inner, head, frozen, spend, &state);
            drop(guard);
            if let Some(signed) = signed {
                self.send(&signed).await;
            }
        }
        Ok(())
    }

    /// Moves whatever sits in the hot wallet above an asset's cap to cold:
    /// always allowed, one move in flight per asset.
    async fn check_hot_caps(&self) -> Result<(), EngineError> {
        let hot = self.hot();
        for asset in self.config.assets.clone() {
            let chain = asset.id.chain_id;
            let mut guard = self.inner.lock().await;
            let inner = &mut *guard;
            let open = store::open_txs(&inner.conn, chain)?;
            let symbol = asset.id.symbol.to_string();
            if open.iter().any(|t| t.purpose == "to_cold" && t.asset == symbol) {
                continue;
            }
            let Some(native) = self.native_of(&asset).cloned() else { continue };
            let funds = self.hot_funds(&mut inner.conn, chain).await?;
            let Some(excess) = hot_excess(&self.policy(), asset.id, funds.spendable(&asset)).filter(|x| !x.is_zero())
            else {
                continue;
            };
            let cold = self.treasury(chain).cold;
            let gas = self.transfer_gas(&asset, hot, cold, excess).await?;
            let draft = transfer_plan(&asset, 0, cold, excess, gas, funds.view.fees);
            // The excess is at most what is spendable: only the gas can be short.
            if funds.lacks_native(&native, &draft).is_some() {
                continue;
            }
            let now = now();
            let mut tx = store::begin(&mut inner.conn)?;
            let nonce = self.allocate_nonce(&mut tx, chain, hot).await?;
            let plan = TxPlan { nonce, ..draft };
            let row = self
                .sign_and_store(&mut tx, KeyRef::Hot, plan, Purpose::ToCold, None, cold, &asset, excess, 0, now)
                .await?;
            let detail = json!({ "asset": asset.id.to_string(), "amount": excess.to_string(), "cold": cold.to_string(),
                "tx_hash": row.hash.to_string() });
            let head = inner.audit;
            let head = append(&tx, head, SIGNER, "treasury.to_cold", &symbol, detail)?;
            tx.commit()?;
            inner.audit = head;
            drop(guard);
            self.send(&row).await;
        }
        Ok(())
    }
}

fn purpose_of(text: &str) -> Purpose {
    match text {
        "sweep" => Purpose::Sweep,
        "top_up" => Purpose::TopUp,
        "to_cold" => Purpose::ToCold,
        _ => Purpose::Payout,
    }
}

/// A sweep's gas top-up, once confirmed: what it sent and what it cost.
pub(crate) fn confirmed_top_up(
    conn: &crate::store::Connection,
    request_id: &str,
) -> Result<Option<TopUp>, EngineError> {
    Ok(store::txs_of(conn, request_id)?
        .into_iter()
        .find(|t| t.state == TxState::Confirmed && purpose_of(t.purpose) == Purpose::TopUp)
        .map(|t| TopUp { tx_hash: t.hash, amount: t.amount, network_fee: t.network_fee.unwrap_or_default() }))
}

/// The first of `attempts` (one nonce's) that is mined, by index, with its receipt.
async fn first_receipt(
    rpc: &crate::chain::ChainRpc,
    attempts: &[B256],
) -> Result<Option<(usize, MinedReceipt)>, crate::chain::RpcError> {
    for (i, hash) in attempts.iter().enumerate() {
        if let Some(receipt) = rpc.receipt(*hash).await? {
            return Ok(Some((i, receipt)));
        }
    }
    Ok(None)
}
