"""The Lua scripts the Redis backend runs server-side (each call is atomic).

Why scripts: a batch of documents is written by a few script calls (:data:`INSERT`),
the last of which publishes it, and a removal by one (:data:`APPLY`), so each is seen
whole or not at all, and every call first checks that the caller still holds the write
lock (a lease can expire under a stalled writer; the check fences it out).  The LSH
buckets are not multimaps but entries of the bucket log (:mod:`.log`), appended by the
same call that writes the rows.

Multimaps (the content keys) ("64-bit key -> row ids"): a key lives in the shard string ``BASE + (low 32
bits mod SHARDS)`` as an 8-byte entry: the key's high 32 bits, then the row id (both
little-endian uint32), entries in the order they were added.  Why strings, not hashes: a Redis hash of ~80
entries (a listpack) takes ~16 bytes an entry and a look-up (HGET) scans it entry by
entry; an exact-size string takes 8 bytes an entry plus the key's share (~10 in all),
and the shards of a whole batch's keys are read with one MGET, no script, and
searched by the client with numpy (:meth:`RedisStorage._multimap`).  An append is a
GET and a SET of the whole shard, in a script (not APPEND or SETRANGE, which leave the
string up to twice its size: Redis grows strings greedily).
"""

#: Lua helpers shared by the writing scripts: ``multimap(op, base, shards, keys, ids)``
#: adds (``op == 'MADD'``) or removes (``'MDEL'``) one entry per key of the u64 blob
#: ``keys``, the row id being the matching u32 of ``ids``.
_MULTIMAP = r"""
local function multimap(op, base, shards, keys, ids)
  local sub, find, unpack = string.sub, string.find, struct.unpack
  for j = 0, #keys / 8 - 1 do
    local at = j * 8 + 1
    local k = base .. (unpack('<I4', keys, at) % shards)
    local entry = sub(keys, at + 4, at + 7) .. sub(ids, j * 4 + 1, j * 4 + 4)
    local v = redis.call('GET', k)
    if op == 'MADD' then
      if v then redis.call('SET', k, v .. entry) else redis.call('SET', k, entry) end
    elseif v then
      local from = 1
      while true do
        local p = find(v, entry, from, true)
        if not p then break end
        if p % 8 == 1 then
          v = sub(v, 1, p - 1) .. sub(v, p + 8)
          if #v == 0 then redis.call('DEL', k) else redis.call('SET', k, v) end
          break
        end
        from = p + 1
      end
    end
  end
end
"""

#: Lua helper: ``append_log(key, first, count)`` XADDs ARGV[first .. first+count-1] to
#: the bucket log ``key`` (field ``v``) and returns {the id of the entry before them
#: ('0': none), the id of the last one} (a writer that held every entry before them
#: holds the log after adding these itself, without reading them back).  It counts the
#: entries ever added in ``key:n`` (set from XLEN when absent: an index written before
#: the count), which a worker compares with the entries it read (:mod:`.log`).
_LOG = r"""
local function append_log(key, first, count)
  local prev = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)
  local before = prev[1] and prev[1][1] or '0'
  local last = before
  if redis.call('EXISTS', key .. ':n') == 0 then redis.call('SET', key .. ':n', redis.call('XLEN', key)) end
  for q = 0, count - 1 do last = redis.call('XADD', key, '*', 'v', ARGV[first + q]) end
  redis.call('INCRBY', key .. ':n', count)
  return {before, last}
end
"""

