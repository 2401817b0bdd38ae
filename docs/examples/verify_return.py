#!/usr/bin/env python3
"""Checks a Coffer checkout return link, as a shop does: the README's code.

Usage: verify_return.py URL WEBHOOK_SECRET  (prints "ok INVOICE STATUS", or exits 1)
"""
import sys

import hmac, hashlib, time
from urllib.parse import parse_qs, urlsplit

def verify_return(url, secret, tolerance=300):
    q = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    parts = dict(p.split("=", 1) for p in q["coffer_signature"].split(","))
    signed = f'{parts["t"]}.coffer-return.v1.{q["coffer_invoice"]}.{q["coffer_status"]}'
    expected = hmac.new(secret.encode(), signed.encode(), hashlib.sha256).hexdigest()
    fresh = abs(time.time() - int(parts["t"])) <= tolerance
    return fresh and hmac.compare_digest(expected, parts["v1"]), q["coffer_invoice"], q["coffer_status"]

if __name__ == "__main__":
    good, invoice, status = verify_return(sys.argv[1], sys.argv[2])
    if not good:
        print("REFUSED", invoice, status)
        sys.exit(1)
    print("ok", invoice, status)
