// Signs the demo PayGlocal callback token used by the README's curl against
// Caddyfile.example. Demo key only: never use it anywhere real.
// Usage: node examples/demo/sign-payglocal-demo.js [status]
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const b64u = (b) => Buffer.from(b).toString('base64url');
const header = { 'issued-by': 'GlocalDemo', 'is-digested': 'false', alg: 'RS256', kid: 'demo-kid-1' };
const payload = {
  gid: 'gl_demo-0001',
  'x-gl-gid': 'gl_demo-0001',
  merchantUniqueId: 'demo-order-1001',
  status: process.argv[2] || 'SENT_FOR_CAPTURE',
  'x-gl-merchantId': 'demo_merchant',
};
const input = b64u(JSON.stringify(header)) + '.' + b64u(JSON.stringify(payload));
const key = fs.readFileSync(path.join(__dirname, 'payglocal-demo-private.pem'));
const sig = crypto.sign('sha256', Buffer.from(input), key);
process.stdout.write(input + '.' + b64u(sig) + '\n');
