use std::str::FromStr;

use coffer_chain::Transfer;
use coffer_domain::{
    Asset, AssetId, AssetKind, AssetSymbol, B256, BlockHeader, BlockRef, DepositAddress, DerivationIndex, EventType,
    Exception, Exceptions, MerchantId,
};

use super::*;
use crate::NoScreening;

const CREATED: i64 = 1_700_000_000_000;
const EXPIRES: i64 = CREATED + 900_000;
/// The treasury's hot wallet.
const HOT: Address = Address::repeat_byte(0x40);

fn id(symbol: &str) -> AssetId {
    AssetId { chain_id: ChainId(31337), symbol: AssetSymbol::from_str(symbol).unwrap() }
}

fn book() -> AssetBook {
    AssetBook::new(vec![
        Asset { id: id("USDT"), kind: AssetKind::Erc20 { contract: Address::repeat_byte(0x70) }, decimals: 6 },
        Asset { id: id("ETH"), kind: AssetKind::Native, decimals: 18 },
    ])
}

fn invoice(units: u64) -> Invoice {
    Invoice {
        id: InvoiceId::new(),
        merchant_id: MerchantId::new(),
        status: InvoiceStatus::New,
        exceptions: Exceptions::default(),
        amount: Amount::from_units(id("USDT"), U256::from(units)),
        deposit: DepositAddress {
            index: DerivationIndex::try_from(7u64).unwrap(),
            address: Address::repeat_byte(0xd7),
        },
        order_id: None,
        metadata: serde_json::Map::new(),
        created_at: Timestamp::from_millis(CREATED),
        expires_at: Timestamp::from_millis(EXPIRES),
        checkout: coffer_domain::Checkout::random().unwrap(),
    }
}

fn hash(number: u64) -> B256 {
    B256::left_padding_from(&number.to_be_bytes())
}

fn transfer(to: &Invoice, asset: &str, units: u64, block: u64, at: i64) -> Transfer {
    Transfer {
        asset: id(asset),
        from: Address::repeat_byte(0xaa),
        to: to.deposit.address,
        value: U256::from(units),
        tx_hash: B256::repeat_byte(block as u8),
        log_index: (asset != "ETH").then_some(0),
        call_path: None,
        block: BlockRef { number: block, hash: hash(block) },
        block_time: Timestamp::from_millis(at),
    }
}

/// An update whose tip is stamped far ahead, so the step's `now` is the clock.
fn update(head: u64, transfers: Vec<Transfer>) -> ChainUpdate {
    stamped_update(head, transfers, 4_102_444_800)
}

fn stamped_update(head: u64, transfers: Vec<Transfer>, tip_secs: u64) -> ChainUpdate {
    let tip = BlockHeader { number: head, hash: hash(head), parent_hash: hash(head - 1), timestamp: tip_secs };
    ChainUpdate { parent: None, reverted_above: None, blocks: vec![tip], transfers }
}

/// A store of one invoice, kept the way the real one is after each step.
struct Books {
    touched: Touched,
    rules_assets: AssetBook,
    screener: Box<dyn crate::Screener>,
}

/// Holds payments from one sender, as a screening list naming it would.
#[derive(Debug)]
struct Listed(Address);

impl crate::Screener for Listed {
    fn screen(&self, sender: &Address) -> Option<coffer_domain::HoldReason> {
        (*sender == self.0).then(|| coffer_domain::HoldReason {
            category: "sanction".into(),
            list: "ofac.csv".into(),
            line: 2,
            label: Some("LAZARUS GROUP".into()),
            path: vec![],
        })
    }
}

impl Books {
    fn new(invoice: &Invoice) -> Self {
        let mut touched = Touched::default();
        touched.invoices.insert(invoice.id, invoice.clone());
        Self { touched, rules_assets: book(), screener: Box::new(NoScreening) }
    }

