"""The Lua scripts the Redis backend runs server-side (each call is atomic).

Why scripts: a batch of documents is written by a few script calls (:data:`INSERT`),
the last of which publishes it, and a removal by one (:data:`APPLY`), so each is seen
whole or not at all, and every call first checks that the caller still holds the write
lock (a lease can expire under a stalled writer; the check fences it out).  The LSH
buckets are not multimaps but entries of the bucket log (:mod:`.log`), appended by the
same call that writes the rows.

Multimaps (the content keys) ("64-bit key -> row ids") and the boilerplate tallies
("64-bit key -> count"): a key lives in the shard string ``BASE + (low 32 bits mod
SHARDS)`` as an 8-byte entry: the key's high 32 bits, then the row id or the count
(both little-endian uint32), entries in the order they were added, then a checksum of
the shard (:data:`TRAILER` bytes, see ``_SHARDS``); a bitmap ``BASE + 'on'`` says which
shards exist (a deleted shard is damage, not an empty one).  Why strings, not hashes:
a Redis hash of ~80 entries (a listpack) takes ~16 bytes an entry and a look-up (HGET)
scans it entry by entry (the tallies as one hash took ~57 bytes a paragraph); an
exact-size string takes 8 bytes an entry plus the key's share (~10 in all), and the
shards of a whole batch's keys are read with one MGET, no script, and searched by the
client with numpy (:meth:`RedisStorage._multimap`).  A change is a GET and a SET of the
whole shard, in a script (not APPEND or SETRANGE, which leave the string up to twice
its size: Redis grows strings greedily), and the checksum is SHA-1 because a script can
compute it (``redis.sha1hex``; Lua here has no 64-bit integers for
:mod:`dedup.storage.rowcheck`'s sums).

Why one module past ~400 lines: the scripts are built by concatenating shared Lua
helpers (``_SHARDS``, ``_JUDGED``, ``_LOG``), and each script's argument layout is
documented beside its text; split across modules, the helpers would be imported back
into each, and a script's layout read in one place and its helpers in another.
"""

#: Bytes of the checksum at the end of a shard string (hex digits of a SHA-1).
TRAILER = 16

