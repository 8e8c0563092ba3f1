-- wrk script: send-otp to a fresh address on every request, so that no request
-- is throttled by the per-address limits. Prints one CSV line when done:
-- requests,errors,p50_ms,p99_ms,p999_ms,seconds
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local counter = 0
local headers = { ["Content-Type"] = "application/json" }

function request()
  counter = counter + 1
  local body = string.format(
    '{"email":"bench-%d-%d-%d@example.com","user_type":"live"}',
    thread_id, counter, math.random(1000000000))
  return wrk.format("POST", "/api/v1/users/signup/send-otp", headers, body)
end

function done(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format("RESULT %d,%d,%.2f,%.2f,%.2f,%.1f\n",
    summary.requests, errors,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency:percentile(99.9) / 1000, summary.duration / 1e6))
end
