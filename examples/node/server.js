// An example merchant backend behind callback_guard, in Node.js with the
// standard library only (Node 16 or newer):
//
//     node examples/node/server.js          # PORT=9000 by default
//
// Caddy has verified every callback before it arrives here, so this code
// does no cryptography: it reads the X-Callback-* headers the guard sets
// and the body, and updates an order in a JSON file (ORDERS_FILE, default
// callbackguard-orders.json in the system's temporary directory).
//
// Listen on 127.0.0.1 (or a private network) only: the X-Callback-* headers
// are trustworthy because nothing but Caddy can reach this port.
//
// GET /orders lists the orders; GET /orders/<id> shows one.
'use strict';

const fs = require('fs');
const http = require('http');
const os = require('os');
const path = require('path');

const port = Number(process.env.PORT || 9000);
const host = process.env.HOST || '127.0.0.1';
const ordersFile = process.env.ORDERS_FILE || path.join(os.tmpdir(), 'callbackguard-orders.json');

function answer(res, status, data) {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(data) + '\n');
}

function loadStore() {
  try {
    const s = JSON.parse(fs.readFileSync(ordersFile, 'utf8'));
    return { orders: s.orders || {}, callbacks: s.callbacks || {} };
  } catch (e) {
    return { orders: {}, callbacks: {} };
  }
}

// Written whole and renamed into place: a reader never sees half a file.
function saveStore(store) {
  const tmp = ordersFile + '.tmp';
  fs.writeFileSync(tmp, JSON.stringify(store, null, 2) + '\n');
  fs.renameSync(tmp, ordersFile);
}

// X-Callback-Outcome to the order's status; '' leaves it as it is.
function statusOf(outcome) {
  return { success: 'paid', pending: 'pending', failure: 'failed' }[outcome] || '';
}

// PayGlocal's claims, as the guard verified them: X-Callback-Claims
// (forward_claims header, the payglocal default). Never the x-gl-token of
// the body: parsing a token again here could read one the guard did not
// verify.
function claimsOf(req) {
  const b64 = String(req.headers['x-callback-claims'] || '');
  try {
    return JSON.parse(Buffer.from(b64, 'base64url').toString('utf8'));
  } catch (e) {
    return {};
  }
}

function handleCallback(req, res, body) {
  const h = (name) => String(req.headers[name.toLowerCase()] || '');
  const provider = h('X-Callback-Provider');
  const cb = {
    provider,
    verified: h('X-Callback-Verified'),
    callback_id: h('X-Callback-Id'),
    attempt: Number(h('X-Callback-Attempt') || 1),
    event: h('X-Callback-Event'),
    outcome: h('X-Callback-Outcome'),
  };
  // Each callback comes with the one method its provider sends: a POST, or a
  // GET for Glopal's signed confirmation URL, which the buyer's browser
  // opens. Anything else is refused: the guard verifies every method but
  // deduplicates only POST, PUT and PATCH, and a buyer holding a signed URL
  // of their own could otherwise POST a body of their choosing to it.
  const expected = provider === 'glopal' && cb.verified.includes('signed_url') ? 'GET' : 'POST';
  if (req.method !== expected) {
    res.setHeader('Allow', expected);
    return answer(res, 405, { error: `a ${provider} callback comes as ${expected}` });
  }
  let json = {};
  try {
    const parsed = JSON.parse(body);
    if (parsed && typeof parsed === 'object') json = parsed;
  } catch (e) {
    // not JSON: a form (PayGlocal) or no body (Glopal's redirect)
  }
  const urlPath = new URL(req.url, 'http://backend').pathname;

  // Which order, and what happened to it, per provider.
  let order = '';
  let status = null;
  switch (provider) {
    case 'glopal':
      if (cb.verified.includes('signed_url')) {
        // The buyer's browser on the signed success URL: .../<ORDER_ID>.
        order = decodeURIComponent(path.posix.basename(urlPath));
        cb.event = 'confirmation_page';
        status = 'confirmed';
      } else {
        order = String(json.checkout_id || '');
        cb.event = String(json.type || '');
        status = cb.event === 'CHECKOUT_PURCHASE' ? 'placed' : 'reserved';
      }
      break;
    case 'globiance':
      order = String(json.checkoutId || '');
      break;
    case 'avarda':
      order = String(json.purchaseId || '');
      break;
    case 'payglocal': {
      const claims = claimsOf(req);
      order = String(claims.merchantUniqueId || claims.gid || '');
      break;
    }
    default:
      order = String(json.order_id || json.id || '');
      if (!cb.event) cb.event = String(json.type || '');
  }
  if (status === null) status = statusOf(cb.outcome);
  if (!order) return answer(res, 422, { error: 'no order id in the callback' });

  // Everything below is synchronous: no other request runs in between.
  const store = loadStore();

  // Idempotency: the guard deduplicates, but its memory store forgets on a
  // restart, and keys expire; an X-Callback-Id seen before is answered
  // again without being applied twice.
  const seen = cb.callback_id && store.callbacks[cb.callback_id];
  if (seen) {
    console.error(`${provider} ${order}: duplicate of ${cb.callback_id}, not applied again`);
    return answer(res, 200, { ok: true, order: seen.order, status: seen.status, duplicate: true });
  }

  const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const o = store.orders[order] || { id: order, provider, status: 'received', events: [] };
  if (status) o.status = status;
  o.events.push({ ...cb, status: o.status, at: now });
  o.updated_at = now;
  o.last_headers = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (k.startsWith('x-callback-')) {
      o.last_headers[k.replace(/(^|-)([a-z])/g, (m, d, c) => d + c.toUpperCase())] = String(v);
    }
  }
  store.orders[order] = o;
  if (cb.callback_id) store.callbacks[cb.callback_id] = { order, status: o.status, at: now };
  saveStore(store);

  console.error(`${provider} ${req.method} by ${cb.verified}: order ${order} is ${o.status} (event ${cb.event || '-'}, attempt ${cb.attempt})`);
  return answer(res, 200, { ok: true, order, status: o.status, duplicate: false });
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    if (req.headers['x-callback-provider']) return handleCallback(req, res, body);
    const m = /^\/orders(?:\/([^/]+))?\/?$/.exec(new URL(req.url, 'http://backend').pathname);
    if (req.method === 'GET' && m) {
      const { orders } = loadStore();
      if (!m[1]) return answer(res, 200, orders);
      const o = orders[decodeURIComponent(m[1])];
      return o ? answer(res, 200, o) : answer(res, 404, { error: 'no such order' });
    }
    // Not from the guard: someone reached the backend directly.
    return answer(res, 403, { error: 'not a callback from callback_guard' });
  });
});

server.listen(port, host, () => {
  console.error(`example backend (node) on http://${host}:${port}, orders in ${ordersFile}`);
});