    fn step(&mut self, update: &ChainUpdate, now: i64) -> Plan {
        let rules = Rules {
            chain_id: ChainId(31337),
            confirmations: 2,
            assets: &self.rules_assets,
            hot_wallet: Some(HOT),
            screener: &*self.screener,
            public_url: "http://127.0.0.1:8080",
        };
        let lookup: HashMap<Address, InvoiceId> =
            self.touched.invoices.values().map(|i| (i.deposit.address, i.id)).collect();
        let touched = Touched {
            invoices: self.touched.invoices.clone(),
            payments: self.touched.payments.clone(),
            others: self.touched.others.clone(),
        };
        let plan =
            plan_update(rules, update, |a| lookup.get(a).copied(), touched, Timestamp::from_millis(now)).unwrap();
        // Apply it as the store would: above a fork, unbooked payments are
        // orphaned and booked ones displaced; a payment stored again is
        // canonical; one carrying another's booking moves it.
        if let Some(fork) = update.reverted_above {
            let others = &mut self.touched.others;
            for list in self.touched.payments.values_mut() {
                list.retain(|p| {
                    let orphaned = p.block.number > fork && p.booked_at.is_none() && p.state == PaymentState::Canonical;
                    if orphaned {
                        others.insert(p.id, Payment { state: PaymentState::Orphaned, ..p.clone() });
                    }
                    !orphaned
                });
                for p in list.iter_mut().filter(|p| p.block.number > fork && p.state == PaymentState::Canonical) {
                    p.state = PaymentState::Displaced;
                    p.displaced_until = Some(plan.displace_until);
                }
            }
        }
        for payment in &plan.payments {
            self.touched.others.remove(&payment.id);
            let list = self.touched.payments.entry(payment.invoice_id).or_default();
            if let Some(from) = payment.moved_from
                && let Some(index) = list.iter().position(|p| p.id == from && p.id != payment.id)
            {
                let moved = list.remove(index);
                self.touched
                    .others
                    .insert(from, Payment { state: PaymentState::Moved, displaced_until: None, ..moved });
            }
            list.retain(|p| p.id != payment.id);
            list.push(payment.clone());
        }
        for booking in &plan.bookings {
            for p in self.touched.payments.values_mut().flatten().filter(|p| p.id == booking.payment_id) {
                p.booked_at = Some(Timestamp::from_millis(now));
            }
        }
        for change in &plan.changes {
            let invoice = self.touched.invoices.get_mut(&change.invoice_id).unwrap();
            assert_eq!(invoice.status, change.from, "computed from the stored status");
            invoice.status = change.status;
            invoice.exceptions = change.exceptions;
            for settled in change.settlement.iter().flat_map(|s| &s.payments) {
                for p in self.touched.payments.values_mut().flatten().filter(|p| p.id == *settled) {
                    p.settled_at = Some(Timestamp::from_millis(now));
                }
            }
        }
        plan
    }

    fn invoice(&self) -> &Invoice {
        self.touched.invoices.values().next().unwrap()
    }
}

fn events(plan: &Plan) -> Vec<EventType> {
    plan.changes.iter().flat_map(|c| c.events.iter().map(|e| e.kind)).collect()
}

fn settled_units(plan: &Plan) -> Option<U256> {
    let settlement = plan.changes.iter().find_map(|c| c.settlement.as_ref())?;
    Some(settlement.posting.transaction.entries()[0].amount.units())
}

const ON_TIME: i64 = CREATED + 1_000;

#[test]
fn partial_payments_add_up_and_settle_once_confirmed() {
    let inv = invoice(10_000_000);
    let mut books = Books::new(&inv);
    let first = books.step(&update(10, vec![transfer(&inv, "USDT", 4_000_000, 10, ON_TIME)]), ON_TIME);
    assert_eq!((first.payments.len(), first.bookings.len()), (1, 0), "one confirmation of two: not booked");
    assert!(events(&first).is_empty(), "unconfirmed: nothing to act on yet");
    assert_eq!(books.invoice().status, InvoiceStatus::New);
    assert!(first.awaiting.contains(&inv.id));

    let second = books.step(&update(11, vec![transfer(&inv, "USDT", 6_000_000, 11, ON_TIME)]), ON_TIME);
    assert_eq!(second.bookings.len(), 1, "the first payment now has two confirmations");
    assert_eq!(events(&second), vec![EventType::InvoiceProcessing]);
    assert_eq!(
        (books.invoice().status, books.invoice().exceptions),
        (InvoiceStatus::Processing, Exceptions::default())
    );

    let third = books.step(&update(12, vec![]), ON_TIME);
    assert_eq!(third.bookings.len(), 1);
    assert_eq!(events(&third), vec![EventType::InvoiceSettled]);
    assert_eq!(settled_units(&third), Some(U256::from(10_000_000u64)), "both payments settle together");
    assert!(third.awaiting.is_empty());

    let after = books.step(&update(13, vec![]), ON_TIME);
    assert!(after.changes.is_empty() && after.bookings.is_empty(), "settled once");
}

