package redisstore

import "github.com/redis/rueidis"

// The scripts run each operation of the store in one round trip and
// atomically, which is what makes a claim taken on one Caddy instance
// visible to every other at once. They share one layout, two keys per
// dedupe key, both named after it in braces so that Redis Cluster keeps
// them in one slot:
//
//	Prefix{key}   the entry, a string:
//	                c<token>   a claim (token in decimal); it expires with
//	                           the claim (PX claimTTL), so the server's own
//	                           expiry, never a clock of ours, ends a claim
//	                           whose holder vanished
//	                w<token>   the same claim while a waiter watches it:
//	                           Complete and Release publish a wake-up only
//	                           then, so a key nobody waits on costs no PUBLISH
//	                a<answer>  the stored answer (dedupe.EncodeAnswer), for ttl
//	Prefix{key}n  the attempt number of the latest claim, in decimal; it
//	              outlives the claim by a day (the count of an abandoned
//	              claim), lives ttl after a Release, and is deleted with the
//	              answer's arrival
//
// The count is a key of its own because it must outlive the claim beside
// it: a claim is then one SET NX PX (with GET, which returns what holds the
// key when the claim loses) and one SET NX of the count in the common case.
// SET with both NX and GET, and PEXPIRE's GT, need Redis 7.0. On Cluster, a
// PUBLISH on any node reaches the subscribers of every node.
//
// The client runs a script once more when the connection broke before the
// reply came (see retryOnce), so each is safe to run twice: a second Claim
// with the same token finds its own claim, a second Complete finds its own
// answer (stored: kept), a second Release finds no claim (ErrNotHeld, which
// callers ignore).

// claimScript: KEYS the entry and the count; ARGV[1] the new token,
// ARGV[2] claimTTL in ms, ARGV[3] the count's lifetime while claimed
// (claimTTL plus the time an abandoned claim's count is kept). It returns
// the stored answer (a string, with its "a"), 0 when another claim holds the
// key, or the new claim's attempt.
//
// A claim held by the very token offered is this call's own, run again
// after its first reply was lost: it gets its attempt back instead of "in
// flight", which would have the caller wait on its own claim until it
// expires. Tokens are drawn afresh for every Claim, so no other call offers
// it.
var claimScript = rueidis.NewLuaScriptRetryable(`
local v = redis.call('SET', KEYS[1], 'c' .. ARGV[1], 'NX', 'PX', ARGV[2], 'GET')
if v then
  if string.byte(v) == 97 then return v end
  if string.sub(v, 2) == ARGV[1] then return tonumber(redis.call('GET', KEYS[2])) end
  return 0
end
local n = redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[3], 'GET')
if not n then return 1 end
n = tonumber(n) + 1
redis.call('SET', KEYS[2], n, 'KEEPTTL')
redis.call('PEXPIRE', KEYS[2], ARGV[3], 'GT')
return n
`)

// completeScript: KEYS the entry and the count; ARGV[1] the token, ARGV[2]
// the answer with its "a", ARGV[3] the ttl in ms, ARGV[4] the wake-up
// channel. It returns 1 when it stored the answer, 0 when an answer was
// stored already (kept), -1 when another token holds the claim (nothing
// stored).
var completeScript = rueidis.NewLuaScriptRetryable(`
local v = redis.call('GET', KEYS[1])
if v then
  if string.byte(v) == 97 then return 0 end
  if string.sub(v, 2) ~= ARGV[1] then return -1 end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('DEL', KEYS[2])
if v and string.byte(v) == 119 then redis.call('PUBLISH', ARGV[4], KEYS[1]) end
return 1
`)

// releaseScript: KEYS the entry and the count; ARGV[1] the token, ARGV[2]
// the ttl in ms, ARGV[3] the wake-up channel. Compare-and-delete: it drops
// the claim only if the token holds it, keeps the count for ttl, and
// returns 1; else it changes nothing and returns 0.
var releaseScript = rueidis.NewLuaScriptRetryable(`
local v = redis.call('GET', KEYS[1])
if not v or string.byte(v) == 97 or string.sub(v, 2) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
if string.byte(v) == 119 then redis.call('PUBLISH', ARGV[3], KEYS[1]) end
return 1
`)

// watchScript: KEYS[1] the entry. It returns 0 when the key is not held,
// else the claim's remaining milliseconds, and marks the claim as watched
// so that its Complete or Release publishes a wake-up.
var watchScript = rueidis.NewLuaScriptRetryable(`
local v = redis.call('GET', KEYS[1])
if not v or string.byte(v) == 97 then return 0 end
if string.byte(v) == 99 then redis.call('SET', KEYS[1], 'w' .. string.sub(v, 2), 'KEEPTTL') end
return redis.call('PTTL', KEYS[1])
`)
