//! The planner and a real store together, as the chain watcher drives
//! them, over scripted chains that reorganise deeper than the
//! confirmations back and forth: a booking is never credited twice nor
//! lost, and `coffer ledger check` agrees at every turn. (Scripted chains:
//! anvil cannot be made to flip between two forks on demand; the gateway
//! tests cover the common case on a real anvil.)

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::Arc;

use coffer_chain::{ChainUpdate, Transfer};
use coffer_domain::{
    Address, Amount, Asset, AssetBook, AssetId, AssetKind, AssetSymbol, B256, BlockHeader, BlockRef, ChainId,
    DepositAddress, DerivationIndex, Invoice, InvoiceId, InvoiceStatus, MerchantId, Timestamp, U256,
};
use coffer_store::testing::{Kind, TestDatabase};
use coffer_store::{ChainHalt, ChainStep, DisplacedResolution, Merchant, NewInvoice, Store, open};
use coffer_watcher::load_touched;
use coffer_watcher::plan::{Rules, plan_update};

const CHAIN: ChainId = ChainId(31337);
const T0: u64 = 1_700_000_100;

fn usdt() -> AssetId {
    AssetId { chain_id: CHAIN, symbol: AssetSymbol::from_str("USDT").unwrap() }
}

fn book() -> AssetBook {
    AssetBook::new(vec![Asset {
        id: usdt(),
        kind: AssetKind::Erc20 { contract: Address::repeat_byte(0x70) },
        decimals: 6,
    }])
}

fn hash(number: u64, fork: u8) -> B256 {
    let mut b = [0u8; 32];
    b[0] = fork;
    b[24..].copy_from_slice(&number.to_be_bytes());
    B256::from(b)
}

fn header(number: u64, fork: u8, parent_fork: u8) -> BlockHeader {
    BlockHeader { number, hash: hash(number, fork), parent_hash: hash(number - 1, parent_fork), timestamp: T0 + number }
}

pub struct Sim {
    pub store: Arc<dyn Store>,
    pub _db: TestDatabase,
    pub invoice: Invoice,
    pub awaiting: HashSet<InvoiceId>,
    pub cursor: Option<BlockRef>,
    pub assets: AssetBook,
    pub confirmations: u32,
    /// Run between planning and applying (a concurrent operator).
    pub pre_apply: Option<DisplacedResolution>,
}

impl Sim {
    pub async fn new(kind: Kind, confirmations: u32) -> Option<Self> {
        let db = TestDatabase::new(kind).await?;
        let store = open(db.backend()).await.unwrap();
        let m = Merchant { id: MerchantId::new(), name: "Acme".into(), created_at: Timestamp::now() };
        store.create_merchant(&m).await.unwrap();
        let invoice = Invoice {
            id: InvoiceId::new(),
            merchant_id: m.id,
            status: InvoiceStatus::New,
            exceptions: Default::default(),
            amount: Amount::from_units(usdt(), U256::from(12_500_000u64)),
            deposit: DepositAddress {
                index: DerivationIndex::try_from(1u64).unwrap(),
                address: Address::repeat_byte(0xd7),
            },
            order_id: None,
            metadata: serde_json::Map::new(),
            created_at: Timestamp::from_millis(1_700_000_000_000),
            expires_at: Timestamp::from_millis(1_700_000_900_000),
            checkout: coffer_domain::Checkout::random().unwrap(),
        };
        store.insert_invoice(NewInvoice { invoice: invoice.clone(), idempotency: None }).await.unwrap();
        Some(Self {
            store,
            _db: db,
            invoice,
            awaiting: HashSet::new(),
            cursor: None,
            assets: book(),
            confirmations,
            pre_apply: None,
        })
    }

    pub fn transfer(&self, block: &BlockHeader, tx: u8, log_index: u64, units: u64) -> Transfer {
        Transfer {
            asset: usdt(),
            from: Address::repeat_byte(0xaa),
            to: self.invoice.deposit.address,
            value: U256::from(units),
            tx_hash: B256::repeat_byte(tx),
            log_index: Some(log_index),
            call_path: None,
            block: block.block_ref(),
            block_time: block.time(),
        }
    }