#[test]
fn an_overpayment_settles_in_full_and_says_so() {
    let inv = invoice(10_000_000);
    let mut books = Books::new(&inv);
    let plan = books.step(&update(21, vec![transfer(&inv, "USDT", 12_000_000, 20, ON_TIME)]), ON_TIME);
    assert_eq!(events(&plan), vec![EventType::InvoicePaidOver, EventType::InvoiceSettled]);
    assert_eq!(settled_units(&plan), Some(U256::from(12_000_000u64)), "the merchant is credited what arrived");
}

#[test]
fn gas_the_hot_wallet_sends_a_deposit_is_no_payment() {
    let inv = invoice(10_000_000);
    let mut books = Books::new(&inv);
    let gas = Transfer { from: HOT, ..transfer(&inv, "ETH", 77_900, 20, ON_TIME) };
    let plan = books.step(&update(21, vec![gas]), ON_TIME);
    assert!(plan.payments.is_empty() && plan.bookings.is_empty() && plan.changes.is_empty(), "{plan:?}");
    assert_eq!(books.invoice().exceptions, Exceptions::default());
    // The same from anyone else is a payment in the wrong asset.
    let plan = books.step(&update(22, vec![transfer(&inv, "ETH", 77_900, 21, ON_TIME)]), ON_TIME);
    assert_eq!(events(&plan), vec![EventType::InvoiceWrongAsset]);
}

#[test]
fn a_wrong_asset_is_recorded_and_booked_but_never_settles() {
    let inv = invoice(10_000_000);
    let mut books = Books::new(&inv);
    let plan = books.step(&update(21, vec![transfer(&inv, "ETH", 10_000_000, 20, ON_TIME)]), ON_TIME);
    assert_eq!(plan.payments.len(), 1);
    assert_eq!(plan.bookings.len(), 1, "the money is on our address: the books say so (in suspense)");
    assert_eq!(events(&plan), vec![EventType::InvoiceWrongAsset]);
    assert_eq!(books.invoice().status, InvoiceStatus::New);
    assert!(books.invoice().exceptions.contains(Exception::WrongAsset));
    let payload: serde_json::Value = serde_json::from_str(&plan.changes[0].events[0].payload).unwrap();
    assert_eq!(payload["data"]["invoice"]["payments"][0]["credited"], false);
    assert_eq!(payload["data"]["invoice"]["paid_units"], "0");
}

#[test]
fn a_reorganisation_un_sees_an_unconfirmed_payment() {
    let inv = invoice(10_000_000);
    let mut books = Books::new(&inv);
    books.step(&update(30, vec![transfer(&inv, "USDT", 10_000_000, 30, ON_TIME)]), ON_TIME);
    assert_eq!(books.invoice().status, InvoiceStatus::Processing);
    let mut reorg = update(31, vec![]);
    reorg.reverted_above = Some(29);
    let plan = books.step(&reorg, ON_TIME);
    assert!(plan.bookings.is_empty(), "never credited");
    assert_eq!(plan.changes[0].status, InvoiceStatus::New);
    assert_eq!(events(&plan), vec![EventType::InvoiceProcessingWithdrawn], "said out loud");
    assert!(plan.awaiting.is_empty());
    // Re-mined in block 31: a new payment, counted once.
    let plan = books.step(&update(32, vec![transfer(&inv, "USDT", 10_000_000, 31, ON_TIME)]), ON_TIME);
    assert_eq!(settled_units(&plan), Some(U256::from(10_000_000u64)));
}

