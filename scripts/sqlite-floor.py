#!/usr/bin/env python3
"""SQLite's own cost of the rows a catch-up writes, without Coffer.

`coffer bench catchup` compares the gateway with the node's `eth_getLogs`.
This script answers the question that comparison raises: how fast could any
gateway book those payments in SQLite? It writes, in Coffer's real schema
(the migrations of this checkout) and with the store's settings (WAL,
synchronous=FULL, foreign keys, no checkpoint inside commits), exactly the
rows Coffer's chain step writes for each confirmed payment:

    a payment (inserted unbooked, then marked booked and settled), an
    invoice update, a receipt and a settlement (2 ledger transactions, 4
    entries), an event (an ~1 KB invoice body) and a webhook delivery; per
    step also the range's last block, the window trim and the cursor.
    Payments go to every (invoices / payments)-th invoice, as the bench's do.

Rows are built before the clock starts and written with Python's sqlite3
`executemany` (one prepared statement per kind, looped in C): no async
runtime, no thread hand-off, no planning. What it prints is a floor for
SQLite's work, not a measurement of Coffer. Two differences remain: it uses
the SQLite Python was built with (the gateway bundles its own, newer), and
no checkpoint runs beside it (the gateway's does, on the same cores).

    python3 scripts/sqlite-floor.py [--payments 10000] [--invoices 100000] [--step 1000]
"""

import argparse
import glob
import itertools
import json
import os
import sqlite3
import statistics
import struct
import tempfile
import time
import uuid

MIGRATIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crates", "store", "migrations", "sqlite")
CHAIN, ASSET, AMOUNT, NOW, WINDOW = 31337, "USDT", "1000000", 1_764_000_000_000, 64

_sequence = itertools.count(1 << 40)


def v7() -> bytes:
    """A time-ordered 16-byte id, as Coffer's UUIDv7 ids: B-tree inserts append."""
    return struct.pack(">Q", next(_sequence)) + os.urandom(8)


def invoice_body(invoice: bytes, address: bytes) -> str:
    """An `invoice.settled` payload shaped like `coffer_watcher::view::event_payload`."""
    payment = {
        "id": "0x" + os.urandom(32).hex(), "asset": ASSET, "amount": "1", "amount_units": AMOUNT,
        "tx_hash": "0x" + os.urandom(32).hex(), "log_index": 0, "block_number": 1234,
        "block_hash": "0x" + os.urandom(32).hex(), "confirmations": 12, "status": "confirmed",
        "from": "0x" + os.urandom(20).hex(), "seen_at": "2026-11-25T10:00:00.000Z",
    }
    view = {
        "id": "inv_" + invoice.hex(), "status": "settled", "exceptions": [], "amount": "1", "amount_units": AMOUNT,
        "paid": "1", "paid_units": AMOUNT, "asset": ASSET, "chain_id": CHAIN, "address": "0x" + address.hex(),
        "payment_uri": f"ethereum:0x{os.urandom(20).hex()}@{CHAIN}/transfer?address=0x{address.hex()}&uint256={AMOUNT}",
        "payments": [payment], "order_id": "order-12345", "metadata": {},
        "expires_at": "2026-11-25T11:00:00.000Z", "created_at": "2026-11-25T10:00:00.000Z",
    }
    body = {"id": "evt_" + v7().hex(), "type": "invoice.settled", "created_at": "2026-11-25T10:00:01.000Z", "data": {"invoice": view}}
    return json.dumps(body, separators=(",", ":"))


