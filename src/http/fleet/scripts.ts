/**
 * The Lua scripts of {@link redisThrottle}. Each runs atomically in Redis (EVAL/EVALSHA), so that a
 * check and the write it allows cannot interleave with another process's. Time is Redis's own clock
 * (`TIME`), never a process's: the processes of a fleet run on hosts whose clocks differ.
 *
 * Keys of one scope share a hash tag (`{…}`), so that a Redis Cluster keeps them in one slot. Every
 * key gets an expiry each time it is written, so that nothing outlives its use:
 * - `slots`  ZSET lease id → expiry (ms). A process renews the leases of its requests in flight; a
 *            process that dies stops renewing, and its slots free themselves when the lease runs out.
 * - `wait`   ZSET process id → the time its oldest waiting request started waiting; with `waitexp`
 *            (process id → expiry) it orders the fleet, so that slots go to the longest waiting.
 * - `log`    ZSET lease id → when the request was sent (moved to when its answer arrived): the budget's
 *            sliding window.
 * - `procs`  ZSET process id → expiry: how many processes are active (a process's share of the budget
 *            while Redis is unreachable).
 * - `state`  HASH: `pause` (ms; no new request before it), `dop`/`dopAt` (the smallest x-ms-dop-hint
 *            and when it was last confirmed), `burst`/`burstMax` and `time`/`timeMax` (the latest and
 *            the largest rate-limit header values).
 *
 * Redis older than 5 needs effects replication to write after `TIME`; `redis.replicate_commands`
 * switches it on there and is a no-op from 7.
 */
import { createHash } from 'node:crypto';

/** A script and its SHA-1, as EVALSHA wants it. */
export interface LuaScript {
  readonly name: string;
  readonly text: string;
  readonly sha: string;
}

function script(name: string, body: string): LuaScript {
  const text = `${PRELUDE}\n${body}`;
  return { name, text, sha: createHash('sha1').update(text).digest('hex') };
}

const PRELUDE = `
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- A key of ours holding another type (written by something else, or corrupt) is dropped.
local function guard(key, kind)
  local found = redis.call('TYPE', key)
  if type(found) == 'table' then found = found['ok'] end
  if found ~= 'none' and found ~= kind then redis.call('DEL', key) end
end
-- A field that is not a finite number reads as missing.
local function hnum(key, field)
  local v = tonumber(redis.call('HGET', key, field))
  if v == nil or v ~= v or v == math.huge or v == -math.huge then return nil end
  return v
end
local function arg(i)
  local v = tonumber(ARGV[i])
  if v == nil or v ~= v then return 0 end
  return v
end
`;

/**
 * Asks for `want` slots. KEYS: slots, wait, waitexp, log, state, procs. ARGV: 1 process id, 2 want,
 * 3 how long ago (ms) the oldest waiting request started, 4 fixed limit (0: follow the dop hint),
 * 5 limit before any hint, 6 lease (ms), 7 waiter expiry (ms), 8 budget (0: none), 9 budget window
 * (ms), 10 reserve fraction (0: off), 11 how long a dop hint holds (ms), 12… the lease ids to grant.
 *
 * Returns `{ granted, waitInMs, limit, held, processes, reserved }`: `waitInMs` > 0 says when to ask
 * again (the pause or the budget), 0 means "when a slot frees".
 */
export const ACQUIRE = script(
  'acquire',
  `
for i = 1, 4 do guard(KEYS[i], 'zset') end
guard(KEYS[5], 'hash')
guard(KEYS[6], 'zset')
local proc = ARGV[1]
local want = arg(2)
local since = now - arg(3)
local fixed, initial, lease, waitTtl = arg(4), arg(5), arg(6), arg(7)
local budget, window, reserve, dopTtl = arg(8), arg(9), arg(10), arg(11)

redis.call('ZREMRANGEBYSCORE', KEYS[6], '-inf', now)
redis.call('ZADD', KEYS[6], now + lease, proc)
redis.call('PEXPIRE', KEYS[6], lease * 2)

redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local gone = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now)
for i = 1, #gone do redis.call('ZREM', KEYS[2], gone[i]) end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
redis.call('ZREM', KEYS[2], proc)

local limit = fixed
if limit <= 0 then
  local dop, dopAt = hnum(KEYS[5], 'dop'), hnum(KEYS[5], 'dopAt')
  if dop and dopAt and dop >= 1 and now - dopAt < dopTtl then limit = math.floor(dop) else limit = initial end
end
-- The reserve: when the service reports its request budget nearly spent, no more requests in flight
-- than it says remain (at least one, whose answer tells more); when it reports its execution time
-- nearly spent, one at a time.
local reserved = 0
if reserve > 0 then
  local low, high = hnum(KEYS[5], 'burst'), hnum(KEYS[5], 'burstMax')
  if low and high and high > 0 and low <= high * reserve then
    reserved = 1
    limit = math.min(limit, math.max(1, math.floor(low)))
  end
  low, high = hnum(KEYS[5], 'time'), hnum(KEYS[5], 'timeMax')
  if low and high and high > 0 and low <= high * reserve then
    reserved = 1
    limit = 1
  end
end

local held = redis.call('ZCARD', KEYS[1])
local granted, wait = 0, 0
local pause = hnum(KEYS[5], 'pause') or 0
if pause > now then
  wait = pause - now
else
  local cap = limit - held
  if budget > 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - window)
    local left = budget - redis.call('ZCARD', KEYS[4])
    if left < cap then cap = left end
    if left <= 0 then
      local oldest = redis.call('ZRANGE', KEYS[4], 0, 0, 'WITHSCORES')
      wait = 1
      if oldest[2] then wait = math.max(1, tonumber(oldest[2]) + window - now + 1) end
    end
  end
  local ahead = redis.call('ZCOUNT', KEYS[2], '-inf', string.format('(%d', since))
  granted = math.min(want, cap - ahead)
  if granted < 0 then granted = 0 end
  for i = 1, granted do
    local id = ARGV[11 + i]
    redis.call('ZADD', KEYS[1], now + lease, id)
    if budget > 0 then redis.call('ZADD', KEYS[4], now, id) end
  end
end
if granted < want then
  redis.call('ZADD', KEYS[2], since, proc)
  redis.call('ZADD', KEYS[3], now + waitTtl, proc)
  redis.call('PEXPIRE', KEYS[2], waitTtl * 2)
  redis.call('PEXPIRE', KEYS[3], waitTtl * 2)
else
  redis.call('ZREM', KEYS[3], proc)
end
if granted > 0 then
  redis.call('PEXPIRE', KEYS[1], lease * 2)
  if budget > 0 then redis.call('PEXPIRE', KEYS[4], window + lease) end
end
return {granted, wait, limit, held + granted, redis.call('ZCARD', KEYS[6]), reserved}
`,
);