#[test]
fn a_transfer_seen_twice_is_one_payment() {
    let inv = invoice(10_000_000);
    let mut books = Books::new(&inv);
    let pay = transfer(&inv, "USDT", 4_000_000, 10, ON_TIME);
    books.step(&update(10, vec![pay.clone()]), ON_TIME);
    let again = books.step(&update(10, vec![pay]), ON_TIME);
    assert!(again.payments.is_empty());
    assert!(again.changes.is_empty());
}

#[test]
fn a_late_payment_settles_an_expired_invoice_and_is_flagged() {
    let mut inv = invoice(10_000_000);
    inv.status = InvoiceStatus::Expired;
    let mut books = Books::new(&inv);
    let late = EXPIRES + 60_000;
    let plan = books.step(&update(41, vec![transfer(&inv, "USDT", 10_000_000, 40, late)]), late);
    assert_eq!(events(&plan), vec![EventType::InvoicePaidLate, EventType::InvoiceSettled]);
    assert_eq!(plan.changes[0].from, InvoiceStatus::Expired);
}

#[test]
fn catching_up_on_blocks_from_before_the_expiry_does_not_expire() {
    // The gateway was down past the expiry; the backlog it reads now ends in
    // a block stamped before it. What comes next may still pay on time.
    let inv = invoice(10_000_000);
    let mut books = Books::new(&inv);
    let before_expiry = (EXPIRES / 1000 - 60) as u64;
    let wall_clock = EXPIRES + 3_600_000;
    let plan = books.step(&stamped_update(20, vec![], before_expiry), wall_clock);
    assert!(plan.changes.is_empty(), "{:?}", events(&plan));
    // A block stamped at the expiry is read: now it has expired.
    let plan = books.step(&stamped_update(21, vec![], (EXPIRES / 1000) as u64), wall_clock);
    assert_eq!(events(&plan), vec![EventType::InvoiceExpired]);
}

#[test]
fn transfers_to_unknown_addresses_are_ignored() {
    let inv = invoice(10_000_000);
    let mut books = Books::new(&inv);
    let mut stray = transfer(&inv, "USDT", 1, 10, ON_TIME);
    stray.to = Address::repeat_byte(0x01);
    let plan = books.step(&update(10, vec![stray]), ON_TIME);
    assert!(plan.payments.is_empty() && plan.changes.is_empty());
}

#[test]
fn a_payment_confirmed_after_settlement_is_credited_too() {
    let inv = invoice(10_000_000);
    let mut books = Books::new(&inv);
    // 10 in block 10, 2 more in block 11; two confirmations: settles at 11 with the first.
    books.step(&update(10, vec![transfer(&inv, "USDT", 10_000_000, 10, ON_TIME)]), ON_TIME);
    let settled = books.step(&update(11, vec![transfer(&inv, "USDT", 2_000_000, 11, ON_TIME)]), ON_TIME);
    assert_eq!(settled_units(&settled), Some(U256::from(10_000_000u64)));
    assert_eq!(events(&settled), vec![EventType::InvoiceSettled], "the overpayment is not confirmed yet");
    // The overpayment confirms a block later: credited as well, whatever the blocks, and now flagged.
    let later = books.step(&update(12, vec![]), ON_TIME);
    assert_eq!(settled_units(&later), Some(U256::from(2_000_000u64)));
    assert_eq!(later.changes[0].from, InvoiceStatus::Settled);
    assert_eq!(events(&later), vec![EventType::InvoicePaidOver]);
    let after = books.step(&update(13, vec![]), ON_TIME);
    assert!(after.changes.is_empty(), "nothing twice");
}

#[test]
fn an_unconfirmed_overpayment_raises_nothing_until_confirmed_and_nothing_if_reorganised_away() {
    let inv = invoice(10_000_000);
    let mut books = Books::new(&inv);
    let seen = books.step(&update(30, vec![transfer(&inv, "USDT", 1_000_000_000, 30, ON_TIME)]), ON_TIME);
    assert_eq!(events(&seen), vec![EventType::InvoiceProcessing], "no paid_over at one confirmation");
    let mut reorg = update(31, vec![]);
    reorg.reverted_above = Some(29);
    let gone = books.step(&reorg, ON_TIME);
    assert_eq!(events(&gone), vec![EventType::InvoiceProcessingWithdrawn]);
    assert_eq!((books.invoice().status, books.invoice().exceptions), (InvoiceStatus::New, Exceptions::default()));
}