#: Lua helpers shared by the writing scripts: the shard strings of the content-key
#: multimaps and the tallies, each ending with a checksum (:data:`TRAILER` hex digits of
#: the SHA-1 of ``NAME .. body``, NAME being ``TAG .. shard number``, e.g. ``p123``),
#: and one presence bit a shard (``BASE .. 'on'``: set while the shard exists).
#: ``load(base, shards, keys)`` reads and verifies the shards of the u64 blob
#: ``keys`` (returns the key of a damaged shard, else false) -- every script loads the
#: shards it changes before its first write, so damage stops it with nothing written
#: (a write would otherwise seal the damage under a new checksum); ``multimap(op, base,
#: shards, keys, ids)`` adds (``'MADD'``) or removes (``'MDEL'``) one entry per key,
#: the row id being the matching u32 of ``ids``; ``count(base, shards, keys, counts)``
#: adds each u32 of ``counts`` to its key's entry (the entry's second u32); ``flush()``
#: writes the changed shards back with their checksums and presence bits.
_SHARDS = r"""
local sub, find, unpack, pack = string.sub, string.find, struct.unpack, struct.pack
local loaded = {}
local function seal(name, body) return body .. sub(redis.sha1hex(name .. body), 1, 16) end
local function load(base, shards, keys)
  local tag = sub(base, -2, -2)
  if #keys > 0 and redis.call('GETBIT', base .. 'on', shards) ~= 1 then return base .. 'on' end
  for j = 0, #keys / 8 - 1 do
    local s = unpack('<I4', keys, j * 8 + 1) % shards
    local key = base .. s
    if not loaded[key] then
      local v = redis.call('GET', key)
      local on = redis.call('GETBIT', base .. 'on', s)
      local name = tag .. s
      if (v and 1 or 0) ~= on then return key end
      local body = ''
      if v then
        body = sub(v, 1, #v - 16)
        if #v < 16 or #body % 8 ~= 0 or seal(name, body) ~= v then return key end
      end
      loaded[key] = {body = body, name = name, base = base, shard = s, was = v and true or false}
    end
  end
  return false
end
local function find_entry(body, head)
  local from = 1
  while true do
    local p = find(body, head, from, true)
    if not p or p % 8 == 1 then return p end
    from = p + 1
  end
end
local function multimap(op, base, shards, keys, ids)
  for j = 0, #keys / 8 - 1 do
    local at = j * 8 + 1
    local sh = loaded[base .. (unpack('<I4', keys, at) % shards)]
    local entry = sub(keys, at + 4, at + 7) .. sub(ids, j * 4 + 1, j * 4 + 4)
    if op == 'MADD' then
      sh.body = sh.body .. entry
    else
      local p = find_entry(sh.body, entry)
      if p then sh.body = sub(sh.body, 1, p - 1) .. sub(sh.body, p + 8) end
    end
    sh.dirty = true
  end
end
local function count(base, shards, keys, counts)
  for j = 0, #keys / 8 - 1 do
    local at = j * 8 + 1
    local sh = loaded[base .. (unpack('<I4', keys, at) % shards)]
    local head, n = sub(keys, at + 4, at + 7), unpack('<I4', counts, j * 4 + 1)
    local p = find_entry(sh.body, head)
    if p then
      sh.body = sub(sh.body, 1, p + 3) .. pack('<I4', unpack('<I4', sh.body, p + 4) + n) .. sub(sh.body, p + 8)
    else
      sh.body = sh.body .. head .. pack('<I4', n)
    end
    sh.dirty = true
  end
end
local function flush()
  for key, sh in pairs(loaded) do
    if sh.dirty then
      if #sh.body == 0 then
        redis.call('DEL', key)
        redis.call('SETBIT', sh.base .. 'on', sh.shard, 0)
      else
        redis.call('SET', key, seal(sh.name, sh.body))
        if not sh.was then redis.call('SETBIT', sh.base .. 'on', sh.shard, 1) end
      end
      sh.was, sh.dirty = #sh.body > 0, false
    end
  end
end
local function damaged(what)
  return redis.error_reply('DEDUPDAMAGE ' .. what .. '; nothing was written')
end
local function count_damage(key)
  return damaged('the count of the paragraphs stored (' .. key .. ') is missing or does not match its checksum')
end
local function shard_damage(key)
  if sub(key, -2) == 'on' then
    return damaged('the content-key shards\' presence bitmap ' .. key .. ' is missing or lost its end mark')
  end
  local base = sub(key, 1, #key - #string.match(key, '%d+$'))
  return damaged('the content-key shard ' .. key .. ' does not match the checksum it ends with or its bit in ' ..
                 base .. 'on')
end
"""

#: Sealed counts: ``sealed(tag, n)``: the value of a count kept with its checksum --
#: the number, a space and :data:`TRAILER` hex digits of the SHA-1 of ``tag .. ' ' ..
#: n`` (:func:`.multimap.sealed_value`); ``opened(key, tag)``: the count in ``key``, or
#: nil when it is missing or does not match its checksum.  ``judged(n)``: the value of
#: ``PREFIX:judged`` for ``n`` documents judged (a changed count is damage, not a
#: boilerplate rule gone wrong); ``PREFIX:n:p``, the paragraphs stored, is sealed with
#: tag ``paragraphs`` (a decremented count gave wrong stats and nothing noticed it:
#: tester's T2; no other key counts paragraphs at bounded cost).
_JUDGED = r"""
local function sealed(tag, n) return n .. ' ' .. sub(redis.sha1hex(tag .. ' ' .. n), 1, 16) end
local function judged(n) return sealed('judged', n) end
local function opened(key, tag)
  local v = redis.call('GET', key) or ''
  local n = tonumber(sub(v, 1, (string.find(v, ' ', 1, true) or 1) - 1))
  if n and sealed(tag, n) == v then return n end
  return nil
end
"""