#: One part of a batch (``insert_many`` writes a batch in parts of about
#: ``GROUP_VALUES`` values, so no call holds the server long; see
#: :meth:`RedisStorage.insert_many`).  ARGV: lock key, token, lease (ms), key prefix
#: ("PREFIX:"), expected ``seq:d`` and ``seq:p`` (the last row ids handed out), documents
#: N, paragraphs M, shards of k:p, k:d (ARGV 9-10), the u64 key / u32 id blobs of k:p,
#: k:d (ARGV 11-14), L bucket log entries, C paragraph chunk appends, G ids to check,
#: P documents to publish, paragraphs published (ARGV 15-19), then L log entries
#: (:mod:`.log`), C pairs (key suffix, bytes appended), N pairs (header ``d:``, text
#: ``t:``), G public ids (the first part checks every id of the batch: none may be
#: stored or given twice), P triples (public id, row, digest; the last part publishes
#: the whole batch).  Document rows are numbered from the expected ``seq:d`` on, in
#: order.  Rows are hidden from readers until published (``top:*``, the ids hash); a
#: writer that dies before leaves them unpublished, and the next writer removes them.
#: Returns {0, id} (nothing written) when an id is stored or given twice, else {1,
#: log id before, last log id} (see ``append_log``); a DEDUPDAMAGE error (nothing
#: written) when a row to be written is already stored (a counter set back).
INSERT = r"""#!lua
""" + _MULTIMAP + _LOG + r"""
if redis.call('GET', ARGV[1]) ~= ARGV[2] then
  return redis.error_reply('DEDUPLOCK the write lock was lost (its lease expired)')
end
local k = ARGV[4]
local seq_d, seq_p = tonumber(redis.call('GET', k .. 'seq:d') or 0), tonumber(redis.call('GET', k .. 'seq:p') or 0)
if seq_d ~= tonumber(ARGV[5]) or seq_p ~= tonumber(ARGV[6]) then
  return redis.error_reply('DEDUPLOCK row ids were handed out by another writer')
end
local nd, np = tonumber(ARGV[7]), tonumber(ARGV[8])
local l, c, g, pub = tonumber(ARGV[15]), tonumber(ARGV[16]), tonumber(ARGV[17]), tonumber(ARGV[18])
local chunks = 20 + l
local docs = chunks + 2 * c
local checks = docs + 2 * nd
local publish = checks + g
local given = {}
for q = 0, g - 1 do
  local id = ARGV[checks + q]
  if given[id] or redis.call('HEXISTS', k .. 'ids', id) == 1 then return {0, id} end
  given[id] = true
end
for d = 1, nd do
  if redis.call('EXISTS', k .. 'd:' .. (seq_d + d)) == 1 then
    return redis.error_reply('DEDUPDAMAGE the row id counter PREFIX:seq:d (' .. seq_d .. ') is behind the stored ' ..
                             'rows (document row ' .. (seq_d + d) .. ' is stored); nothing was written')
  end
end
for q = 0, c - 1 do  -- a p: chunk appended to holds rows below the new ones only
  local v, at = redis.call('GET', k .. ARGV[chunks + 2 * q]) or '', 1
  while at + 7 <= #v do
    local row, size = struct.unpack('<I4I4', v, at)
    if row > seq_p then
      return redis.error_reply('DEDUPDAMAGE the row id counter PREFIX:seq:p (' .. seq_p .. ') is behind the ' ..
                               'stored rows (paragraph row ' .. row .. ' is stored); nothing was written')
    end
    at = at + 8 + size
  end
end
redis.call('PEXPIRE', ARGV[1], ARGV[3])
for d = 0, nd - 1 do
  local row, a = seq_d + 1 + d, docs + 2 * d
  redis.call('SET', k .. 'd:' .. row, ARGV[a])
  redis.call('SET', k .. 't:' .. row, ARGV[a + 1])
end
for q = 0, c - 1 do
  local key = k .. ARGV[chunks + 2 * q]
  local v = redis.call('GET', key)
  redis.call('SET', key, (v or '') .. ARGV[chunks + 2 * q + 1])
end
multimap('MADD', k .. 'k:p:', tonumber(ARGV[9]), ARGV[11], ARGV[12])
multimap('MADD', k .. 'k:d:', tonumber(ARGV[10]), ARGV[13], ARGV[14])
local logged = append_log(k .. 'log', 20, l)
redis.call('SET', k .. 'seq:d', seq_d + nd)
redis.call('SET', k .. 'seq:p', seq_p + np)
if pub > 0 then
  for q = 0, pub - 1 do
    local a = publish + 3 * q
    redis.call('HSET', k .. 'ids', ARGV[a], ARGV[a + 1])
    redis.call('HSET', k .. 'dg', ARGV[a], ARGV[a + 2])
  end
  redis.call('INCRBY', k .. 'n:p', tonumber(ARGV[19]))
  -- Readers that start from now on see the batch (writers take turns under the lock).
  redis.call('SET', k .. 'top:d', seq_d + nd)
  redis.call('SET', k .. 'top:p', seq_p + np)
end
return {1, logged[1], logged[2]}
"""