    /// As ChainWatcher::apply.
    pub async fn apply(
        &mut self,
        reverted_above: Option<u64>,
        blocks: Vec<BlockHeader>,
        transfers: Vec<Transfer>,
    ) -> Result<(), String> {
        let update = ChainUpdate { parent: self.cursor, reverted_above, blocks, transfers };
        let owners: HashMap<Address, InvoiceId> =
            [(self.invoice.deposit.address, self.invoice.id)].into_iter().collect();
        let mut ids: HashSet<InvoiceId> = update.transfers.iter().filter_map(|t| owners.get(&t.to).copied()).collect();
        ids.extend(self.awaiting.iter().copied());
        if let Some(fork) = reverted_above {
            ids.extend(self.store.invoices_paid_above(CHAIN, fork).await.unwrap());
        }
        let ids: Vec<InvoiceId> = ids.into_iter().collect();
        let touched = load_touched(&*self.store, &ids).await.unwrap();
        let now = Timestamp::from_millis(1_700_000_500_000);
        let rules = Rules {
            chain_id: CHAIN,
            confirmations: self.confirmations,
            assets: &self.assets,
            hot_wallet: None,
            screener: &coffer_watcher::NoScreening,
            public_url: "http://127.0.0.1:8080",
        };
        let plan = plan_update(rules, &update, |a| owners.get(a).copied(), touched, now).map_err(|e| e.to_string())?;
        let tip = update.tip();
        let step = ChainStep {
            fence: None,
            chain_id: CHAIN,
            parent: update.parent,
            tip: tip.block_ref(),
            revert_above: update.reverted_above,
            displace_until: plan.displace_until,
            remember: update.blocks.clone(),
            forget_below: tip.number.saturating_sub(64),
            payments: plan.payments,
            bookings: plan.bookings,
            recoveries: plan.recoveries,
            changes: plan.changes,
            at: now,
            lease_until: now,
        };
        if let Some(resolution) = self.pre_apply.take() {
            self.store.resolve_displaced(CHAIN, resolution, Timestamp::now(), "operator, concurrently").await.unwrap();
        }
        self.store.apply_chain_step(step).await.map_err(|e| format!("store: {e}"))?;
        self.cursor = Some(tip.block_ref());
        for id in &ids {
            self.awaiting.remove(id);
        }
        self.awaiting.extend(plan.awaiting);
        Ok(())
    }

    /// The halt the watcher records when a displaced payment is gone.
    pub async fn halt(&self) {
        let halt = ChainHalt {
            chain_id: CHAIN,
            code: coffer_domain::HaltCode::TransferGone,
            reason: "gone".into(),
            block: self.cursor.map(|c| c.number),
            halted_at: Timestamp::now(),
            resolved: None,
        };
        self.store.record_halt(&halt, None).await.unwrap();
    }

    /// As a restart (ChainWatcher::load).
    pub async fn restart(&mut self) {
        self.awaiting = self.store.invoices_awaiting_confirmations(CHAIN).await.unwrap().into_iter().collect();
    }

    pub async fn report(&self, label: &str) -> (Vec<String>, String) {
        let audit = coffer_watcher::audit::check_ledger(&*self.store).await.unwrap();
        let snap = self.store.ledger_snapshot().await.unwrap();
        let pays: Vec<String> = snap
            .payments
            .iter()
            .map(|p| {
                format!(
                    "{}@{}:{:?} {} booked={} settled={} moved_from={:?}",
                    p.id,
                    p.block.number,
                    &p.block.hash[..1],
                    p.state.as_str(),
                    p.booked_at.is_some(),
                    p.settled_at.is_some(),
                    p.moved_from
                )
            })
            .collect();
        let merchant: Vec<String> = self
            .store
            .stored_balances()
            .await
            .unwrap()
            .iter()
            .map(|b| format!("{:?} d={} c={}", b.account, b.debits, b.credits))
            .collect();
        let status = self.store.invoices_by_ids(&[self.invoice.id]).await.unwrap()[0].status;
        eprintln!(
            "== {label}: invoice {status:?}\n payments: {pays:#?}\n balances: {merchant:#?}\n breaches: {:#?}",
            audit.breaches
        );
        (audit.breaches, format!("{merchant:?}"))
    }

