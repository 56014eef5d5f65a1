// Generates vectors.json: node's own answer to the signed_url contract.
//
//   node testdata/vectors.js > testdata/vectors.json
//
// For each case it computes, exactly as the contract says,
//   u = new URL(url); u.searchParams.delete(param); u.searchParams.sort();
//   canonical = u.toString();
//   signature = hmac-sha256(secret, canonical) in hex
// and a signed URL the verifier must accept: the URL with param=signature
// appended (with ? or &), or, where the URL already carries param, with the
// placeholder {{sig}} of its first occurrence replaced. The Go tests read
// the committed output and, when node is on PATH, re-run this script and
// require identical output, so the vectors are really node's.
'use strict';
const crypto = require('crypto');

const S = 'glopal-test-secret';
const cases = [
  // Glopal-like success and failure URLs.
  { name: 'glopal success', url: 'https://Shop.Example.com/DE/ORD-1?lang=de-DE&currency=EUR' },
  { name: 'glopal failure', url: 'https://shop.example.com/checkout/failure?order=ORD-2&reason=declined&amount=19.99' },
  // Spaces, both spellings, and the characters the two serializers disagree on.
  { name: 'space as %20 and +', url: 'https://shop.example.com/a%20b/c d?q=a%20b&r=a+b&s=a b' },
  { name: 'tilde star', url: 'https://shop.example.com/~user/*x?t=~&s=*&u=%7E&v=%2A' },
  { name: "!'()", url: "https://shop.example.com/!'()?x=!'()&y=%21%27%28%29" },
  { name: 'reserved and plus', url: 'https://shop.example.com/p?a=%2B&b=%26&c=%3D&d=1%2B1%3D2&e=@:/?' },
  // Non-ASCII, percent-encoded and raw.
  { name: 'utf-8 percent-encoded', url: 'https://shop.example.com/caf%C3%A9?city=M%C3%BCnchen&q=%E2%82%AC' },
  { name: 'utf-8 raw', url: 'https://shop.example.com/café/straße?city=München&q=€' },
  { name: 'invalid utf-8 and bad %', url: 'https://shop.example.com/x%zz?a=%FF&b=%E2%82A&c=%zz&d=%4&e=100%' },
  // UTF-16 sort: supplementary plane (surrogates) sorts before U+E000..U+FFFF.
  { name: 'emoji vs U+FFxx', url: 'https://shop.example.com/s?%EF%BD%81=fw&%F0%9F%98%80=emoji&%EE%80%80=pua&z=1&%EF%BF%BD=r' },
  { name: 'emoji raw', url: 'https://shop.example.com/s?😀=1&ａ=2&\uE000=3&é=4&E=5' },
  // Stable sort of repeated keys.
  { name: 'repeated keys', url: 'https://shop.example.com/r?b=2&a=3&b=1&a=1&a=2&c' },
  { name: 'repeated keys other order', url: 'https://shop.example.com/r?a=2&b=1&a=1&b=2&a=3' },
  { name: 'case sorts before', url: 'https://shop.example.com/r?b=1&B=2&a=3&A=4&_=5&-=6&0=7' },
  // Over 32 parameters, repeated keys scattered: the long-query sort path.
  { name: 'many parameters', url: 'https://shop.example.com/m?' +
      Array.from({ length: 48 }, (_, i) => `k${(i * 7) % 13}=v${i}`).join('&') + '&%F0%9F%98%80=x&%EF%BD%81=y' },
  // Keys without '=', empty names and values, empty sequences.
  { name: 'no equals and empties', url: 'https://shop.example.com/e?flag&empty=&=v&&x=1&' },
  // Host and port.
  { name: 'upper-case host, default port', url: 'http://SHOP.Example.COM:80/p?x=1' },
  { name: 'non-default port', url: 'http://shop.example.com:8080/p?x=1' },
  { name: 'https default port', url: 'https://shop.example.com:443/p' },
  { name: 'https port 80', url: 'https://shop.example.com:80/p' },
  { name: 'ipv4 numeric', url: 'http://127.1:8080/p' },
  { name: 'ipv6', url: 'http://[2001:DB8:0:0:0:0:0:1]:80/p?x=1' },
  // The signature parameter.
  { name: 'param twice', url: 'https://shop.example.com/t?sig={{sig}}&a=1&sig=deadbeef' },
  { name: 'param in the middle', url: 'https://shop.example.com/t?a=1&sig={{sig}}&b=2' },
  { name: 'param absent, other name', param: 'signature', url: 'https://shop.example.com/t?sig=1&a=2' },
  { name: 'query becomes empty', url: 'https://shop.example.com/q?sig={{sig}}' },
  { name: 'empty query', url: 'https://shop.example.com/q?' },
  { name: 'only ampersands', url: 'https://shop.example.com/q?&&' },
  { name: 'no query, no path', url: 'https://shop.example.com' },
  // Paths.
  { name: 'dot segments', url: 'https://shop.example.com/a/./b/../c/%2e/d/%2E%2e/e/.%2E/f' },
  { name: 'trailing dot dot', url: 'https://shop.example.com/a/b/..' },
  { name: 'not dot segments', url: 'https://shop.example.com/a/.../b/.%2e./%2e%2f/c.' },
  { name: 'encoded slash', url: 'https://shop.example.com/a%2Fb/c%2fd?p=%2F' },
  { name: 'backslash', url: 'https://shop.example.com\\a\\b\\..\\c?x=\\' },
  { name: 'path encode set', url: 'https://shop.example.com/"<>`{}|^[]\'@:;=,$&+' },
  { name: 'double slash', url: 'https://shop.example.com//x//y/' },
  // Other secrets and parameter names.
  { name: 'utf-8 secret', secret: 'sécret-ünïcode', url: 'https://shop.example.com/s?a=1' },
  { name: 'long secret', secret: 'k'.repeat(100), url: 'https://shop.example.com/s?a=1' },
  { name: 'param with odd chars', param: 'x sig~', url: 'https://shop.example.com/s?x+sig%7E={{sig}}&a=1' },
];

function canonical(url, param) {
  const u = new URL(url);
  u.searchParams.delete(param);
  u.searchParams.sort();
  return u.toString();
}

function hmac(secret, s) {
  return crypto.createHmac('sha256', secret).update(s).digest('hex');
}

function appendParam(url, param, sig) {
  const pair = new URLSearchParams([[param, sig]]).toString();
  const q = url.indexOf('?');
  if (q < 0) return url + '?' + pair;
  if (q === url.length - 1 || url.endsWith('&')) return url + pair; // empty query, or one ending in '&'
  return url + '&' + pair;
}

const out = [];
for (const c of cases) {
  const param = c.param || 'sig';
  const secret = c.secret || S;
  if (c.url.includes('#')) throw new Error(c.name + ': fragments never reach the server');
  const canon = canonical(c.url, param);
  const signature = hmac(secret, canon);
  let signed;
  if (new URL(c.url).searchParams.has(param)) {
    if (!c.url.includes('{{sig}}')) throw new Error(c.name + ': param present without {{sig}}');
    signed = c.url.replace('{{sig}}', signature);
  } else {
    signed = appendParam(c.url, param, signature);
  }
  // The signed URL must verify under the contract itself.
  if (canonical(signed, param) !== canon) throw new Error(c.name + ': signing changed the canonical form');
  if (new URL(signed).searchParams.get(param) !== signature) throw new Error(c.name + ': get(param) is not the signature');
  out.push({ name: c.name, url: c.url, param, secret, canonical: canon, signature, signed });
}
process.stdout.write(JSON.stringify(out, null, 1) + '\n');