#: Lua helper: ``append_log(key, first, count)`` XADDs ARGV[first .. first+count-1] to
#: the bucket log ``key`` (field ``v``) and returns {the id of the entry before them
#: ('0': none), the id of the last one} (a writer that held every entry before them
#: holds the log after adding these itself, without reading them back).  It counts the
#: entries ever added in ``key:n`` (set to 0 when the index is created; a script whose
#: count is missing stops before its first write, see ``logged``), which a worker
#: compares with the entries it read (:mod:`.log`).  ``logged(key)``: the damage reply
#: when ``key:n`` is missing, else nil.  ``log_of(k)``: the key of the bucket log under
#: prefix ``k`` (``PREFIX:log``, or ``PREFIX:logG`` after G compactions, ``log:gen``).
_LOG = r"""
local function append_log(key, first, count)
  local prev = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)
  local before = prev[1] and prev[1][1] or '0'
  local last = before
  for q = 0, count - 1 do last = redis.call('XADD', key, '*', 'v', ARGV[first + q]) end
  redis.call('INCRBY', key .. ':n', count)
  return {before, last}
end
local function log_of(k)
  local gen = redis.call('GET', k .. 'log:gen')
  return gen and (k .. 'log' .. gen) or (k .. 'log')
end
local function logged(key)
  if redis.call('EXISTS', key .. ':n') == 0 then
    return damaged('the count of the bucket log\'s entries (' .. key .. ':n) is missing')
  end
end
"""

#: One part of a batch (``insert_many`` writes a batch in parts of about
#: ``GROUP_VALUES`` values, so no call holds the server long; see
#: :meth:`RedisStorage.insert_many`).  ARGV: lock key, token, lease (ms), key prefix
#: ("PREFIX:"), expected ``seq:d`` and ``seq:p`` (the last row ids handed out), documents
#: N, paragraphs M, shards of k:p, k:d (ARGV 9-10), the u64 key / u32 id blobs of k:p,
#: k:d (ARGV 11-14), L bucket log entries, C paragraph chunk appends, G ids to check,
#: P documents to publish, paragraphs published (ARGV 15-19), shards of k:n, the u64
#: name key / u32 row blobs of the P documents published (ARGV 20-22; the name multimap
#: ``k:n:``, see :func:`~dedup.storage.protocol.document_id_keys`), then L log entries
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
""" + _SHARDS + _LOG + _JUDGED + r"""
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
local chunks = 23 + l
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
    return redis.error_reply('DEDUPDAMAGE the row id counter ' .. k .. 'seq:d (' .. seq_d .. ') is behind the stored ' ..
                             'rows (document row ' .. (seq_d + d) .. ' is stored); nothing was written')
  end
end
for q = 0, c - 1 do  -- a p: chunk appended to holds rows below the new ones only
  local v, at = redis.call('GET', k .. ARGV[chunks + 2 * q]) or '', 1
  while at + 7 <= #v do
    local row, size = struct.unpack('<I4I4', v, at)
    if row > seq_p then
      return redis.error_reply('DEDUPDAMAGE the row id counter ' .. k .. 'seq:p (' .. seq_p .. ') is behind the ' ..
                               'stored rows (paragraph row ' .. row .. ' is stored); nothing was written')
    end
    at = at + 8 + size
  end
end
local log = log_of(k)
local lost = logged(log)
if lost then return lost end
local paragraphs = opened(k .. 'n:p', 'paragraphs')
if not paragraphs then return count_damage(k .. 'n:p') end
local bad = load(k .. 'k:p:', tonumber(ARGV[9]), ARGV[11]) or load(k .. 'k:d:', tonumber(ARGV[10]), ARGV[13])
  or load(k .. 'k:n:', tonumber(ARGV[20]), ARGV[21])
