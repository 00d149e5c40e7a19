"""Seats offered to waiting callers the moment something changes: the queue's atomic steps in
Redis.

**Why a dispatcher in Redis.** Every change that can give a waiting caller a seat — a caller
joins, a seat is freed, a wrap-up or a rest ends, a seat resumes or logs in, a caller leaves
the head of the line — runs one Lua script that makes the change *and then serves the lines
concerned*: the caller whose turn it is (the first one in the line not already ringing a
seat) is given the longest-idle free seat of its queue that it has not tried in this round,
then the next caller, and so on, while seats last. Each offer is published to the
application process serving that caller (``hotline:offers:<app>``) inside the same script,
and returned to the process that ran it, which hands offers for its own callers straight to
their tasks. So the path from "seat free" to the INVITE never waits on a timer or a poll,
whichever process freed the seat, and Redis stays the one truth: no process keeps a line or
a seat in memory.

The rule (``queues.line``) and the longest-idle choice are exactly those of the claim this
replaces; only who runs it changed (whoever changed something, instead of every waiting
caller twice a second). A seat is reserved for one caller at a time (busy hash), so no seat
rings for two calls and no caller jumps the line.

A published offer can be missed (the owner was reconnecting to Redis): each process looks
for reservations made for its callers that it never acted on when it (re)subscribes, and a
slow sweep serves every line now and then in case a wrap-up ended while its process was
gone; neither is on the normal path.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from redis.asyncio import Redis

from core import keys


@dataclass(frozen=True)
class Offer:
    """A seat reserved for a caller: ring it."""

    queue: str
    caller: str
    seat: str
    owner: str
    """The application process serving the caller."""


def lua_key(name: str, key: Callable[..., str], *params: str) -> str:
    """A Lua function ``name(params)`` building the same key as ``key`` in
    :mod:`core.keys`, so that key names are written in one place only."""
    marks = [f"\0{i}\0" for i in range(len(params))]
    pieces = [piece for piece in re.split("(\0\\d+\0)", key(*marks)) if piece]
    body = " .. ".join(
        params[int(piece[1:-1])] if piece.startswith("\0") else f"'{piece}'" for piece in pieces
    )
    return f"local function {name}({', '.join(params)}) return {body} end"


LIBRARY = f"""
{lua_key("waiting", keys.line_waiting, "queue")}
{lua_key("ringing", keys.line_ringing, "queue")}
{lua_key("owners", keys.line_owners, "queue")}
{lua_key("queue_seats", keys.queue_seats, "queue")}
{lua_key("offers_channel", keys.offers, "app")}
{lua_key("tried", keys.line_tried, "queue", "caller")}
local IDLE, BUSY = '{keys.SEATS_IDLE}', '{keys.SEATS_BUSY}'
local PAUSED, RESTING = '{keys.SEATS_PAUSED}', '{keys.SEATS_RESTING}'
local SEAT_QUEUES = '{keys.SEAT_QUEUES}'

-- a seat that may be offered now: of the queue, free, not paused, not resting
local function offerable(queue, seat, now)
  return redis.call('SISMEMBER', queue_seats(queue), seat) == 1
     and redis.call('ZSCORE', IDLE, seat)
     and redis.call('HEXISTS', BUSY, seat) == 0
     and redis.call('HEXISTS', PAUSED, seat) == 0
     and (tonumber(redis.call('ZSCORE', RESTING, seat)) or 0) <= now
end

-- reserve a seat for a caller and say so to the process serving it
local function offer(queue, caller, seat, owner, me, out)
  redis.call('ZREM', IDLE, seat)
  redis.call('HSET', BUSY, seat, caller)
  redis.call('HSET', ringing(queue), caller, seat)
  redis.call('SADD', tried(queue, caller), seat)
  redis.call('EXPIRE', tried(queue, caller), 86400)
  if owner ~= me then
    redis.call('PUBLISH', offers_channel(owner), queue .. ' ' .. caller .. ' ' .. seat)
  end
  table.insert(out, queue)
  table.insert(out, caller)
  table.insert(out, seat)
  table.insert(out, owner)
end

-- serve one queue's line: its callers in turn get the longest-idle free seats
local function serve(queue, now, me, out)
  local free = nil
  for _, caller in ipairs(redis.call('ZRANGE', waiting(queue), 0, -1)) do
    if redis.call('HEXISTS', ringing(queue), caller) == 0 then
      local owner = redis.call('HGET', owners(queue), caller)
      if owner then
        if free == nil then
          free = {{}}
          for _, seat in ipairs(redis.call('ZRANGE', IDLE, 0, -1)) do
            if offerable(queue, seat, now) then table.insert(free, seat) end
          end
        end
        local tried_key = tried(queue, caller)
        local any_tried = redis.call('EXISTS', tried_key) == 1
        local chosen = nil
        for i, seat in ipairs(free) do
          if seat and (not any_tried or redis.call('SISMEMBER', tried_key, seat) == 0) then
            chosen = seat
            free[i] = false
            break
          end
        end
        if not chosen then return end  -- only the caller whose turn it is may have a seat
        offer(queue, caller, chosen, owner, me, out)
      end
    end
  end
end

local function serve_seat_queues(seat, now, me, out)
  local names = redis.call('HGET', SEAT_QUEUES, seat)
  if names then
    for queue in string.gmatch(names, '[^,]+') do serve(queue, now, me, out) end
  end
end

-- free a seat held by a call; it rests until rest_until, or is paused for a reason
local function release(seat, call, now, rest_until, reason)
  if redis.call('HGET', BUSY, seat) ~= call then return false end
  redis.call('HDEL', BUSY, seat)
  redis.call('ZADD', IDLE, now, seat)
  if rest_until > now then redis.call('ZADD', RESTING, rest_until, seat) end
  if reason ~= '' then redis.call('HSET', PAUSED, seat, reason) end
  return true
