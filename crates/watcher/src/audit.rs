//! `coffer ledger check`: every invariant of the books, recomputed from the
//! rows, with every breach named.
//!
//! 1. Each transaction balances per asset and has its kind's shape: a
//!    receipt debits deposits and credits suspense; a settlement debits
//!    suspense and credits the invoice's merchant, in the invoice's asset.
//! 2. Debits equal credits across the ledger, and no account is negative.
//! 3. The stored running totals equal the totals recomputed from entries.
//! 4. Payments linked by `moved_from` (a transfer whose booking moved
//!    between blocks in deep reorganisations, maybe back again) share one
//!    booking: of a booked group exactly one counts (canonical, displaced or
//!    written off), the group holds exactly one receipt, of its amount, and
//!    the rest are moved. No unbooked or orphaned payment has a receipt.
//! 5. A group's write-offs are its recoveries, plus one if its counting
//!    payment is written off now, all of its amount. Write-offs and
//!    recoveries move money between deposits and losses only.
//! 6. An invoice is settled exactly when it has settlements, and they add up
//!    to the payments marked settled that count (the first one, and any
//!    confirmed later).
//! 7. A payment screening holds (ADR 0015) is booked to held, never to
//!    suspense, and never settles: held or rejected, its receipt is a held
//!    receipt and nothing releases it; released, it has either a plain
//!    receipt (released before it was booked) or a held receipt and one
//!    release of its amount. No unheld payment has a held receipt.
//! 8. The postings that follow money out (a payout's reserve, release,
//!    book-out and fee; a sweep, its top-up and fee; hot to cold) have their
//!    kind's shape and name their payout or sweep. That the hot wallet is
//!    never below zero is (2): paying out what the books never saw swept in
//!    is a breach.
//!
//! Everything is read in one snapshot (one read transaction), so the check
//! can run beside a live gateway.

use std::collections::{BTreeMap, HashMap, HashSet};

use coffer_domain::{
    Account, Amount, AssetId, Balances, Entry, HoldState, InvoiceId, InvoiceStatus, LedgerTxId, MerchantId, PaymentId,
    PaymentState, Side, Transaction, U256,
};
use coffer_store::{PostingKind, Store, StoreError, StoredBalance};

/// What the check found.
#[derive(Debug, Default)]
pub struct AuditReport {
    /// Transactions read.
    pub transactions: u64,
    /// Entries read.
    pub entries: u64,
    /// Payments read.
    pub payments: u64,
    /// Every account's balance, recomputed from the entries.
    pub balances: Vec<(Account, Amount)>,
    /// Broken invariants, one sentence each; empty when the books are sound.
    pub breaches: Vec<String>,
}

impl AuditReport {
    /// Whether every invariant holds.
    pub fn is_sound(&self) -> bool {
        self.breaches.is_empty()
    }
}

struct Posted {
    kind: PostingKind,
    invoice: Option<InvoiceId>,
    payment: Option<PaymentId>,
    /// Whether it names a payout or a sweep.
    names_transfer: bool,
    entries: Vec<Entry>,
}