if bad then return shard_damage(bad) end
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
multimap('MADD', k .. 'k:n:', tonumber(ARGV[20]), ARGV[21], ARGV[22])
flush()
local appended = append_log(log, 23, l)
redis.call('SET', k .. 'seq:d', seq_d + nd)
redis.call('SET', k .. 'seq:p', seq_p + np)
if pub > 0 then
  for q = 0, pub - 1 do
    local a = publish + 3 * q
    redis.call('HSET', k .. 'ids', ARGV[a], ARGV[a + 1])
    redis.call('HSET', k .. 'dg', ARGV[a], ARGV[a + 2])
  end
  redis.call('SET', k .. 'n:p', sealed('paragraphs', paragraphs + tonumber(ARGV[19])))
  redis.call('INCRBY', k .. 'n:d', pub)
  -- Readers that start from now on see the batch (writers take turns under the lock).
  redis.call('SET', k .. 'top:d', seq_d + nd)
  redis.call('SET', k .. 'top:p', seq_p + np)
end
return {1, appended[1], appended[2]}
"""

#: ARGV: lock key, token, lease (ms), guard ("old": stop unless the field is present,
#: "": none), guard hash, guard field, the bucket log's key, L log entries, then the L
#: entries (:mod:`.log`), then operations:
#: SET k v | SETRANGE k offset v | DEL k | HDEL k f | INCRBY k n | COUNT k tag n (a
#: sealed count, see ``_JUDGED``; verified before any write) |
#: MADD base shards keys ids | MDEL base shards keys ids  (keys: u64 blob, ids: u32
#: blob, one id per key).  Returns {1, log id before, last log id} when applied (see
#: ``append_log``), {0} when the guard stopped it.
APPLY = r"""#!lua
""" + _SHARDS + _LOG + _JUDGED + r"""
if redis.call('GET', ARGV[1]) ~= ARGV[2] then
  return redis.error_reply('DEDUPLOCK the write lock was lost (its lease expired)')
end
if ARGV[4] == 'old' and redis.call('HEXISTS', ARGV[5], ARGV[6]) == 0 then return {0} end
local lost = logged(ARGV[7])
if lost then return lost end
local first = 9 + tonumber(ARGV[8])
local i = first
while i <= #ARGV do  -- the shards changed, loaded and verified before any write
  local op = ARGV[i]
  if op == 'MADD' or op == 'MDEL' then
    local bad = load(ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3])
    if bad then return shard_damage(bad) end
    i = i + 5
  elseif op == 'COUNT' then
    if not opened(ARGV[i + 1], ARGV[i + 2]) then return count_damage(ARGV[i + 1]) end
    i = i + 4
  else
    i = i + ((op == 'SETRANGE') and 4 or (op == 'DEL') and 2 or 3)
  end
end
redis.call('PEXPIRE', ARGV[1], ARGV[3])
local done = append_log(ARGV[7], 9, tonumber(ARGV[8]))
i = first
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
  elseif op == 'COUNT' then
    redis.call('SET', ARGV[i + 1], sealed(ARGV[i + 2], opened(ARGV[i + 1], ARGV[i + 2]) + tonumber(ARGV[i + 3])))
    i = i + 4
  elseif op == 'MADD' or op == 'MDEL' then
    multimap(op, ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3], ARGV[i + 4]); i = i + 5
  else
    return redis.error_reply('DEDUPBUG unknown operation ' .. tostring(op))
  end