/**
 * Gives leases back and records what the answers said. KEYS: slots, log, state. ARGV: 1 whether a
 * budget is kept (1/0), 2 Retry-After (ms, 0: none), 3 dop hint (0: none), 4 burst remaining (-1:
 * none), 5 time remaining (s, -1: none), 6 how long a dop hint holds (ms), 7 how long the state is
 * kept (ms), 8 budget window (ms), 9 lease (ms), 10… lease ids.
 *
 * Returns `{ pauseInMs }`: how long the fleet-wide pause still lasts.
 */
export const RELEASE = script(
  'release',
  `
guard(KEYS[1], 'zset')
guard(KEYS[2], 'zset')
guard(KEYS[3], 'hash')
local budget, retryAfter, dop, burst, time = arg(1), arg(2), arg(3), tonumber(ARGV[4]) or -1, tonumber(ARGV[5]) or -1
local dopTtl, stateTtl, window, lease = arg(6), arg(7), arg(8), arg(9)
for i = 10, #ARGV do
  redis.call('ZREM', KEYS[1], ARGV[i])
  -- The request counts from when its answer came, which is no earlier than when the service counted it.
  if budget == 1 then redis.call('ZADD', KEYS[2], 'XX', now, ARGV[i]) end
end
if budget == 1 and #ARGV >= 10 then redis.call('PEXPIRE', KEYS[2], window + lease) end
local touched = false
if retryAfter > 0 then
  if now + retryAfter > (hnum(KEYS[3], 'pause') or 0) then redis.call('HSET', KEYS[3], 'pause', now + retryAfter) end
  touched = true
end
if dop >= 1 then
  local cur, at = hnum(KEYS[3], 'dop'), hnum(KEYS[3], 'dopAt')
  if cur == nil or at == nil or now - at >= dopTtl or dop < cur then
    redis.call('HSET', KEYS[3], 'dop', dop)
    redis.call('HSET', KEYS[3], 'dopAt', now)
  elseif dop == cur then
    redis.call('HSET', KEYS[3], 'dopAt', now)
  end
  touched = true
end
for _, pair in ipairs({{'burst', burst}, {'time', time}}) do
  local f, v = pair[1], pair[2]
  if v >= 0 then
    redis.call('HSET', KEYS[3], f, v)
    local m = hnum(KEYS[3], f .. 'Max')
    if m == nil or v > m then redis.call('HSET', KEYS[3], f .. 'Max', v) end
    touched = true
  end
end
local pause = (hnum(KEYS[3], 'pause') or 0) - now
if pause < 0 then pause = 0 end
if touched then redis.call('PEXPIRE', KEYS[3], math.max(stateTtl, pause + 1000)) end
return {pause}
`,
);

/**
 * Extends the leases of requests still in flight. KEYS: slots, procs. ARGV: 1 lease (ms), 2 process
 * id, 3… lease ids. A lease that already ran out is not revived (`XX`). Returns how many were extended.
 */
export const RENEW = script(
  'renew',
  `
guard(KEYS[1], 'zset')
guard(KEYS[2], 'zset')
local lease = arg(1)
local renewed = 0
for i = 3, #ARGV do renewed = renewed + redis.call('ZADD', KEYS[1], 'XX', 'CH', now + lease, ARGV[i]) end
if #ARGV >= 3 then redis.call('PEXPIRE', KEYS[1], lease * 2) end
redis.call('ZADD', KEYS[2], now + lease, ARGV[2])
redis.call('PEXPIRE', KEYS[2], lease * 2)
return {renewed}
`,
);

/** Leaves the waiting line (no request of this process waits any more). KEYS: wait, waitexp. ARGV: 1 process id. */
export const WITHDRAW = script(
  'withdraw',
  `
guard(KEYS[1], 'zset')
guard(KEYS[2], 'zset')
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return {1}
`,
);

/** Whether Redis runs scripts and answers sensibly again, after an outage. */
export const PROBE = script('probe', 'return {1}');