/// A settled payment of block 10 (two confirmations at 11), then a
/// reorganisation from block 9 whose new chain reaches block 11 again.
fn settled_then_reorganised(books: &mut Books, inv: &Invoice, remined: Vec<Transfer>) -> Result<Plan, PlanError> {
    books.step(&update(10, vec![transfer(inv, "USDT", 10_000_000, 10, ON_TIME)]), ON_TIME);
    let settled = books.step(&update(11, vec![]), ON_TIME);
    assert_eq!(events(&settled), vec![EventType::InvoiceSettled]);
    let mut reorg = update(11, remined);
    reorg.blocks[0].hash = B256::repeat_byte(0xee);
    reorg.reverted_above = Some(9);
    let rules = Rules {
        chain_id: ChainId(31337),
        confirmations: 2,
        assets: &books.rules_assets,
        hot_wallet: None,
        screener: &NoScreening,
        public_url: "http://127.0.0.1:8080",
    };
    let lookup: HashMap<Address, InvoiceId> = HashMap::from([(inv.deposit.address, inv.id)]);
    let touched = Touched {
        invoices: books.touched.invoices.clone(),
        payments: books.touched.payments.clone(),
        others: books.touched.others.clone(),
    };
    plan_update(rules, &reorg, |a| lookup.get(a).copied(), touched, Timestamp::from_millis(ON_TIME))
}

#[test]
fn a_booked_payment_re_mined_in_another_block_moves_its_booking_and_changes_no_books() {
    let inv = invoice(10_000_000);
    let mut books = Books::new(&inv);
    let mut remined = transfer(&inv, "USDT", 10_000_000, 11, ON_TIME);
    remined.tx_hash = B256::repeat_byte(10); // the same transaction as in block 10
    remined.block.hash = B256::repeat_byte(0xee);
    remined.log_index = Some(3); // elsewhere in its new block
    let plan = settled_then_reorganised(&mut books, &inv, vec![remined]).unwrap();
    assert_eq!(plan.payments.len(), 1);
    let moved = &plan.payments[0];
    let old = books.touched.payments[&inv.id][0].id;
    assert_eq!(moved.moved_from, Some(old), "it carries the first one's booking");
    assert!(moved.booked_at.is_some() && moved.settled_at.is_some());
    assert!(plan.bookings.is_empty() && plan.recoveries.is_empty(), "no posting: the books do not change");
    assert!(plan.changes.is_empty(), "the invoice stays settled, no event");
}

#[test]
fn a_booked_payment_not_re_mined_is_awaited_then_gone() {
    let inv = invoice(10_000_000);
    let mut books = Books::new(&inv);
    // The new chain reaches 11 without it: displaced, still counted, awaited until block 13.
    let plan = settled_then_reorganised(&mut books, &inv, vec![]).unwrap();
    assert_eq!(plan.displace_until, 13);
    assert!(plan.changes.is_empty(), "still settled, still credited");
    assert!(plan.awaiting.contains(&inv.id));
    let mut reorg = update(11, vec![]);
    reorg.reverted_above = Some(9);
    let mut displaced = books.touched.payments.clone();
    for p in displaced.values_mut().flatten() {
        p.state = PaymentState::Displaced;
        p.displaced_until = Some(13);
    }
    let rules = Rules {
        chain_id: ChainId(31337),
        confirmations: 2,
        assets: &books.rules_assets,
        hot_wallet: None,
        screener: &NoScreening,
        public_url: "http://127.0.0.1:8080",
    };
    let lookup = |_: &Address| Some(inv.id);
    let at = |head: u64| {
        let touched =
            Touched { invoices: books.touched.invoices.clone(), payments: displaced.clone(), ..Touched::default() };
        plan_update(rules, &update(head, vec![]), lookup, touched, Timestamp::from_millis(ON_TIME))
    };
    assert!(at(12).is_ok(), "block 12: still awaited");
    let gone = at(13).unwrap_err();
    assert!(matches!(&gone, PlanError::TransferGone { head: 13, payments } if payments.len() == 1), "{gone}");
    assert!(gone.to_string().contains("coffer chain resolve"));
}

