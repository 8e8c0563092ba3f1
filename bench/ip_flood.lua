-- Every request from another client network, as a trusted proxy on 127.0.0.1
-- reports it: a distinct IPv6 /64 in X-Forwarded-For. The body is refused (422)
-- after the per-IP quota has counted it, so the database is never touched.
-- FLOOD_REQUESTS in all over FLOOD_THREADS wrk threads (wrk -t), FLOOD_OFFSET to
-- start past an earlier flood's networks.
local total = tonumber(os.getenv("FLOOD_REQUESTS") or "100000")
local threads = tonumber(os.getenv("FLOOD_THREADS") or "2")
local offset = tonumber(os.getenv("FLOOD_OFFSET") or "0")
local next_id = 0
local per_thread = math.floor(total / threads)
local sent = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end

request = function()
  sent = sent + 1
  local n = offset + id * per_thread + sent
  wrk.headers["X-Forwarded-For"] =
    string.format("2001:db8:%x:%x::1", math.floor(n / 65536), n % 65536)
  wrk.headers["Content-Type"] = "application/json"
  return wrk.format("POST", "/api/v1/users/signup/verify-otp", nil, "{}")
end

response = function(status, headers, body)
  if sent >= per_thread then
    wrk.thread:stop()
  end
end
