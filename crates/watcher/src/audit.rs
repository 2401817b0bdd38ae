//! `coffer ledger check`: every invariant of the books, recomputed from the
//! rows, with every breach named.
//!
//! 1. Each transaction balances per asset and has its kind's shape: a
//!    receipt debits deposits and credits suspense; a settlement debits
//!    suspense and credits the invoice's merchant, in the invoice's asset.
//! 2. Debits equal credits across the ledger, and no account is negative.
//! 3. The stored running totals equal the totals recomputed from entries.
//! 4. Each booked payment that counts (canonical, displaced, written off)
//!    holds exactly one receipt, of its amount: its own, or the one of the
//!    payments whose booking moved to it (a transfer re-mined in another
//!    block after a deep reorganisation). A moved payment has passed its
//!    booking on; no unbooked or orphaned payment has a receipt.
//! 5. A written-off payment has one write-off of its amount, and one that
//!    was written off and then found again has a recovery too; no other has
//!    either. Write-offs and recoveries move money between deposits and
//!    losses only.
//! 6. An invoice is settled exactly when it has settlements, and they add up
//!    to the payments marked settled that count (the first one, and any
//!    confirmed later).
//!
//! Everything is read in one snapshot (one read transaction), so the check
//! can run beside a live gateway.

use std::collections::{BTreeMap, HashMap};

use coffer_domain::{
    Account, Amount, AssetId, Balances, Entry, InvoiceId, InvoiceStatus, LedgerTxId, MerchantId, PaymentId,
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
    invoice: InvoiceId,
    payment: Option<PaymentId>,
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
        let invoice = invoices.get(&posted.invoice);
        match (posted.kind, shape(&transaction)) {
            (PostingKind::Receipt, Some((Account::Deposits(_), Account::Suspense(_), amount))) => {
                match posted.payment {
                    Some(payment) => receipts.entry(payment).or_default().push(amount),
                    None => breaches.push(format!("receipt {id} names no payment")),
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
                if invoice.is_none_or(|(m, a, _)| (*m, *a) != (merchant, asset)) {
                    breaches.push(format!(
                        "settlement {id} credits {merchant} in {asset}, not invoice {}'s merchant and asset",
                        posted.invoice
                    ));
                }
                settlements.entry(posted.invoice).or_default().push(amount);
            }
            (kind, _) => breaches.push(format!("transaction {id} does not have the shape of a {}", kind.as_str())),
        }
    }
    if let Err(err) = books.check() {
        breaches.push(format!("the ledger as a whole: {err}"));
    }
    compare_stored_totals(&snapshot.balances, &books, breaches);

    // A booking that moved is held by the last payment it moved to.
    let moved_to: HashMap<PaymentId, PaymentId> = payments.iter().filter_map(|p| Some((p.moved_from?, p.id))).collect();
    let holder = |mut id: PaymentId| {
        let mut hops = 0;
        while let Some(next) = moved_to.get(&id) {
            id = *next;
            hops += 1;
            if hops > moved_to.len() {
                break; // a cycle: reported below as a payment without its receipt
            }
        }
        id
    };
    let mut held: HashMap<PaymentId, Vec<Amount>> = HashMap::new();
    for (payment, amounts) in receipts.drain() {
        held.entry(holder(payment)).or_default().extend(amounts);
    }
    let known: std::collections::HashSet<PaymentId> = payments.iter().map(|p| p.id).collect();
    let mut settled_sums: HashMap<InvoiceId, U256> = HashMap::new();
    for payment in &payments {
        let booked = payment.booked_at.is_some();
        let found = held.remove(&payment.id).unwrap_or_default();
        match (payment.state, booked, found.as_slice()) {
            (PaymentState::Canonical | PaymentState::Displaced | PaymentState::WrittenOff, true, [amount])
                if *amount == payment.amount => {}
            (PaymentState::Canonical | PaymentState::Displaced | PaymentState::WrittenOff, true, _) => breaches
                .push(format!("booked payment {} has receipts {found:?}, not one of {:?}", payment.id, payment.amount)),
            (PaymentState::Moved, true, []) if moved_to.contains_key(&payment.id) => {}
            (PaymentState::Moved, _, _) => breaches.push(format!(
                "payment {} is marked moved, but no payment carries its booking (or it kept a receipt)",
                payment.id
            )),
            (PaymentState::Orphaned, true, _) => breaches.push(format!(
                "payment {} was booked, then its block {} left the chain, and it was neither displaced nor moved",
                payment.id, payment.block.number
            )),
            (_, false, []) => {}
            (_, false, _) => breaches.push(format!("payment {} is not booked but has a receipt", payment.id)),
        }
        let offs = write_offs.remove(&payment.id).unwrap_or_default();
        let backs = recoveries.remove(&payment.id).unwrap_or_default();
        let of_amount = |list: &[Amount]| list.len() == 1 && list[0] == payment.amount;
        let sound = match payment.state {
            PaymentState::WrittenOff => of_amount(&offs) && backs.is_empty(),
            PaymentState::Moved if !offs.is_empty() => of_amount(&offs) && of_amount(&backs),
            _ => offs.is_empty() && backs.is_empty(),
        };
        if !sound {
            breaches.push(format!(
                "payment {} is {} with write-offs {offs:?} and recoveries {backs:?}",
                payment.id,
                payment.state.as_str()
            ));
        }
        if payment.settled_at.is_some() && payment.state.counts() {
            let sum = settled_sums.entry(payment.invoice_id).or_default();
            *sum = sum.saturating_add(payment.amount.units());
        }
    }
    for payment in held.keys().chain(write_offs.keys()).chain(recoveries.keys()) {
        if !known.contains(payment) {
            breaches.push(format!("a posting names payment {payment}, which does not exist"));
        }
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