#[test]
fn a_written_off_payment_found_again_is_recovered() {
    let inv = invoice(10_000_000);
    let mut books = Books::new(&inv);
    books.step(&update(10, vec![transfer(&inv, "USDT", 10_000_000, 10, ON_TIME)]), ON_TIME);
    books.step(&update(11, vec![]), ON_TIME);
    for p in books.touched.payments.values_mut().flatten() {
        p.state = PaymentState::WrittenOff;
    }
    let mut remined = transfer(&inv, "USDT", 10_000_000, 20, ON_TIME);
    remined.tx_hash = B256::repeat_byte(10);
    let plan = books.step(&update(21, vec![remined]), ON_TIME);
    assert_eq!(plan.recoveries.len(), 1, "the write-off is undone");
    assert!(plan.payments[0].moved_from.is_some() && plan.bookings.is_empty());
    assert!(plan.changes.is_empty(), "the merchant was credited all along");
}

#[test]
fn a_payment_from_a_listed_sender_is_held_booked_apart_and_never_settles_until_released() {
    let inv = invoice(100);
    let mut books = Books::new(&inv);
    books.screener = Box::new(Listed(Address::repeat_byte(0xaa)));
    let seen = books.step(&update(10, vec![transfer(&inv, "USDT", 100, 10, CREATED + 1_000)]), CREATED + 2_000);
    let hold = seen.payments[0].hold.as_ref().expect("held when seen");
    assert_eq!((hold.state, hold.reason.source()), (coffer_domain::HoldState::Held, "ofac.csv:2".to_owned()));
    assert!(seen.changes.is_empty(), "unconfirmed: nothing to say yet");
    let confirmed = books.step(&update(11, vec![]), CREATED + 3_000);
    assert_eq!(confirmed.bookings.len(), 1);
    assert_eq!(
        coffer_store::PostingKind::of(&confirmed.bookings[0].receipt.transaction),
        Some(coffer_store::PostingKind::HeldReceipt),
        "booked to held, not suspense"
    );
    let change = &confirmed.changes[0];
    assert_eq!((change.status, change.exceptions), (InvoiceStatus::New, [Exception::Held].into_iter().collect()));
    assert!(change.settlement.is_none(), "a held payment credits no one");
    assert_eq!(change.events.iter().map(|e| e.kind).collect::<Vec<_>>(), vec![EventType::InvoiceHeld]);
    assert!(change.events[0].payload.contains("\"category\":\"sanction\""), "the hit is in the webhook");

    // An operator releases it: it counts from then on, and the invoice settles with it.
    let mut invoice = Invoice { exceptions: change.exceptions, ..inv.clone() };
    let mut payments = books.touched.payments[&inv.id].clone();
    payments[0].hold.as_mut().unwrap().state = coffer_domain::HoldState::Released;
    let rules = Rules {
        chain_id: ChainId(31337),
        confirmations: 2,
        assets: &books.rules_assets,
        hot_wallet: None,
        screener: &NoScreening,
        public_url: "http://127.0.0.1:8080",
    };
    let now = Timestamp::from_millis(CREATED + 4_000);
    let released = change_for(rules, &invoice, &mut payments, Some(11), now, now).unwrap().unwrap();
    assert_eq!((released.status, released.exceptions), (InvoiceStatus::Settled, Exceptions::default()));
    assert_eq!(released.settlement.as_ref().map(|s| s.payments.clone()), Some(vec![payments[0].id]));
    // Rejected instead: never credited, whatever the head.
    payments[0].hold.as_mut().unwrap().state = coffer_domain::HoldState::Rejected;
    payments[0].settled_at = None;
    invoice.status = InvoiceStatus::New;
    let rejected = change_for(rules, &invoice, &mut payments, Some(50), now, now).unwrap();
    assert!(rejected.is_none(), "still new with held, nothing to credit: {rejected:?}");
}