/// Runs every check over the whole store.
pub async fn check_ledger(store: &dyn Store) -> Result<AuditReport, StoreError> {
    let mut report = AuditReport::default();
    let snapshot = store.ledger_snapshot().await?;
    let mut postings: BTreeMap<LedgerTxId, Posted> = BTreeMap::new();
    for e in snapshot.entries {
        report.entries += 1;
        let posted = postings.entry(e.transaction_id).or_insert_with(|| Posted {
            kind: e.kind,
            invoice: e.invoice_id,
            payment: e.payment_id,
            names_transfer: e.payout_id.is_some() || e.sweep_id.is_some(),
            entries: Vec::new(),
        });
        posted.entries.push(Entry { account: e.account, side: e.side, amount: e.amount });
    }
    let invoices: HashMap<InvoiceId, (MerchantId, AssetId, InvoiceStatus)> =
        snapshot.invoices.into_iter().map(|(id, merchant, asset, status)| (id, (merchant, asset, status))).collect();
    let payments = snapshot.payments;
    report.transactions = postings.len() as u64;
    report.payments = payments.len() as u64;

    let breaches = &mut report.breaches;
    let mut books = Balances::default();
    let mut receipts: HashMap<PaymentId, Vec<Amount>> = HashMap::new();
    let mut write_offs: HashMap<PaymentId, Vec<Amount>> = HashMap::new();
    let mut recoveries: HashMap<PaymentId, Vec<Amount>> = HashMap::new();
    let mut settlements: HashMap<InvoiceId, Vec<Amount>> = HashMap::new();
    let mut held_receipts: HashSet<PaymentId> = HashSet::new();
    let mut releases: HashMap<PaymentId, Vec<Amount>> = HashMap::new();
    for (id, posted) in postings {
        let transaction = match Transaction::new(posted.entries) {
            Ok(transaction) => transaction,
            Err(err) => {
                breaches.push(format!("transaction {id}: {err}"));
                continue;
            }
        };
        if let Err(err) = books.apply(&transaction) {
            breaches.push(format!("transaction {id}: {err}"));
        }
        let invoice = posted.invoice.and_then(|id| invoices.get(&id));
        match (posted.kind, shape(&transaction)) {
            (PostingKind::Receipt, Some((Account::Deposits(_), Account::Suspense(_), amount))) => {
                match posted.payment {
                    Some(payment) => receipts.entry(payment).or_default().push(amount),
                    None => breaches.push(format!("receipt {id} names no payment")),
                }
            }
            (PostingKind::HeldReceipt, Some((Account::Deposits(_), Account::Held(_), amount))) => {
                match posted.payment {
                    Some(payment) => {
                        receipts.entry(payment).or_default().push(amount);
                        held_receipts.insert(payment);
                    }
                    None => breaches.push(format!("held receipt {id} names no payment")),
                }
            }
            (PostingKind::HoldRelease, Some((Account::Held(_), Account::Suspense(_), amount))) => {
                match posted.payment {
                    Some(payment) => releases.entry(payment).or_default().push(amount),
                    None => breaches.push(format!("hold release {id} names no payment")),
                }
            }
            (PostingKind::WriteOff, Some((Account::Losses(_), Account::Deposits(_), amount))) => match posted.payment {
                Some(payment) => write_offs.entry(payment).or_default().push(amount),
                None => breaches.push(format!("write-off {id} names no payment")),
            },
            (PostingKind::Recovery, Some((Account::Deposits(_), Account::Losses(_), amount))) => match posted.payment {
                Some(payment) => recoveries.entry(payment).or_default().push(amount),
                None => breaches.push(format!("recovery {id} names no payment")),
            },
            (PostingKind::Settlement, Some((Account::Suspense(_), Account::Merchant(merchant, asset), amount))) => {
                let Some(invoice_id) = posted.invoice else {
                    breaches.push(format!("settlement {id} names no invoice"));
                    continue;
                };
                if invoice.is_none_or(|(m, a, _)| (*m, *a) != (merchant, asset)) {
                    breaches.push(format!(
                        "settlement {id} credits {merchant} in {asset}, not invoice {invoice_id}'s merchant and asset"
                    ));
                }
                settlements.entry(invoice_id).or_default().push(amount);
            }
            (kind, Some(_)) if is_transfer(kind) && PostingKind::of(&transaction) == Some(kind) => {
                if !posted.names_transfer && kind != PostingKind::HotToCold {
                    breaches.push(format!("{} {id} names no payout or sweep", kind.as_str()));
                }
            }
            (kind, _) => breaches.push(format!("transaction {id} does not have the shape of a {}", kind.as_str())),
        }
    }
    if let Err(err) = books.check() {
        breaches.push(format!("the ledger as a whole: {err}"));
    }
    compare_stored_totals(&snapshot.balances, &books, breaches);

    // Payments linked by `moved_from` share one booking (a transfer that
    // moved between blocks, and maybe back): each such group is checked as a
    // whole. A payment alone is a group of one.
    let index: HashMap<PaymentId, usize> = payments.iter().enumerate().map(|(i, p)| (p.id, i)).collect();
    let mut parent: Vec<usize> = (0..payments.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    for (i, payment) in payments.iter().enumerate() {
        match payment.moved_from.map(|from| index.get(&from)) {
            Some(Some(&j)) => {
                let (a, b) = (root(&mut parent, i), root(&mut parent, j));
                parent[a] = b;
            }
            Some(None) => {
                breaches.push(format!("payment {} took the booking of a payment that does not exist", payment.id))
            }
            None => {}
        }
    }
    let mut groups: HashMap<usize, Vec<usize>> = HashMap::new();
    for i in 0..payments.len() {
        groups.entry(root(&mut parent, i)).or_default().push(i);
    }
    let named = |postings: &mut HashMap<PaymentId, Vec<Amount>>, members: &[usize]| -> Vec<Amount> {
        members.iter().flat_map(|&i| postings.remove(&payments[i].id).unwrap_or_default()).collect()
    };
    let mut settled_sums: HashMap<InvoiceId, U256> = HashMap::new();
    let mut groups: Vec<Vec<usize>> = groups.into_values().collect();
    groups.sort();
    for members in groups {
        let found = named(&mut receipts, &members);
        let offs = named(&mut write_offs, &members);
        let backs = named(&mut recoveries, &members);
        let released = named(&mut releases, &members);
        let held_receipt = members.iter().any(|&i| held_receipts.remove(&payments[i].id));
        let counting: Vec<&coffer_domain::Payment> =
            members.iter().map(|&i| &payments[i]).filter(|p| p.state.counts()).collect();
        let first = &payments[members[0]];
        let names = || members.iter().map(|&i| payments[i].id.to_string()).collect::<Vec<_>>().join(", ");
        for &i in &members {
            let p = &payments[i];
            if p.state == PaymentState::Orphaned && p.booked_at.is_some() {
                breaches.push(format!(
                    "payment {} was booked, then its block {} left the chain, and it was neither displaced nor moved",
                    p.id, p.block.number
                ));
            }
            if p.amount != first.amount {
                breaches.push(format!("payments {} share a booking but not an amount", names()));
            }
        }
        let booked =
            members.iter().any(|&i| payments[i].booked_at.is_some() && payments[i].state != PaymentState::Orphaned);
        match (booked, counting.as_slice()) {
            // Not booked (yet, or ever): no posting may name it.
            (false, _) => {
                if !(found.is_empty() && offs.is_empty() && backs.is_empty() && released.is_empty()) {
                    breaches.push(format!("payment {} is not booked but has a receipt", names()));
                }
                if members.len() > 1 || first.state == PaymentState::Moved {
                    breaches.push(format!("payments {} are linked as moved but none is booked", names()));
                }
            }
            // Booked: exactly one of the group counts, holding exactly one receipt of
            // its amount; write-offs less recoveries say whether it is written off.
            (true, [holder]) => {
                if holder.booked_at.is_none() || found.len() != 1 || found[0] != holder.amount {
                    breaches.push(format!(
                        "booked payment {} has receipts {found:?}, not one of {:?} (linked: {})",
                        holder.id,
                        holder.amount,
                        names()
                    ));
                }
                let written_off = usize::from(holder.state == PaymentState::WrittenOff);
                let amounts_right = offs.iter().chain(&backs).all(|a| *a == holder.amount);
                if offs.len() != backs.len() + written_off || !amounts_right {
                    breaches.push(format!(
                        "payment {} is {} with write-offs {offs:?} and recoveries {backs:?} (linked: {})",
                        holder.id,
                        holder.state.as_str(),
                        names()
                    ));
                }
                let hold = holder.hold.as_ref().map(|h| h.state);
                let hold_right = match hold {
                    None => !held_receipt && released.is_empty(),
                    Some(HoldState::Held | HoldState::Rejected) => {
                        held_receipt && released.is_empty() && holder.settled_at.is_none()
                    }
                    Some(HoldState::Released) => {
                        if held_receipt {
                            released == [holder.amount]
                        } else {
                            released.is_empty()
                        }
                    }
                };
                if !hold_right {
                    breaches.push(format!(
                        "payment {} (hold {}) has {} receipt, releases {released:?}{}",
                        holder.id,
                        hold.map_or("none", HoldState::as_str),
                        if held_receipt { "a held" } else { "a plain" },
                        if holder.settled_at.is_some() { ", and is settled" } else { "" }
                    ));
                }
                if holder.settled_at.is_some() {
                    let sum = settled_sums.entry(holder.invoice_id).or_default();
                    *sum = sum.saturating_add(holder.amount.units());
                }
            }
            (true, counted) => breaches.push(format!(
                "{} of the payments {} sharing one booking count (exactly one must): booked twice or lost",
                counted.len(),
                names()
            )),
        }
    }
    for payment in receipts.keys().chain(write_offs.keys()).chain(recoveries.keys()).chain(releases.keys()) {
        breaches.push(format!("a posting names payment {payment}, which does not exist"));
    }
    for (id, (_, _, status)) in &invoices {
        let found = settlements.remove(id).unwrap_or_default();
        let settled = settled_sums.remove(id).unwrap_or_default();
        match (*status == InvoiceStatus::Settled, found.as_slice()) {
            (true, [amount]) if amount.units() == settled => {}
            (true, [amount]) => breaches
                .push(format!("invoice {id} settled {} but its settled payments add up to {settled}", amount.units())),
            (false, []) if settled.is_zero() => {}
            (settled_status, _) => breaches.push(format!(
                "invoice {id} is {status} with {} settlement(s) and {settled} in settled payments",
                found.len(),
                status = if settled_status { "settled" } else { "not settled" },
            )),
        }
    }
    for id in settlements.keys() {
        breaches.push(format!("a settlement names invoice {id}, which does not exist"));
    }
    report.balances = books.accounts().filter_map(|a| books.balance(a).ok().map(|b| (a, b))).collect();
    Ok(report)
}

/// Whether postings of this kind follow money out of the deposit addresses
/// (payouts, sweeps), rather than book an invoice's.
fn is_transfer(kind: PostingKind) -> bool {
    !matches!(
        kind,
        PostingKind::Receipt
            | PostingKind::Settlement
            | PostingKind::WriteOff
            | PostingKind::Recovery
            | PostingKind::HeldReceipt
            | PostingKind::HoldRelease
    )
}

/// A two-entry transaction as (debited account, credited account, amount).
fn shape(transaction: &Transaction) -> Option<(Account, Account, Amount)> {
    match transaction.entries() {
        [a, b] if a.side == Side::Debit && b.side == Side::Credit && a.amount == b.amount => {
            Some((a.account, b.account, a.amount))
        }
        _ => None,
    }
}

fn compare_stored_totals(balances: &[StoredBalance], books: &Balances, breaches: &mut Vec<String>) {
    let mut stored: HashMap<Account, (U256, U256)> = HashMap::new();
    for balance in balances {
        stored.insert(balance.account, (balance.debits, balance.credits));
    }
    for account in books.accounts() {
        let computed = books.totals(account);
        match stored.remove(&account) {
            Some(totals) if totals == computed => {}
            found => breaches.push(format!(
                "stored totals of {account:?} are {found:?}, entries add up to (debits, credits) {computed:?}"
            )),
        }
    }
    for (account, totals) in stored {
        if totals != (U256::ZERO, U256::ZERO) {
            breaches.push(format!("stored totals of {account:?} are {totals:?} but it has no entries"));
        }
    }
}
