"""The Redis scripts that change jobs, each one atomic, so that replicas never race.

Every key is under one prefix with a hash tag (``screenshotd:{jobs}:``), so that all of them
sit in one slot of a Redis Cluster as well. The keys:

- ``job:{id}`` (hash, see :mod:`~screenshotd.core.jobs.codec`), ``owner:{owner}`` (zset of the
  owner's job ids by creation), ``batch:{id}`` (hash);
- the fair queue: ``q:{owner}`` (zset of queued ids by submission order), ``owners`` (zset of
  the owners with queued jobs, by when each was last served), ``running`` (hash: owner ->
  jobs processing), ``queued`` (count), ``pending:{owner}`` (hash: unit -> unfinished jobs;
  its length is the owner's pending submissions);
- ``tickets`` (stream, group ``workers``): one entry per queued job. A replica with a free
  slot reads one with ``XREADGROUP``, then :data:`PICK` chooses *which* job it runs, fairly
  across owners. The entry stays in the replica's pending list while the job runs: that is
  the claim. ``held`` (hash: ticket -> job) says which job a claim is for;
- ``webhooks`` (stream, group ``hooks``): one entry per finished job with a webhook, and one
  per finished batch with a ``callback_url`` (a batch's ``left`` counts its unfinished items);
- ``results`` (zset: finished ids by finish time), ``weights`` (hash), ``bytes`` (count): the
  bound on the results kept in Redis;
- ``replica:{id}`` (a heartbeat with a TTL), ``replicas`` (zset by last beat);
- channels ``events`` (a job id, whenever its status changes) and ``control`` (a job id to
  cancel, for the replica running it).
"""

from __future__ import annotations

PREFIX = "screenshotd:{jobs}:"

#: ARGV: prefix, owner, unit, max_pending, max_queued, ttl, batch_id, batch_record, count,
#: batch_callback (a delivery's JSON, or empty), then per job: id, record, status
#: (queued | failed), created (ms).
#: Returns {"ok"} or {"pending", n} or {"queued", n}.
SUBMIT = """
local P, owner, unit = ARGV[1], ARGV[2], ARGV[3]
local max_pending, max_queued, ttl = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local batch_id, batch_record, count = ARGV[7], ARGV[8], tonumber(ARGV[9])
local queueing = 0
for i = 0, count - 1 do
  if ARGV[11 + i * 4 + 2] == 'queued' then queueing = queueing + 1 end
end
if queueing > 0 then
  local pending = redis.call('HLEN', P .. 'pending:' .. owner)
  if pending + 1 > max_pending then return {'pending', pending} end
  local queued = tonumber(redis.call('GET', P .. 'queued') or '0')
  if queued + queueing > max_queued then return {'queued', queued} end
end
for i = 0, count - 1 do
  local id, rec, status = ARGV[11 + i * 4], ARGV[12 + i * 4], ARGV[13 + i * 4]
  local key = P .. 'job:' .. id
  redis.call('HSET', key, 'owner', owner, 'status', status, 'record', rec, 'attempts', 0)
  redis.call('ZADD', P .. 'owner:' .. owner, tonumber(ARGV[14 + i * 4]), id)
  if status == 'queued' then
    local seq = redis.call('INCR', P .. 'seq')
    redis.call('HSET', key, 'seq', seq)
    redis.call('ZADD', P .. 'q:' .. owner, seq, id)
    -- a caller new to the queue goes before those served last, after those who waited longer
    redis.call('ZADD', P .. 'owners', 'NX', tonumber(redis.call('GET', P .. 'served') or '0') - 0.5, owner)
    redis.call('INCR', P .. 'queued')
    redis.call('XADD', P .. 'tickets', '*', 'job', id)
  else
    redis.call('EXPIRE', key, ttl)
  end
end
if queueing > 0 then
  redis.call('HINCRBY', P .. 'pending:' .. owner, unit, queueing)
end
-- the owner's index forgets ids older than any kept job could be (a day past the TTL)
local index = P .. 'owner:' .. owner
local newest = tonumber(ARGV[14 + (count - 1) * 4])
redis.call('ZREMRANGEBYSCORE', index, '-inf', newest - (ttl + 86400) * 1000)
redis.call('EXPIRE', index, ttl + 86400)
if batch_id ~= '' then
  local batch = P .. 'batch:' .. batch_id
  redis.call('HSET', batch, 'owner', owner, 'record', batch_record, 'left', queueing)
  if ARGV[10] ~= '' then
    redis.call('HSET', batch, 'callback', ARGV[10])
    -- every item was invalid: nothing will finish later, so the batch is done now
    if queueing == 0 then redis.call('XADD', P .. 'webhooks', '*', 'batch', batch_id) end
  end
  if queueing == 0 then redis.call('EXPIRE', batch, ttl) end
end
return {'ok'}
"""

