#!/usr/bin/env python3
"""An example merchant backend behind callback_guard, in Python 3 with the
standard library only (Python 3.7 or newer):

    python3 examples/python/server.py          # PORT=9000 by default

Caddy has verified every callback before it arrives here, so this code does
no cryptography: it reads the X-Callback-* headers the guard sets and the
body, and updates an order in a JSON file (ORDERS_FILE, default
callbackguard-orders.json in the system's temporary directory).

Listen on 127.0.0.1 (or a private network) only: the X-Callback-* headers
are trustworthy because nothing but Caddy can reach this port.

GET /orders lists the orders; GET /orders/<id> shows one.
"""

import base64
import json
import os
import re
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

PORT = int(os.environ.get("PORT", "9000"))
HOST = os.environ.get("HOST", "127.0.0.1")
ORDERS_FILE = os.environ.get("ORDERS_FILE") or os.path.join(
    tempfile.gettempdir(), "callbackguard-orders.json")

# One request at a time reads, updates and writes the file.
store_lock = threading.Lock()


def load_store():
    try:
        with open(ORDERS_FILE, encoding="utf-8") as f:
            s = json.load(f)
    except (OSError, ValueError):
        s = {}
    return {"orders": s.get("orders") or {}, "callbacks": s.get("callbacks") or {}}


def save_store(store):
    # Written whole and renamed into place: a reader never sees half a file.
    tmp = ORDERS_FILE + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(store, f, indent=2)
        f.write("\n")
    os.replace(tmp, ORDERS_FILE)


def status_of(outcome):
    """X-Callback-Outcome to the order's status; '' leaves it as it is."""
    return {"success": "paid", "pending": "pending", "failure": "failed"}.get(outcome, "")


def b64url_json(s):
    try:
        v = json.loads(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))
    except ValueError:
        return {}
    return v if isinstance(v, dict) else {}


class Handler(BaseHTTPRequestHandler):
    server_version = "example-backend"

    def answer(self, status, data, headers=()):
        body = (json.dumps(data, separators=(",", ":")) + "\n").encode()
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        pass  # one line per callback is logged below instead

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        if self.headers.get("X-Callback-Provider"):
            return self.callback(body)
        m = re.fullmatch(r"/orders(?:/([^/]+))?/?", urlsplit(self.path).path)
        if self.command == "GET" and m:
            orders = load_store()["orders"]
            if not m.group(1):
                return self.answer(200, orders)
            o = orders.get(unquote(m.group(1)))
            return self.answer(200, o) if o else self.answer(404, {"error": "no such order"})
        # Not from the guard: someone reached the backend directly.
        return self.answer(403, {"error": "not a callback from callback_guard"})

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any

    def callback(self, body):
        h = lambda name: self.headers.get(name, "")  # noqa: E731
        provider = h("X-Callback-Provider")
        cb = {
            "provider": provider,
            "verified": h("X-Callback-Verified"),
            "callback_id": h("X-Callback-Id"),
            "attempt": int(h("X-Callback-Attempt") or 1),
            "event": h("X-Callback-Event"),
            "outcome": h("X-Callback-Outcome"),
        }
        # Each callback comes with the one method its provider sends: a POST,
        # or a GET for Glopal's signed confirmation URL, which the buyer's
        # browser opens. Anything else is refused: the guard verifies every
        # method but deduplicates only POST, PUT and PATCH, and a buyer
        # holding a signed URL of their own could otherwise POST a body of
        # their choosing to it.
        expected = "GET" if provider == "glopal" and "signed_url" in cb["verified"] else "POST"
        if self.command != expected:
            return self.answer(405, {"error": f"a {provider} callback comes as {expected}"}, [("Allow", expected)])
        try:
            data = json.loads(body) if body else {}
        except ValueError:
            data = {}  # a form (PayGlocal)
        if not isinstance(data, dict):
            data = {}
        path = urlsplit(self.path).path

        # Which order, and what happened to it, per provider.
        status = None
        if provider == "glopal":
            if "signed_url" in cb["verified"]:
                # The buyer's browser on the signed success URL: .../<ORDER_ID>.
                order = unquote(path.rstrip("/").rsplit("/", 1)[-1])
                cb["event"] = "confirmation_page"
                status = "confirmed"
            else:
                order = str(data.get("checkout_id") or "")
                cb["event"] = str(data.get("type") or "")
                status = "placed" if cb["event"] == "CHECKOUT_PURCHASE" else "reserved"
        elif provider == "globiance":
            order = str(data.get("checkoutId") or "")
        elif provider == "avarda":
            order = str(data.get("purchaseId") or "")
        elif provider == "payglocal":
            # The claims as the guard verified them: X-Callback-Claims
            # (forward_claims header, the payglocal default). Never the
            # x-gl-token of the body: parsing a token again here could read
            # one the guard did not verify.
            claims = b64url_json(h("X-Callback-Claims"))
            order = str(claims.get("merchantUniqueId") or claims.get("gid") or "")
        else:
            order = str(data.get("order_id") or data.get("id") or "")
            cb["event"] = cb["event"] or str(data.get("type") or "")
        if status is None:
            status = status_of(cb["outcome"])
        if not order:
            return self.answer(422, {"error": "no order id in the callback"})

        with store_lock:
            store = load_store()
            # Idempotency: the guard deduplicates, but its memory store
            # forgets on a restart, and keys expire; an X-Callback-Id seen
            # before is answered again without being applied twice.
            seen = store["callbacks"].get(cb["callback_id"]) if cb["callback_id"] else None
            if seen:
                print(f"{provider} {order}: duplicate of {cb['callback_id']}, not applied again", file=sys.stderr)
                return self.answer(200, {"ok": True, "order": seen["order"], "status": seen["status"], "duplicate": True})

            now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            o = store["orders"].get(order) or {"id": order, "provider": provider, "status": "received", "events": []}
            if status:
                o["status"] = status
            o["events"].append(dict(cb, status=o["status"], at=now))
            o["updated_at"] = now
            o["last_headers"] = {k.title(): v for k, v in self.headers.items() if k.lower().startswith("x-callback-")}
            store["orders"][order] = o
            if cb["callback_id"]:
                store["callbacks"][cb["callback_id"]] = {"order": order, "status": o["status"], "at": now}
            save_store(store)

        print(f"{provider} {self.command} by {cb['verified']}: order {order} is {o['status']} "
              f"(event {cb['event'] or '-'}, attempt {cb['attempt']})", file=sys.stderr, flush=True)
        return self.answer(200, {"ok": True, "order": order, "status": o["status"], "duplicate": False})


def main():
    server = ThreadingHTTPServer((HOST, PORT), Handler)
    print(f"example backend (python) on http://{HOST}:{PORT}, orders in {ORDERS_FILE}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