end
"""

# ARGV: queue, caller, effective arrival, owner, now, me, preferred seat  →  {rank, offers...}
# The preferred seat (a call the hotline cut, called back with the seat it had) goes to the
# caller at once if it is free, ahead of the line's turn; otherwise the caller waits its turn.
JOIN = (
    LIBRARY
    + """
local queue, caller, score, owner = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local now, me, prefer = tonumber(ARGV[5]), ARGV[6], ARGV[7]
redis.call('ZADD', waiting(queue), 'NX', score, caller)
redis.call('HSET', owners(queue), caller, owner)
local out = {}
if prefer ~= '' and redis.call('HEXISTS', ringing(queue), caller) == 0
   and offerable(queue, prefer, now) then
  offer(queue, caller, prefer, owner, me, out)
end
serve(queue, now, me, out)
local rank = redis.call('ZRANK', waiting(queue), caller)
table.insert(out, 1, rank or -1)
return out
"""
)

# ARGV: now, me, queue...  →  offers
SERVE = (
    LIBRARY
    + """
local now, me = tonumber(ARGV[1]), ARGV[2]
local out = {}
for i = 3, #ARGV do serve(ARGV[i], now, me, out) end
return out
"""
)

# ARGV: seat, call, now, rest_until, pause reason, me, queue of a caller still ringing it
#   →  {1 if released, offers...}
RELEASE = (
    LIBRARY
    + """
local seat, call = ARGV[1], ARGV[2]
local now, rest_until, reason, me = tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5], ARGV[6]
if ARGV[7] ~= '' then redis.call('HDEL', ringing(ARGV[7]), call) end
local released = release(seat, call, now, rest_until, reason)
local out = {}
serve_seat_queues(seat, now, me, out)
if ARGV[7] ~= '' then serve(ARGV[7], now, me, out) end
table.insert(out, 1, released and 1 or 0)
return out
"""
)

# ARGV: queue, caller  →  nothing (a seat answered: the caller is out of the line, the
# seat stays busy with it)
ANSWERED = (
    LIBRARY
    + """
local queue, caller = ARGV[1], ARGV[2]
redis.call('ZREM', waiting(queue), caller)
redis.call('HDEL', ringing(queue), caller)
redis.call('HDEL', owners(queue), caller)
redis.call('DEL', tried(queue, caller))
return 0
"""
)

# ARGV: queue, caller, now, me  →  offers (the caller is gone from the line; a seat
# reserved for it and not answered is free again)
LEAVE = (
    LIBRARY
    + """
local queue, caller, now, me = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local seat = redis.call('HGET', ringing(queue), caller)
redis.call('ZREM', waiting(queue), caller)
redis.call('HDEL', ringing(queue), caller)
redis.call('HDEL', owners(queue), caller)
redis.call('DEL', tried(queue, caller))
local out = {}
if seat and release(seat, caller, now, 0, '') then serve_seat_queues(seat, now, me, out) end
serve(queue, now, me, out)
return out
"""
)

# ARGV: queue, caller, now, me  →  offers (every seat had its turn: try them all again)
NEW_ROUND = (
    LIBRARY
    + """
local queue, caller, now, me = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
redis.call('DEL', tried(queue, caller))
local out = {}
serve(queue, now, me, out)
return out
"""
)

# ARGV: seat, now, me, reason ('' = resume)  →  offers
PAUSE = (
    LIBRARY
    + """
local seat, now, me, reason = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local out = {}
if reason == '' then
  redis.call('HDEL', PAUSED, seat)
  serve_seat_queues(seat, now, me, out)
else
  redis.call('HSET', PAUSED, seat, reason)
end
return out
"""
)

# ARGV: seat, now, me  →  offers (the seat's rest has ended: serve the queues it serves)
SERVE_SEAT = (
    LIBRARY
    + """
local seat, now, me = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local out = {}
serve_seat_queues(seat, now, me, out)
return out
"""
)


# ARGV: seat, call  →  1 if the seat was free and is now held for the call (nothing served)
HOLD = (
    LIBRARY
    + """
local seat, call = ARGV[1], ARGV[2]
if redis.call('HEXISTS', BUSY, seat) == 1 then return 0 end
redis.call('HSET', BUSY, seat, call)
redis.call('ZREM', IDLE, seat)
return 1
"""
)

HAND_OVER = (
    LIBRARY
    + """
local seat, call, holder = ARGV[1], ARGV[2], ARGV[3]
if redis.call('HGET', BUSY, seat) ~= call then return 0 end
redis.call('HSET', BUSY, seat, holder)
return 1
"""
)


class Scripts:
    """The queue's scripts, registered with one Redis client (each call is one round trip)."""

    def __init__(self, redis: Redis) -> None:
        self.join = redis.register_script(JOIN)
        self.serve = redis.register_script(SERVE)
        self.release = redis.register_script(RELEASE)
        self.answered = redis.register_script(ANSWERED)
        self.leave = redis.register_script(LEAVE)
        self.new_round = redis.register_script(NEW_ROUND)
        self.pause = redis.register_script(PAUSE)
        self.serve_seat = redis.register_script(SERVE_SEAT)
        self.hold = redis.register_script(HOLD)
        self.hand_over = redis.register_script(HAND_OVER)


def offers_from(reply: Sequence[object]) -> list[Offer]:
    """The offers a script returned (flat: queue, caller, seat, owner, ...)."""
    flat = [_text(item) for item in reply]
    return [Offer(*flat[i : i + 4]) for i in range(0, len(flat) - 3, 4)]


def moment(now: float) -> str:
    """A moment as a script argument."""
    return f"{now:.6f}"


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