#: ARGV: prefix, replica, ticket, per_owner (0: no cap), now.
#: The next job, fairly: the owner served longest ago, skipping owners at their cap of
#: running jobs while another owner waits. Returns the job id, or false.
PICK = """
local P, replica, ticket, cap, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local owners = redis.call('ZRANGE', P .. 'owners', 0, 99)
if #owners == 0 then return false end
local chosen = owners[1]
if cap > 0 then
  for _, owner in ipairs(owners) do
    if tonumber(redis.call('HGET', P .. 'running', owner) or '0') < cap then
      chosen = owner
      break
    end
  end
end
local popped = redis.call('ZPOPMIN', P .. 'q:' .. chosen)
if #popped == 0 then
  redis.call('ZREM', P .. 'owners', chosen)
  return false
end
local id = popped[1]
local served = redis.call('INCR', P .. 'served')
if redis.call('ZCARD', P .. 'q:' .. chosen) == 0 then
  redis.call('ZREM', P .. 'owners', chosen)
else
  redis.call('ZADD', P .. 'owners', served, chosen)
end
redis.call('HINCRBY', P .. 'running', chosen, 1)
redis.call('DECR', P .. 'queued')
local key = P .. 'job:' .. id
redis.call('HSET', key, 'status', 'processing', 'started_at', now, 'replica', replica,
           'ticket', ticket)
redis.call('HINCRBY', key, 'attempts', 1)
redis.call('HSET', P .. 'held', ticket, id)
redis.call('PUBLISH', P .. 'events', id)
return id
"""

#: ARGV: prefix, id, expect (queued | processing), replica (for processing: the one that must
#: hold it), status, record, data, ttl, weight, max_bytes, now, webhook (0/1), unit, batch_id.
#: Returns 1 when the job finished now, 0 when it was no longer in the expected state.
FINISH = """
local P, id, expect, replica = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local key = P .. 'job:' .. id
local current = redis.call('HGET', key, 'status')
if current ~= expect then return 0 end
if expect == 'processing' and redis.call('HGET', key, 'replica') ~= replica then return 0 end
local owner = redis.call('HGET', key, 'owner')
if current == 'queued' then
  if redis.call('ZREM', P .. 'q:' .. owner, id) == 1 then
    redis.call('DECR', P .. 'queued')
    if redis.call('ZCARD', P .. 'q:' .. owner) == 0 then redis.call('ZREM', P .. 'owners', owner) end
  end
else
  if redis.call('HINCRBY', P .. 'running', owner, -1) <= 0 then
    redis.call('HDEL', P .. 'running', owner)
  end
  local ticket = redis.call('HGET', key, 'ticket')
  if ticket then
    redis.call('HDEL', P .. 'held', ticket)
    redis.call('XACK', P .. 'tickets', 'workers', ticket)
    redis.call('XDEL', P .. 'tickets', ticket)
  end
end
redis.call('HSET', key, 'status', ARGV[5], 'record', ARGV[6])
if ARGV[7] ~= '' then redis.call('HSET', key, 'data', ARGV[7]) end
local ttl = tonumber(ARGV[8])
redis.call('EXPIRE', key, ttl)
local pending = P .. 'pending:' .. owner
if redis.call('HINCRBY', pending, ARGV[13], -1) <= 0 then redis.call('HDEL', pending, ARGV[13]) end
local weight, max_bytes = tonumber(ARGV[9]), tonumber(ARGV[10])
redis.call('ZADD', P .. 'results', tonumber(ARGV[11]), id)
redis.call('HSET', P .. 'weights', id, weight)
local total = redis.call('INCRBY', P .. 'bytes', weight)
while total > max_bytes and redis.call('ZCARD', P .. 'results') > 1 do
  local oldest = redis.call('ZPOPMIN', P .. 'results')[1]
  total = redis.call('DECRBY', P .. 'bytes', tonumber(redis.call('HGET', P .. 'weights', oldest) or '0'))
  redis.call('HDEL', P .. 'weights', oldest)
  redis.call('DEL', P .. 'job:' .. oldest)
  redis.call('INCR', P .. 'evicted')
end
if ARGV[14] ~= '' then
  local batch = P .. 'batch:' .. ARGV[14]
  redis.call('EXPIRE', batch, ttl)
  -- the batch's last item: its callback_url gets the whole batch, once
  if redis.call('HINCRBY', batch, 'left', -1) == 0 and redis.call('HEXISTS', batch, 'callback') == 1 then
    redis.call('XADD', P .. 'webhooks', '*', 'batch', ARGV[14])
  end
end
if ARGV[12] == '1' then redis.call('XADD', P .. 'webhooks', '*', 'job', id) end
redis.call('PUBLISH', P .. 'events', id)
return 1
"""