    pub async fn merchant_credit(&self) -> U256 {
        self.store
            .stored_balances()
            .await
            .unwrap()
            .iter()
            .filter(|b| matches!(b.account, coffer_domain::Account::Merchant(..)))
            .map(|b| b.credits)
            .fold(U256::ZERO, |a, b| a + b)
    }
}

const A: u8 = 0xa;
const B: u8 = 0xb;
const BASE: u8 = 0;

impl Sim {
    /// The one payment every scenario moves around: the same transaction of
    /// 12.5 USDT, mined in `block`.
    fn paid_in(&self, block: &BlockHeader) -> Transfer {
        self.transfer(block, 0x77, 0, 12_500_000)
    }

    /// Block 4, then the payment in 5A, confirmed (and settled) by 6A.
    async fn settled_on_a(&mut self) {
        let b4 = BlockHeader { number: 4, hash: hash(4, BASE), parent_hash: hash(3, BASE), timestamp: T0 + 4 };
        self.apply(None, vec![b4], vec![]).await.unwrap();
        let a5 = header(5, A, BASE);
        let t = self.paid_in(&a5);
        self.apply(None, vec![a5, header(6, A, A)], vec![t]).await.unwrap();
        self.report("settled on A").await;
        assert_eq!(self.merchant_credit().await, U256::from(12_500_000u64));
    }
}

/// B -> A -> B with two confirmations: the transfer seen (unbooked) in block
/// 5B, booked and settled in 5A, then 5B back. The payment of 5B exists as
/// orphaned: it must be revived with the booking it takes, or it would be
/// booked and credited a second time (as it was before review).
async fn flip_flop_books_twice(kind: Kind) {
    let Some(mut sim) = Sim::new(kind, 2).await else { return };
    let b4 = BlockHeader { number: 4, hash: hash(4, BASE), parent_hash: hash(3, BASE), timestamp: T0 + 4 };
    sim.apply(None, vec![b4], vec![]).await.unwrap();
    let b5 = header(5, B, BASE);
    let t = sim.paid_in(&b5);
    sim.apply(None, vec![b5], vec![t]).await.unwrap();
    // Reorg to A: 5A carries the same transaction.
    let a5 = header(5, A, BASE);
    let t = sim.paid_in(&a5);
    sim.apply(Some(4), vec![a5], vec![t]).await.unwrap();
    let a6 = header(6, A, A);
    sim.apply(None, vec![a6], vec![]).await.unwrap();
    sim.report("settled on A").await;
    assert_eq!(sim.merchant_credit().await, U256::from(12_500_000u64));
    // Back to B, two blocks deep (deeper than the confirmations).
    let b5 = header(5, B, BASE);
    let t = sim.paid_in(&b5);
    sim.apply(Some(4), vec![b5, header(6, B, B), header(7, B, B)], vec![t]).await.unwrap();
    sim.report("back on B").await;
    sim.restart().await;
    sim.apply(None, vec![header(8, B, B)], vec![]).await.unwrap();
    let (breaches, _) = sim.report("one block later, after a restart").await;
    assert_eq!(sim.merchant_credit().await, U256::from(12_500_000u64), "credited once");
    assert!(breaches.is_empty(), "{breaches:#?}");
}

/// A -> B -> A with the booking moved to B: back on A, the payment of 5A is
/// `moved` in the store and must take the booking back, or it would vanish
/// (both payments moved, as before review).
async fn a_b_a_loses_the_booking(kind: Kind) {
    let Some(mut sim) = Sim::new(kind, 2).await else { return };
    sim.settled_on_a().await;
    let b5 = header(5, B, BASE);
    let t = sim.paid_in(&b5);
    sim.apply(Some(4), vec![b5, header(6, B, B), header(7, B, B)], vec![t]).await.unwrap();
    sim.report("moved to B").await;
    let a5 = header(5, A, BASE);
    let t = sim.paid_in(&a5);
    sim.apply(Some(4), vec![a5, header(6, A, A), header(7, A, A), header(8, A, A)], vec![t]).await.unwrap();
    let (breaches, _) = sim.report("back on A").await;
    let counted = sim.store.payments_of(&[sim.invoice.id]).await.unwrap();
    assert_eq!(counted.len(), 1, "the booking is held by one payment that counts: {counted:#?}");
    assert!(breaches.is_empty(), "{breaches:#?}");
}

