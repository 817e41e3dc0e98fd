package redisstore

// The outbox's keys share one hash tag, so every script below runs on one
// Cluster slot: KEYS[1] the stream of queued mails (fields id: Message-ID,
// t: acceptance in Unix ms, n: failed attempts, p: sealed payload), the
// sorted set of retries (score: due Unix ms, member: "n:id:" followed by
// the sealed payload), the sorted set of the retries' acceptance times
// (score: Unix ms, member: id) and the dead-letter stream. No member or
// value holds a decimal timestamp, so a dump shows no digit runs besides
// the sealed bytes.

// outboxOwned is the Lua guard of the scripts that reschedule or bury a
// claimed entry: they act only while the entry ARGV[2] is still pending for
// the consumer ARGV[3] of group ARGV[1], so an instance whose claim lapsed
// and was taken over does not add a second copy of the mail.
const outboxOwned = `
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)
if #p == 0 or p[1][2] ~= ARGV[3] then
  return 0
end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
`

// outboxAckScript removes a delivered entry (KEYS: stream; ARGV: group,
// entry ID). It acts whoever holds the entry now: the mail went out.
const outboxAckScript = `
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
return redis.call('XDEL', KEYS[1], ARGV[2])
`

// outboxRetryScript moves a claimed entry to the retries (KEYS: stream,
// retries, ages; ARGV: group, entry ID, consumer, due ms, member, id,
// acceptance ms).
const outboxRetryScript = outboxOwned + `
redis.call('ZADD', KEYS[2], ARGV[4], ARGV[5])
redis.call('ZADD', KEYS[3], ARGV[7], ARGV[6])
return 1
`

// outboxDeadScript moves a claimed entry to the dead letters, capped at
// about ARGV[9] entries (KEYS: stream, dead; ARGV: group, entry ID,
// consumer, id, t, n, p, why, cap).
const outboxDeadScript = outboxOwned + `
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[9], '*', 'id', ARGV[4], 't', ARGV[5], 'n', ARGV[6], 'p', ARGV[7], 'why', ARGV[8])
return 1
`

// outboxPromoteScript appends up to ARGV[2] retries due by ARGV[1] (Unix
// ms) to the stream (KEYS: stream, retries, ages) and returns the number
// moved and the due time of the next retry, or false when none is left.
const outboxPromoteScript = `
local due = redis.call('ZRANGE', KEYS[2], '-inf', ARGV[1], 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[2]))
for _, m in ipairs(due) do
  local n, id = string.match(m, '^(%d+):([%w%.%-_]+):')
  if n then
    local p = string.sub(m, #n + #id + 3)
    local t = redis.call('ZSCORE', KEYS[3], id) or '0'
    redis.call('XADD', KEYS[1], '*', 'id', id, 't', t, 'n', n, 'p', p)
    redis.call('ZREM', KEYS[3], id)
  end
  redis.call('ZREM', KEYS[2], m)
end
local nxt = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
return {#due, nxt[2] or false}
`

// outboxDropConsumerScript deletes consumer ARGV[2] of group ARGV[1] when
// it holds no pending entry (deleting it would orphan them), so a cleanly
// closed instance leaves no trace in the group.
const outboxDropConsumerScript = `
local p = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2])
if #p > 0 then
  return -1
end
return redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
`

// outboxPruneScript deletes the consumers of group ARGV[1] other than
// ARGV[2] that hold no pending entry and were idle at least ARGV[3] ms:
// what instances killed without Close leave behind once their entries were
// reclaimed. Deleting a consumer without pending entries loses nothing (a
// live one is recreated by its next read), so the rule may be simple.
const outboxPruneScript = `
local n = 0
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local f = {}
  for i = 1, #c, 2 do
    f[c[i]] = c[i + 1]
  end
  if f['name'] ~= ARGV[2] and tonumber(f['pending']) == 0 and tonumber(f['idle']) >= tonumber(ARGV[3]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], f['name'])
    n = n + 1
  end
end
return n
`