end
flush()
return {1, done[1], done[2]}
"""

#: ARGV: a shard kind's base ("PREFIX:k:p:"), shard numbers.  Returns each shard's
#: string ('' when it does not exist) and its presence bit, read at one moment.
READ_SHARDS = r"""#!lua flags=no-writes
local out = {}
for i = 2, #ARGV do
  out[#out + 1] = redis.call('GET', ARGV[1] .. ARGV[i]) or ''
  out[#out + 1] = redis.call('GETBIT', ARGV[1] .. 'on', tonumber(ARGV[i]))
end
return out
"""

#: ARGV: lock key, token, lease (ms), the tally shards' base ("PREFIX:k:t:"), their
#: number, the judged counter, documents judged, u64 key blob, u32 count blob: adds each
#: count to its key's entry (one entry a key: its high 32 bits, the count) and the
#: documents to the counter, at once, and renews the lease; a DEDUPLOCK error, nothing
#: written, when the write lock is not the caller's any more (a writer whose lease ran
#: out is fenced out here as in every other write script); a DEDUPDAMAGE error, nothing
#: written, when a shard or the counter does not verify.
TALLY = r"""#!lua
""" + _SHARDS + _JUDGED + r"""
if redis.call('GET', ARGV[1]) ~= ARGV[2] then
  return redis.error_reply('DEDUPLOCK the write lock was lost (its lease expired)')
end
local bad = load(ARGV[4], tonumber(ARGV[5]), ARGV[8])
if bad then return shard_damage(bad) end
local n = opened(ARGV[6], 'judged')
if not n then
  return damaged('the count of the documents judged (' .. ARGV[6] .. ') is missing or does not match its checksum')
end
redis.call('PEXPIRE', ARGV[1], ARGV[3])
count(ARGV[4], tonumber(ARGV[5]), ARGV[8], ARGV[9])
flush()
redis.call('SET', ARGV[6], judged(n + tonumber(ARGV[7])))
return 1
"""

#: ARGV: lock key, token, lease (ms), key prefix.  Takes the lock if it is free
#: (``SET NX PX``) and returns {1, seq:d, seq:p, top:d, top:p, HLEN ids, n:d, log:gen}
#: (the last row ids handed out, which only this lock's holder advances, the last ones
#: published, the documents listed and counted, ``n:d`` -1 when missing; the bucket
#: log's generation, ``false`` before the first compaction), or {0} when another writer
#: holds it.
ACQUIRE = r"""#!lua
if not redis.call('SET', ARGV[1], ARGV[2], 'NX', 'PX', tonumber(ARGV[3])) then return {0} end
local function get(name) return tonumber(redis.call('GET', ARGV[4] .. name) or 0) end
return {1, get('seq:d'), get('seq:p'), get('top:d'), get('top:p'), redis.call('HLEN', ARGV[4] .. 'ids'),
        tonumber(redis.call('GET', ARGV[4] .. 'n:d') or -1), redis.call('GET', ARGV[4] .. 'log:gen')}
"""

#: ARGV: key prefix.  {HLEN ids, n:d, n:p, top:d, top:p, log:gen} read at once (a
#: reader's snapshot; ``false``, a nil, where missing).
MARKS = r"""#!lua flags=no-writes
local function get(name) return redis.call('GET', ARGV[1] .. name) end
return {redis.call('HLEN', ARGV[1] .. 'ids'), get('n:d'), get('n:p'), get('top:d'), get('top:p'), get('log:gen')}
"""

#: ARGV: key prefix, a public document id.  {row, its ``d:`` record (``false`` when
#: missing)} read at once, or {} when ``ids`` does not list the id (then
#: :data:`NAMES` tells whether it should).
FIND = r"""#!lua flags=no-writes
local row = redis.call('HGET', ARGV[1] .. 'ids', ARGV[2])
if not row then return {} end
return {row, redis.call('GET', ARGV[1] .. 'd:' .. row)}
"""

#: ARGV: key prefix, the name multimap's base (``k:n:``), N, then N pairs (a public
#: document id, its name key's shard number), then the shard count (the bitmap's end
#: mark).  For each id {its row in ``ids`` (``false``: not listed), its entry in ``dg``
#: (``false``: none)}, then for each distinct shard of the ids ``ids`` does not list
#: {its string (``false``: missing), its bit in ``BASE .. 'on'``}, in the order first
#: given, then the bitmap's end mark -- read at once, so a concurrent add or removal
#: (which changes ``ids``, ``dg`` and ``k:n:`` in one call) cannot look like damage
#: (:meth:`~dedup.storage.redis.named.Named._named`).
NAMES = r"""#!lua flags=no-writes
local k, base, n = ARGV[1], ARGV[1] .. ARGV[2], tonumber(ARGV[3])
local out, seen, absent = {}, {}, {}
for i = 0, n - 1 do
  local id = ARGV[4 + 2 * i]
  local row = redis.call('HGET', k .. 'ids', id)
  out[#out + 1] = row
  out[#out + 1] = redis.call('HGET', k .. 'dg', id)
  if not row then absent[#absent + 1] = i end
end
for _, i in ipairs(absent) do
  local shard = ARGV[5 + 2 * i]
  if not seen[shard] then
    seen[shard] = true
    out[#out + 1] = redis.call('GET', base .. shard)
    out[#out + 1] = redis.call('GETBIT', base .. 'on', tonumber(shard))
  end
end
out[#out + 1] = redis.call('GETBIT', base .. 'on', tonumber(ARGV[4 + 2 * n]))
return out
"""

#: ARGV: lock key, token, lease (ms).  Renews the lease if the lock is still ours (1), else 0.
RENEW = r"""#!lua
if redis.call('GET', ARGV[1]) == ARGV[2] then return redis.call('PEXPIRE', ARGV[1], tonumber(ARGV[3])) end
return 0
"""

#: Lua helper: ``claimed()`` -- the DEDUPCLAIM error when the compaction's claim (key
#: ARGV[9], token ARGV[10]) is not the caller's any more, else nil.
_CLAIMED = r"""
local function claimed()
  if redis.call('GET', ARGV[9]) ~= ARGV[10] then
    return redis.error_reply('DEDUPCLAIM its claim on the bucket log ran out (another compaction may have begun)')
  end
end
"""

#: The writes of a compaction's new log (:mod:`.compact`), fenced by the claim as a
#: writer's are by the lock: ARGV: key prefix, the generation compacted ('' before the
#: first), the new log's key, '1' to delete it first (what a compaction that died
#: left), 5-8 unused, claim key, claim token, then the entries.  Refuses (DEDUPCLAIM,
#: nothing written) unless the claim is the caller's, ``log:gen`` is still the
#: generation compacted and the new log has no count: a log is live from the moment
#: :data:`SWITCH` sets its count, and a compaction that went on from a stale
#: generation, or stalled past its claim, deleted and appended to the live log
#: (reviewer's R1, session 13).
NEW_LOG = r"""#!lua
""" + _CLAIMED + r"""
local lost = claimed()
if lost then return lost end
if (redis.call('GET', ARGV[1] .. 'log:gen') or '') ~= ARGV[2] or redis.call('EXISTS', ARGV[3] .. ':n') == 1 then
  return redis.error_reply('DEDUPCLAIM the bucket log was compacted by another worker meanwhile')
end
if ARGV[4] == '1' then redis.call('DEL', ARGV[3]) end
for i = 11, #ARGV do redis.call('XADD', ARGV[3], '*', 'v', ARGV[i]) end
return 1
"""

#: The switch to a compacted bucket log (:mod:`.compact`).  ARGV: lock key, token, key
#: prefix, the generation compacted ('' before the first), the entries it held, the new
#: generation, the entries of its log (written already), the old log's lifetime (ms),
#: claim key, claim token.  Sets the new log's count and ``log:gen`` unless the lock or
#: the claim was lost or the old log changed; the old log and its count expire (readers
#: that began on it finish).  It
#: also sets ``logG:from``: the old log's count, the id of the new log's last entry and
#: its count, and a checksum -- a worker that held the whole old log holds what the new
#: one holds up to that entry, and goes on from there (:meth:`RedisStorage._switch_to`).
SWITCH = r"""#!lua
""" + _CLAIMED + r"""
if redis.call('GET', ARGV[1]) ~= ARGV[2] then
  return redis.error_reply('DEDUPLOCK the write lock was lost (its lease expired)')
end
local lost = claimed()
if lost then return lost end
local k = ARGV[3]
local old = k .. 'log' .. ARGV[4]
if (redis.call('GET', k .. 'log:gen') or '') ~= ARGV[4] or redis.call('GET', old .. ':n') ~= ARGV[5] then
  return redis.error_reply('DEDUPLOCK the bucket log changed while it was compacted; nothing was switched')
end
local new = k .. 'log' .. ARGV[6]
redis.call('SET', new .. ':n', ARGV[7])
redis.call('SET', k .. 'log:gen', ARGV[6])
local body = ARGV[5] .. ' ' .. redis.call('XREVRANGE', new, '+', '-', 'COUNT', 1)[1][1] .. ' ' .. ARGV[7]
redis.call('SET', new .. ':from', body .. ' ' .. string.sub(redis.sha1hex('from ' .. ARGV[6] .. ' ' .. body), 1, 16))
redis.call('PEXPIRE', old, tonumber(ARGV[8]))
redis.call('PEXPIRE', old .. ':n', tonumber(ARGV[8]))
return 1
"""

#: ARGV: key prefix.  {HLEN ids, n:d (-1 when missing), n:p (sealed; ``false`` when
#: missing)} read at once.
COUNTS = r"""#!lua flags=no-writes
return {redis.call('HLEN', ARGV[1] .. 'ids'), tonumber(redis.call('GET', ARGV[1] .. 'n:d') or -1),
        redis.call('GET', ARGV[1] .. 'n:p')}
"""

#: ARGV: lock key, token.  Deletes the lock only if it is still ours.
RELEASE = r"""#!lua
if redis.call('GET', ARGV[1]) == ARGV[2] then return redis.call('DEL', ARGV[1]) end
return 0
"""

#: ARGV: key prefix ("PREFIX:"), M, M pairs (shard kind "k:p:", its shard count: the
#: end mark, a bit set past the last shard's in the kind's presence bitmap, so a bitmap
#: deleted with all its shards is damage too), then the meta hash's field/value pairs.  Writes them,
#: and the counts that must exist from the start (``log:n``, ``judged``), only if the
#: hash does not exist (the first creator wins); returns the hash's content either way.
#: A DEDUPDAMAGE error, nothing written, when the hash is missing but keys an index
#: creates (its counts, its ids, its log) exist: re-created there, a new meta hash reset
#: the counts and could carry other settings over the stored rows.
CREATE = r"""#!lua
local sub = string.sub
""" + _JUDGED + r"""
local k, marks = ARGV[1], tonumber(ARGV[2])
if redis.call('EXISTS', k .. 'meta') == 0 then
  if redis.call('EXISTS', k .. 'log:n', k .. 'n:d', k .. 'judged', k .. 'ids', k .. 'log', k .. 'seq:d',
                k .. 'log:gen') > 0 then
    return redis.error_reply('DEDUPDAMAGE the meta hash (' .. k .. 'meta) is missing while the index\'s ' ..
                             'other keys exist; nothing was written')
  end
  for i = 3, 2 + 2 * marks, 2 do redis.call('SETBIT', k .. ARGV[i] .. 'on', tonumber(ARGV[i + 1]), 1) end
  for i = 3 + 2 * marks, #ARGV, 2 do redis.call('HSET', k .. 'meta', ARGV[i], ARGV[i + 1]) end
  redis.call('SET', k .. 'log:n', 0)
  redis.call('SET', k .. 'n:d', 0)
  redis.call('SET', k .. 'judged', judged(0))
  redis.call('SET', k .. 'n:p', sealed('paragraphs', 0))
end
return redis.call('HGETALL', k .. 'meta')
"""
