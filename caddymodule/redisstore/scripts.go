package redisstore

import "github.com/redis/go-redis/v9"

// The scripts run each operation of the store in one round trip and
// atomically, which is what makes a claim taken on one Caddy instance
// visible to every other at once. They share one layout (see Store): a hash
// per key with the fields
//
//	a  the stored answer (dedupe.EncodeAnswer); when present, no other field
//	t  the token of the claim, live or expired; Release deletes it (decimal:
//	   go-redis writes a uint64 argument in decimal, the scripts compare
//	   the strings)
//	e  when that claim expires, in Unix milliseconds of the server's clock
//	n  the attempt number of the latest claim: the next claim gets n+1
//	w  set while a waiter watches the claim: Complete and Release publish
//	   a wake-up only then, so a key nobody waits on costs no PUBLISH
//
// One hash rather than a key per field: the whole state is read by one
// HMGET, and a script that touches one key needs no hash tags to run on
// Redis Cluster. A claim's expiry is therefore a field, not a key's TTL
// (the attempt count beside it must outlive it), judged by the server's
// TIME, so the instances' clocks never matter. Scripts that read TIME and
// then write are allowed since Redis 5 (effects replication, the only mode
// of Redis 7). On Cluster, a PUBLISH on any node reaches the subscribers
// of every node.

// nowMs is the Lua prologue that reads the server's clock in milliseconds.
const nowMs = `
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`

// claimScript: KEYS[1] the entry; ARGV[1] the new token, ARGV[2] claimTTL
// in ms, ARGV[3] the entry's lifetime while claimed (claimTTL plus the time
// an abandoned claim's count is kept). It returns the stored answer (a
// string), 0 when another claim holds the key, or the new claim's attempt.
//
// A claim held by the very token offered is this call's own: go-redis ran
// the script again after losing the first reply (a retry on a broken
// connection). It returns the claim again instead of "in flight", which
// would have the caller wait on its own claim until it expires. Tokens are
// drawn afresh for every Claim, so no other call offers it.
var claimScript = redis.NewScript(nowMs + `
local f = redis.call('HMGET', KEYS[1], 'a', 't', 'e', 'n')
if f[1] then return f[1] end
local t = now()
if f[2] and tonumber(f[3]) > t then
  if f[2] == ARGV[1] then return tonumber(f[4]) end
  return 0
end
local n = (tonumber(f[4]) or 0) + 1
redis.call('HSET', KEYS[1], 't', ARGV[1], 'e', t + tonumber(ARGV[2]), 'n', n)
redis.call('HDEL', KEYS[1], 'w')
local keep = tonumber(ARGV[3])
if redis.call('PTTL', KEYS[1]) < keep then redis.call('PEXPIRE', KEYS[1], keep) end
return n
`)

// completeScript: KEYS[1] the entry; ARGV[1] the token, ARGV[2] the encoded
// answer, ARGV[3] the ttl in ms, ARGV[4] the wake-up channel. It returns 1
// when it stored the answer, 0 when an answer was stored already (kept), -1
// when another token holds a live claim (nothing stored).
var completeScript = redis.NewScript(nowMs + `
local f = redis.call('HMGET', KEYS[1], 'a', 't', 'e', 'w')
if f[1] then return 0 end
if f[2] and f[2] ~= ARGV[1] and tonumber(f[3]) > now() then return -1 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'a', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
if f[4] then redis.call('PUBLISH', ARGV[4], KEYS[1]) end
return 1
`)

// releaseScript: KEYS[1] the entry; ARGV[1] the token, ARGV[2] the ttl in
// ms, ARGV[3] the wake-up channel. Compare-and-delete: it drops the claim
// only if the token holds it and it has not expired, keeps the attempt
// count for ttl, and returns 1; else it changes nothing and returns 0.
var releaseScript = redis.NewScript(nowMs + `
local f = redis.call('HMGET', KEYS[1], 't', 'e', 'w')
if f[1] ~= ARGV[1] or tonumber(f[2]) <= now() then return 0 end
redis.call('HDEL', KEYS[1], 't', 'e', 'w')
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if f[3] then redis.call('PUBLISH', ARGV[3], KEYS[1]) end
return 1
`)

// watchScript: KEYS[1] the entry. It returns 0 when the key is not held,
// else the claim's remaining milliseconds, and marks the claim as watched
// (w) so that its Complete or Release publishes a wake-up.
var watchScript = redis.NewScript(nowMs + `
local f = redis.call('HMGET', KEYS[1], 't', 'e')
if not f[1] then return 0 end
local left = tonumber(f[2]) - now()
if left <= 0 then return 0 end
redis.call('HSETNX', KEYS[1], 'w', '1')
return left
`)
