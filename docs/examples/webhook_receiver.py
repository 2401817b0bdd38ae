#!/usr/bin/env python3
"""A shop's webhook receiver that verifies Coffer's signatures: Python's
standard library only, so it can be read in one sitting and run anywhere.

    python3 docs/examples/webhook_receiver.py 9000 whsec_...

Register http://127.0.0.1:9000/hooks with POST /v1/webhooks (the answer
carries the secret once). `coffer dev` allows receivers on loopback.
"""

import hashlib
import hmac
import http.server
import json
import sys
import time

TOLERANCE_SECS = 300
SECRET = sys.argv[2].encode() if len(sys.argv) > 2 else b""
SEEN_EVENTS = set()


def verify(header: str, body: bytes, secret: bytes, now: int) -> bool:
    """Coffer-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        t = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - t) > TOLERANCE_SECS:  # an old delivery replayed
        return False
    expected = hmac.new(secret, f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, v) for k, v in parts.items() if k == "v1")


class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if not verify(self.headers.get("Coffer-Signature", ""), body, SECRET, int(time.time())):
            print("REFUSED: bad signature", flush=True)
            self.send_response(401)
            self.end_headers()
            return
        event = json.loads(body)
        # At least once: the same event may come again (a retry, a redelivery).
        duplicate = event["id"] in SEEN_EVENTS
        SEEN_EVENTS.add(event["id"])
        invoice = event["data"]["invoice"]
        print(
            f"verified {event['type']} {invoice['id']} status={invoice['status']} paid={invoice['paid']} "
            f"{invoice['asset']} delivery={self.headers.get('Coffer-Delivery')}"
            + (" (duplicate, ignored)" if duplicate else ""),
            flush=True,
        )
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 9000
    server = http.server.HTTPServer(("127.0.0.1", port), Receiver)
    print(f"listening on http://127.0.0.1:{server.server_port}/hooks", flush=True)
    server.serve_forever()
