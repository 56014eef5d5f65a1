// Signs and verifies webhooks with the providers' own SDKs, for the Go
// tests of hmacsig (node_test.go). Reads a JSON array of cases on stdin and
// prints a JSON array of results, one per case:
//
//   {"op":"sign","provider":..,"secret":..,"body":..,"id":..,"timestamp":<unix>}
//     -> {"headers":{..}}   (adyen: {"hmacSignature":..} for the item in body)
//   {"op":"verify","provider":..,"secret":..,"body":..,"headers":{..},"notificationUrl":..}
//     -> {"valid":true|false}
//
// Install the SDKs with `npm ci` in this folder.
'use strict';

require('@shopify/shopify-api/adapters/node');
const shopifyRuntime = require('@shopify/shopify-api/runtime');
const Stripe = require('stripe');
const standardwebhooks = require('standardwebhooks');
const svix = require('svix');
const Razorpay = require('razorpay');
const { WebhooksHelper } = require('square');
const paddle = require('@paddle/paddle-node-sdk');
const { hmacValidator: AdyenHmacValidator } = require('@adyen/api-library');

const stripe = new Stripe('sk_test_unused');
// The client sets Paddle's runtime (its crypto); the key is never used.
const paddleClient = new paddle.Paddle('pdl_sdbx_apikey_01h0000000000000000000000_000000000000000000000000000');

function lower(headers) {
  const out = {};
  for (const [k, v] of Object.entries(headers || {})) out[k.toLowerCase()] = v;
  return out;
}

async function sign(c) {
  const date = new Date(c.timestamp * 1000);
  switch (c.provider) {
    case 'stripe':
      return { headers: { 'Stripe-Signature': stripe.webhooks.generateTestHeaderString({ payload: c.body, secret: c.secret, timestamp: c.timestamp }) } };
    case 'standard_webhooks':
      return { headers: { 'webhook-id': c.id, 'webhook-timestamp': String(c.timestamp), 'webhook-signature': new standardwebhooks.Webhook(c.secret).sign(c.id, date, c.body) } };
    case 'svix':
      return { headers: { 'svix-id': c.id, 'svix-timestamp': String(c.timestamp), 'svix-signature': new svix.Webhook(c.secret).sign(c.id, date, c.body) } };
    case 'github': {
      const { sign: githubSign } = await import('@octokit/webhooks-methods');
      return { headers: { 'X-Hub-Signature-256': await githubSign(c.secret, c.body) } };
    }
    case 'shopify':
      // The primitive shopify.webhooks.validate checks the header with.
      return { headers: { 'X-Shopify-Hmac-Sha256': await shopifyRuntime.createSHA256HMAC(c.secret, c.body, shopifyRuntime.HashFormat.Base64) } };
    case 'adyen':
      return { hmacSignature: new AdyenHmacValidator().calculateHmac(JSON.parse(c.body), c.secret) };
  }
  throw new Error('no SDK signer for ' + c.provider);
}

async function verify(c) {
  const h = lower(c.headers);
  try {
    switch (c.provider) {
      case 'stripe':
        stripe.webhooks.constructEvent(c.body, h['stripe-signature'], c.secret, 1e9);
        return true;
      case 'standard_webhooks':
        new standardwebhooks.Webhook(c.secret).verify(c.body, h);
        return true;
      case 'svix':
        new svix.Webhook(c.secret).verify(c.body, h);
        return true;
      case 'github': {
        const { verify: githubVerify } = await import('@octokit/webhooks-methods');
        return await githubVerify(c.secret, c.body, h['x-hub-signature-256']);
      }
      case 'shopify':
        return (await shopifyRuntime.createSHA256HMAC(c.secret, c.body, shopifyRuntime.HashFormat.Base64)) === h['x-shopify-hmac-sha256'];
      case 'razorpay':
        return Razorpay.validateWebhookSignature(c.body, h['x-razorpay-signature'], c.secret);
      case 'square':
        return await WebhooksHelper.verifySignature({
          requestBody: c.body, signatureHeader: h['x-square-hmacsha256-signature'],
          signatureKey: c.secret, notificationUrl: c.notificationUrl,
        });
      case 'paddle':
        return await paddleClient.webhooks.isSignatureValid(c.body, c.secret, h['paddle-signature']);
      case 'adyen':
        return new AdyenHmacValidator().validateHMAC(JSON.parse(c.body), c.secret);
    }
  } catch (e) {
    return false;
  }
  throw new Error('no SDK verifier for ' + c.provider);
}

async function main() {
  let input = '';
  for await (const chunk of process.stdin) input += chunk;
  const out = [];
  for (const c of JSON.parse(input)) {
    out.push(c.op === 'sign' ? await sign(c) : { valid: await verify(c) });
  }
  process.stdout.write(JSON.stringify(out));
}

main().catch((e) => { console.error(e); process.exit(1); });
