"""The Lua scripts the Redis backend runs server-side (each call is atomic).

Why scripts: a check looks up ~1,000 band keys; one script call answers them all in one
round trip, where a command per key would cost a round trip (or a pipeline's client-side
work) each -- datasketch's stock Redis storage spends one round trip per band per query.
A write is one script call per document, so a document is stored (or removed) whole
or not at all, and the call first checks that the caller still holds the write lock
(a lease can expire under a stalled writer; the check fences it out).

Multimaps ("key -> row ids"): a 64-bit key lives in shard hash ``BASE + (low 32 bits mod
SHARDS)`` under the field ``high 32 bits`` (4 bytes); the value is the row ids
(little-endian uint32) in the order they were added.  Small hashes are stored by Redis
as compact listpacks (~12 bytes per entry instead of ~70 for a key of its own).
"""

#: ARGV: base, shards, keys (u64 LE blob), limit (ids per key, 0: all), record base
#: ("" for none), sketch base ("" for none), sketch width, rows per sketch string.
#: Returns {hits, records, sketch ids, sketches}: ``hits`` the flat list key index
#: (0-based), ids (u32 blob, at most ``limit``); ``records`` the GET of record base .. id
#: for every id in hits (in hit order); ``sketch ids``/``sketches`` the unique ids and
#: their sketches, concatenated.
LOOKUP = r"""#!lua flags=no-writes
local base, shards, blob = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local limit, recbase, skbase = tonumber(ARGV[4]), ARGV[5], ARGV[6]
local width, per = tonumber(ARGV[7]), tonumber(ARGV[8])
local hits, records, seen, skids, sketches = {}, {}, {}, {}, {}
for i = 0, #blob / 8 - 1 do
  local lo = struct.unpack('<I4', blob, i * 8 + 1)
  local v = redis.call('HGET', base .. (lo % shards), string.sub(blob, i * 8 + 5, i * 8 + 8))
  if v then
    if limit > 0 and #v > limit * 4 then v = string.sub(v, 1, limit * 4) end
    hits[#hits + 1] = i
    hits[#hits + 1] = v
    for j = 0, #v / 4 - 1 do
      local id = struct.unpack('<I4', v, j * 4 + 1)
      if recbase ~= '' then
        local r = redis.call('GET', recbase .. id)
        records[#records + 1] = r or ''
      end
      if skbase ~= '' and not seen[id] then
        seen[id] = true
        skids[#skids + 1] = string.sub(v, j * 4 + 1, j * 4 + 4)
        local at = (id % per) * width
        sketches[#sketches + 1] = redis.call('GETRANGE', skbase .. math.floor(id / per), at, at + width - 1)
      end
    end
  end
end
return {hits, records, table.concat(skids), table.concat(sketches)}
"""

#: ARGV: lock key, token, lease (ms), guard ("new": stop unless the field is absent,
#: "old": stop unless present, "": none), guard hash, guard field, then operations:
#: SET k v | HSET k f v | SETRANGE k offset v | DEL k | HDEL k f | INCRBY k n |
#: MADD base shards keys ids | MDEL base shards keys ids  (keys: u64 blob, ids: u32
#: blob, one id per key).  Returns 1 when applied, 0 when the guard stopped it.
APPLY = r"""#!lua
if redis.call('GET', ARGV[1]) ~= ARGV[2] then
  return redis.error_reply('DEDUPLOCK the write lock was lost (its lease expired)')
end
local present = ARGV[4] ~= '' and redis.call('HEXISTS', ARGV[5], ARGV[6]) == 1
if (ARGV[4] == 'new' and present) or (ARGV[4] == 'old' and not present) then return 0 end
redis.call('PEXPIRE', ARGV[1], ARGV[3])
local i = 7
while i <= #ARGV do
  local op = ARGV[i]
  if op == 'SET' then
    redis.call('SET', ARGV[i + 1], ARGV[i + 2]); i = i + 3
  elseif op == 'HSET' then
    redis.call('HSET', ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]); i = i + 4
  elseif op == 'SETRANGE' then
    redis.call('SETRANGE', ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3]); i = i + 4
  elseif op == 'DEL' then
    redis.call('DEL', ARGV[i + 1]); i = i + 2
  elseif op == 'HDEL' then
    redis.call('HDEL', ARGV[i + 1], ARGV[i + 2]); i = i + 3
  elseif op == 'INCRBY' then
    redis.call('INCRBY', ARGV[i + 1], tonumber(ARGV[i + 2])); i = i + 3
  elseif op == 'MADD' or op == 'MDEL' then
    local base, shards, keys, ids = ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3], ARGV[i + 4]
    for j = 0, #keys / 8 - 1 do
      local lo = struct.unpack('<I4', keys, j * 8 + 1)
      local k, f = base .. (lo % shards), string.sub(keys, j * 8 + 5, j * 8 + 8)
      local id = string.sub(ids, j * 4 + 1, j * 4 + 4)
      if op == 'MADD' then
        -- Most keys are new: one HSETNX; a shared key is appended to.
        if redis.call('HSETNX', k, f, id) == 0 then
          redis.call('HSET', k, f, redis.call('HGET', k, f) .. id)
        end
      else
        local v = redis.call('HGET', k, f)
        if v then
          local kept = {}
          for p = 1, #v, 4 do
            local one = string.sub(v, p, p + 3)
            if one ~= id then kept[#kept + 1] = one end
          end
          if #kept == 0 then redis.call('HDEL', k, f) else redis.call('HSET', k, f, table.concat(kept)) end
        end
      end
    end
    i = i + 5
  else
    return redis.error_reply('DEDUPBUG unknown operation ' .. tostring(op))
  end
end
return 1
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