/// Written off, then its very block back (A -> B -> A): recovered in place.
/// The books are right; does the audit agree?
async fn recovered_in_place_is_sound(kind: Kind) {
    let Some(mut sim) = Sim::new(kind, 2).await else { return };
    sim.settled_on_a().await;
    sim.apply(Some(4), vec![header(5, B, BASE), header(6, B, B), header(7, B, B)], vec![]).await.unwrap();
    let gone = sim.apply(None, vec![header(8, B, B), header(9, B, B)], vec![]).await;
    assert!(gone.unwrap_err().contains("coffer chain resolve"));
    sim.halt().await;
    sim.store.resolve_displaced(CHAIN, DisplacedResolution::WriteOff, Timestamp::now(), "test").await.unwrap();
    sim.report("written off").await;
    let a5 = header(5, A, BASE);
    let t = sim.paid_in(&a5);
    let mut blocks = vec![a5];
    for n in 6..=10 {
        blocks.push(header(n, A, A));
    }
    sim.apply(Some(4), blocks, vec![t]).await.unwrap();
    let (breaches, _) = sim.report("recovered in place").await;
    // And a second time away: can it be written off again?
    let mut blocks = vec![header(5, B, BASE)];
    for n in 6..=11 {
        blocks.push(header(n, B, B));
    }
    sim.apply(Some(4), blocks, vec![]).await.unwrap();
    let gone = sim.apply(None, vec![header(12, B, B), header(13, B, B)], vec![]).await;
    assert!(gone.is_err());
    sim.halt().await;
    let again = sim.store.resolve_displaced(CHAIN, DisplacedResolution::WriteOff, Timestamp::now(), "again").await;
    assert!(again.is_ok(), "second write-off refused: {again:?}");
    assert!(breaches.is_empty(), "{breaches:#?}");
}

/// An operator writes a displaced payment off (its chain halted) while a
/// watcher that just found the transfer again applies the move it planned
/// before: the move is refused as stale, and planned again from the store it
/// carries the recovery.
async fn write_off_racing_a_move(kind: Kind) {
    let Some(mut sim) = Sim::new(kind, 2).await else { return };
    sim.settled_on_a().await;
    sim.apply(Some(4), vec![header(5, B, BASE), header(6, B, B)], vec![]).await.unwrap();
    sim.report("displaced").await;
    sim.halt().await;
    let b7 = header(7, B, B);
    let t = sim.paid_in(&b7);
    sim.pre_apply = Some(DisplacedResolution::WriteOff);
    let applied = sim.apply(None, vec![b7], vec![t.clone()]).await;
    assert!(applied.unwrap_err().contains("no longer displaced"), "the move planned on a displaced payment is stale");
    // The watcher reloads and plans again: the move now carries the recovery.
    sim.restart().await;
    sim.apply(None, vec![header(7, B, B)], vec![t]).await.unwrap();
    let (breaches, _) = sim.report("moved after the write-off, recovered").await;
    assert!(breaches.is_empty(), "{breaches:#?}");
    assert_eq!(sim.merchant_credit().await, U256::from(12_500_000u64), "credited once");
    let losses = sim.store.stored_balances().await.unwrap();
    let losses = losses.iter().find(|b| matches!(b.account, coffer_domain::Account::Losses(_))).unwrap();
    assert_eq!(losses.debits, losses.credits, "the write-off is undone");
}

coffer_store::on_both_backends!(
    write_off_racing_a_move,
    flip_flop_books_twice,
    a_b_a_loses_the_booking,
    recovered_in_place_is_sound
);
