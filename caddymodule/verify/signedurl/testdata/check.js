// Reads a JSON array of {url, param, secret?} on stdin and writes, for each,
// what node makes of it under the signed_url contract:
//   {canonical, has, sig[, valid]} or {error}
// where canonical is the contract's string, has/sig are searchParams.has/get
// of param before deletion, and valid (when a secret is given) says whether
// sig is the HMAC of canonical, i.e. whether a node verifier accepts the URL.
// Used by the Go tests for differential checks against node.
'use strict';
const crypto = require('crypto');
const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const out = input.map(({ url, param, secret }) => {
  try {
    const u = new URL(url);
    const has = u.searchParams.has(param);
    const sig = u.searchParams.get(param);
    u.searchParams.delete(param);
    u.searchParams.sort();
    const canonical = u.toString();
    const r = { canonical, has, sig: sig === null ? '' : sig };
    if (secret !== undefined && secret !== '') {
      r.valid = has && sig === crypto.createHmac('sha256', secret).update(canonical).digest('hex');
    }
    return r;
  } catch (e) {
    return { error: String(e.message) };
  }
});
process.stdout.write(JSON.stringify(out));