#: ARGV: prefix, before (Unix seconds). Forgets the weights of results finished before it (their
#: job hashes expire by themselves). Returns how many.
EXPIRE = """
local P = ARGV[1]
local gone = redis.call('ZRANGEBYSCORE', P .. 'results', '-inf', ARGV[2], 'LIMIT', 0, 1000)
for _, id in ipairs(gone) do
  redis.call('DECRBY', P .. 'bytes', tonumber(redis.call('HGET', P .. 'weights', id) or '0'))
  redis.call('HDEL', P .. 'weights', id)
  redis.call('ZREM', P .. 'results', id)
end
return #gone
"""

#: ARGV: prefix, id. Marks a processing job cancelled and tells its replica. Returns the job's
#: status before ("processing" when the replica was told).
CANCEL_RUNNING = """
local P, id = ARGV[1], ARGV[2]
local key = P .. 'job:' .. id
local status = redis.call('HGET', key, 'status')
if status == 'processing' then
  redis.call('HSET', key, 'cancel', '1')
  redis.call('PUBLISH', P .. 'control', id)
end
return status
"""

#: ARGV: prefix, ticket, max_attempts. A claim given back (its replica stopped, or died and
#: was taken over): its job goes back to the head of its owner's queue with a new ticket.
#: Returns {"requeued", id}, {"ticket"} (a ticket that never picked a job: put back),
#: {"gone"} (the job finished meanwhile), or {"cancel"|"fail", id, replica} for the caller
#: to finish the job (cancelled, or run too many times).
REQUEUE = """
local P, ticket, max_attempts = ARGV[1], ARGV[2], tonumber(ARGV[3])
local id = redis.call('HGET', P .. 'held', ticket)
if not id then
  redis.call('XACK', P .. 'tickets', 'workers', ticket)
  redis.call('XDEL', P .. 'tickets', ticket)
  redis.call('XADD', P .. 'tickets', '*', 'job', '')
  return {'ticket'}
end
local key = P .. 'job:' .. id
if redis.call('HGET', key, 'status') ~= 'processing' or redis.call('HGET', key, 'ticket') ~= ticket then
  redis.call('HDEL', P .. 'held', ticket)
  redis.call('XACK', P .. 'tickets', 'workers', ticket)
  redis.call('XDEL', P .. 'tickets', ticket)
  return {'gone'}
end
local replica = redis.call('HGET', key, 'replica')
if redis.call('HGET', key, 'cancel') == '1' then return {'cancel', id, replica} end
if tonumber(redis.call('HGET', key, 'attempts') or '0') >= max_attempts then
  return {'fail', id, replica}
end
local owner = redis.call('HGET', key, 'owner')
redis.call('HDEL', P .. 'held', ticket)
redis.call('XACK', P .. 'tickets', 'workers', ticket)
redis.call('XDEL', P .. 'tickets', ticket)
if redis.call('HINCRBY', P .. 'running', owner, -1) <= 0 then redis.call('HDEL', P .. 'running', owner) end
redis.call('HSET', key, 'status', 'queued', 'replica', '', 'ticket', '')
redis.call('ZADD', P .. 'q:' .. owner, tonumber(redis.call('HGET', key, 'seq') or '0'), id)
redis.call('ZADD', P .. 'owners', 'NX', 0, owner)
redis.call('INCR', P .. 'queued')
redis.call('XADD', P .. 'tickets', '*', 'job', id)
redis.call('PUBLISH', P .. 'events', id)
return {'requeued', id}
"""

#: ARGV: prefix, stream, group, consumer, ids... Keeps this replica's claims fresh: each entry
#: still held by ``consumer`` has its idle time reset (``XCLAIM`` to itself), and only those:
#: an entry another replica took over is never taken back. Returns how many were renewed.
RENEW = """
local P, stream, group, me = ARGV[1], ARGV[1] .. ARGV[2], ARGV[3], ARGV[4]
local renewed = 0
for i = 5, #ARGV do
  local entry = redis.call('XPENDING', stream, group, ARGV[i], ARGV[i], 1)
  if #entry == 1 and entry[1][2] == me then
    redis.call('XCLAIM', stream, group, me, 0, ARGV[i], 'JUSTID')
    renewed = renewed + 1
  end
end
return renewed
"""