def open_store(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON", "wal_autocheckpoint=0"):
        db.execute(f"PRAGMA {pragma}")
    migrations = sorted(glob.glob(os.path.join(MIGRATIONS, "*.sql")))
    if not migrations:
        raise SystemExit(f"no migrations under {MIGRATIONS}")
    for migration in migrations:
        with open(migration) as f:
            db.executescript(f.read())
    return db


def seed(db, invoices: int):
    merchant, endpoint = v7(), v7()
    db.execute("INSERT INTO merchants VALUES (?, 'shop', ?)", (merchant, NOW))
    db.execute(
        "INSERT INTO webhook_endpoints VALUES (?, ?, 'http://127.0.0.1:9/hook', 'invoice.settled', ?, ?, NULL)",
        (endpoint, merchant, "s" * 64, NOW),
    )
    rows = [(v7(), merchant, n, os.urandom(20)) for n in range(invoices)]
    db.execute("BEGIN")
    db.executemany(
        "INSERT INTO invoices (id, merchant_id, status, chain_id, asset, amount, derivation_index, address, "
        f"created_at, expires_at) VALUES (?, ?, 'new', {CHAIN}, '{ASSET}', '{AMOUNT}', ?, ?, {NOW}, {NOW + 3_600_000})",
        rows,
    )
    db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return merchant, endpoint, [(r[0], r[3]) for r in rows]


def step_rows(first: int, count: int, stride: int, merchant: bytes, endpoint: bytes, invoices) -> dict:
    """Everything one step writes for payments `first..first+count` (block n pays invoice n * stride)."""
    keys = ("blocks", "payments", "marked", "invoices", "transactions", "entries", "events", "deliveries")
    rows = {k: [] for k in keys}
    # Catching up, the gateway keeps only a range's last header.
    last = first + count
    rows["blocks"].append((last, os.urandom(32), os.urandom(32), last))
    for n in range(first, last):
        invoice, address = invoices[n * stride]
        payment, receipt, settlement, event = os.urandom(32), v7(), v7(), v7()
        rows["payments"].append(
            (payment, invoice, os.urandom(20), address, os.urandom(32), n, os.urandom(32), n, NOW)
        )
        rows["marked"].append((payment,))
        rows["invoices"].append((invoice,))
        rows["transactions"] += [(receipt, "receipt", invoice, payment), (settlement, "settlement", invoice, None)]
        rows["entries"] += [
            (receipt, 0, "deposits", "debit"), (receipt, 1, "suspense", "credit"),
            (settlement, 0, "suspense", "debit"), (settlement, 1, "merchant:" + merchant.hex(), "credit"),
        ]
        rows["events"].append((event, merchant, invoice, invoice_body(invoice, address)))
        rows["deliveries"].append((v7(), endpoint, event, merchant))
    return rows


STATEMENTS = [
    ("blocks", "INSERT INTO chain_blocks VALUES (%d, ?, ?, ?, ?) ON CONFLICT (chain_id, number) DO UPDATE SET "
               "hash = excluded.hash, parent_hash = excluded.parent_hash, timestamp = excluded.timestamp" % CHAIN),
    ("payments", "INSERT INTO payments (id, invoice_id, chain_id, asset, amount, from_address, to_address, tx_hash, "
                 "log_index, block_number, block_hash, block_time, state, booked_at, settled_at, seen_at) "
                 "VALUES (?, ?, %d, '%s', '%s', ?, ?, ?, 0, ?, ?, ?, 'canonical', NULL, NULL, ?)"
                 % (CHAIN, ASSET, AMOUNT)),
    ("marked", "UPDATE payments SET booked_at = %d WHERE state = 'canonical' AND booked_at IS NULL AND id = ?" % NOW),
    ("invoices", "UPDATE invoices SET status = 'settled', exceptions = '' WHERE status = 'new' AND exceptions = '' AND id = ?"),
    ("marked", "UPDATE payments SET settled_at = %d WHERE state = 'canonical' AND booked_at IS NOT NULL "
               "AND settled_at IS NULL AND id = ?" % NOW),
    ("transactions", "INSERT INTO ledger_transactions (id, kind, invoice_id, payment_id, created_at) "
                     "VALUES (?, ?, ?, ?, %d)" % NOW),
    ("entries", "INSERT INTO ledger_entries VALUES (?, ?, ?, %d, '%s', ?, '%s')" % (CHAIN, ASSET, AMOUNT)),
    ("events", "INSERT INTO events VALUES (?, ?, 'invoice.settled', ?, ?, %d)" % NOW),
    ("deliveries", "INSERT INTO webhook_deliveries (id, endpoint_id, event_id, merchant_id, state, attempts, "
                   "next_attempt_at, created_at) VALUES (?, ?, ?, ?, 'pending', 0, %d, %d)" % (NOW, NOW)),
]


def write_step(db, rows: dict, last: int, spent: dict) -> None:
    def timed(kind, run):
        started = time.perf_counter()
        run()
        spent[kind] = spent.get(kind, 0.0) + time.perf_counter() - started

    timed("begin", lambda: db.execute("BEGIN IMMEDIATE"))
    timed("cursor", lambda: db.execute(
        "INSERT INTO chain_cursors VALUES (?, ?, ?, ?) ON CONFLICT (chain_id) DO UPDATE SET number = excluded.number, "
        "hash = excluded.hash, updated_at = excluded.updated_at", (CHAIN, last, os.urandom(32), NOW)))
    for kind, sql in STATEMENTS:
        timed(kind, lambda: db.executemany(sql, rows[kind]))
        if kind == "blocks":
            timed("blocks", lambda: db.execute(
                "DELETE FROM chain_blocks WHERE chain_id = ? AND number < ?", (CHAIN, last - WINDOW)))
    timed("balances", lambda: db.executemany(
        "INSERT INTO ledger_balances VALUES (?, ?, ?, '1', '1') ON CONFLICT (account, chain_id, asset) DO UPDATE SET "
        "debits = excluded.debits, credits = excluded.credits",
        [(a, CHAIN, ASSET) for a in ("deposits", "suspense", "merchant:x")]))
    timed("commit", lambda: db.execute("COMMIT"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=10_000)
    parser.add_argument("--invoices", type=int, default=100_000)
    parser.add_argument("--step", type=int, default=1_000, help="payments per step (the bench's log_range: 1 per block)")
    args = parser.parse_args()
    if not 0 < args.payments <= args.invoices:
        raise SystemExit("--payments must be positive and not exceed --invoices")
    if sqlite3.sqlite_version_info < (3, 37):
        raise SystemExit(f"SQLite {sqlite3.sqlite_version} is too old for Coffer's STRICT tables (3.37 or later)")
    with tempfile.TemporaryDirectory(prefix="coffer-floor-") as tmp:
        db = open_store(os.path.join(tmp, "floor.db"))
        merchant, endpoint, invoices = seed(db, args.invoices)
        steps, spent = [], {}
        for first in range(0, args.payments, args.step):
            count = min(args.step, args.payments - first)
            rows = step_rows(first, count, args.invoices // args.payments, merchant, endpoint, invoices)
            started = time.perf_counter()
            write_step(db, rows, first + count, spent)
            steps.append(time.perf_counter() - started)
        db.close()
    print(f"SQLite {sqlite3.sqlite_version}: {args.payments} payments booked in {len(steps)} steps "
          f"against {args.invoices} invoices: {sum(steps) * 1000:.0f} ms "
          f"(step median {statistics.median(steps) * 1000:.0f} ms)")
    for kind, seconds in sorted(spent.items(), key=lambda kv: -kv[1]):
        print(f"  {kind:<13} {seconds * 1000:6.0f} ms")


if __name__ == "__main__":
    main()