#: ARGV: lock key, token, lease (ms), guard ("old": stop unless the field is present,
#: "": none), guard hash, guard field, the bucket log's key, L log entries, then the L
#: entries (:mod:`.log`), then operations:
#: SET k v | SETRANGE k offset v | DEL k | HDEL k f | INCRBY k n |
#: MADD base shards keys ids | MDEL base shards keys ids  (keys: u64 blob, ids: u32
#: blob, one id per key).  Returns {1, log id before, last log id} when applied (see
#: ``append_log``), {0} when the guard stopped it.
APPLY = r"""#!lua
""" + _MULTIMAP + _LOG + r"""
if redis.call('GET', ARGV[1]) ~= ARGV[2] then
  return redis.error_reply('DEDUPLOCK the write lock was lost (its lease expired)')
end
if ARGV[4] == 'old' and redis.call('HEXISTS', ARGV[5], ARGV[6]) == 0 then return {0} end
redis.call('PEXPIRE', ARGV[1], ARGV[3])
local logged = append_log(ARGV[7], 9, tonumber(ARGV[8]))
local i = 9 + tonumber(ARGV[8])
while i <= #ARGV do
  local op = ARGV[i]
  if op == 'SET' then
    redis.call('SET', ARGV[i + 1], ARGV[i + 2]); i = i + 3
  elseif op == 'SETRANGE' then
    redis.call('SETRANGE', ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3]); i = i + 4
  elseif op == 'DEL' then
    redis.call('DEL', ARGV[i + 1]); i = i + 2
  elseif op == 'HDEL' then
    redis.call('HDEL', ARGV[i + 1], ARGV[i + 2]); i = i + 3
  elseif op == 'INCRBY' then
    redis.call('INCRBY', ARGV[i + 1], tonumber(ARGV[i + 2])); i = i + 3
  elseif op == 'MADD' or op == 'MDEL' then
    multimap(op, ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3], ARGV[i + 4]); i = i + 5
  else
    return redis.error_reply('DEDUPBUG unknown operation ' .. tostring(op))
  end
end
return {1, logged[1], logged[2]}
"""

#: ARGV: tally hash, judged counter, documents judged, u64 key blob, u32 count blob:
#: adds each count to its key's field (the key's 8 bytes) and the documents to the
#: counter, at once (one call instead of a command a key).
TALLY = r"""#!lua
local keys, counts = ARGV[4], ARGV[5]
for j = 0, #keys / 8 - 1 do
  local n = struct.unpack('<I4', counts, j * 4 + 1)
  redis.call('HINCRBY', ARGV[1], string.sub(keys, j * 8 + 1, j * 8 + 8), n)
end
redis.call('INCRBY', ARGV[2], tonumber(ARGV[3]))
return 1
"""

#: ARGV: lock key, token, lease (ms), key prefix.  Takes the lock if it is free
#: (``SET NX PX``) and returns {1, seq:d, seq:p, top:d, top:p} (the last row ids handed
#: out, which only this lock's holder advances, and the last ones published), or {0}
#: when another writer holds it.
ACQUIRE = r"""#!lua
if not redis.call('SET', ARGV[1], ARGV[2], 'NX', 'PX', tonumber(ARGV[3])) then return {0} end
local function get(name) return tonumber(redis.call('GET', ARGV[4] .. name) or 0) end
return {1, get('seq:d'), get('seq:p'), get('top:d'), get('top:p')}
"""

#: ARGV: lock key, token.  Deletes the lock only if it is still ours.
RELEASE = r"""#!lua
if redis.call('GET', ARGV[1]) == ARGV[2] then return redis.call('DEL', ARGV[1]) end
return 0
"""

#: ARGV: meta hash, then field/value pairs.  Writes them only if the hash does not
#: exist (the first creator wins); returns the hash's content either way.
CREATE = r"""#!lua
if redis.call('EXISTS', ARGV[1]) == 0 then
  for i = 2, #ARGV, 2 do redis.call('HSET', ARGV[1], ARGV[i], ARGV[i + 1]) end
end
return redis.call('HGETALL', ARGV[1])
"""
