-- wrk script: a mixed workload. Per request: 50% send-otp to a fresh address,
-- 40% verify-otp with a wrong code for one of this thread's addresses, 10%
-- /health/ready. 4xx answers are expected (wrong codes); 5xx and transport
-- errors are not. Prints one CSV line:
-- requests,errors,p50_ms,p99_ms,p999_ms,seconds,server_errors
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local counter = 0
server_errors = 0  -- a global, so that done() can read it from each thread
local headers = { ["Content-Type"] = "application/json" }

function init(args)
  math.randomseed(os.time() + thread_id)
end

function request()
  counter = counter + 1
  local roll = math.random(100)
  if roll <= 50 then
    return wrk.format("POST", "/api/v1/users/signup/send-otp", headers,
      string.format('{"email":"soak-%d-%d@example.com","user_type":"live"}', thread_id, counter))
  elseif roll <= 90 then
    return wrk.format("POST", "/api/v1/users/signup/verify-otp", headers,
      string.format('{"email":"soak-%d-%d@example.com","user_type":"live","otp_code":"000000"}',
        thread_id, math.random(math.max(counter, 1))))
  else
    return wrk.format("GET", "/health/ready")
  end
end

function response(status, headers, body)
  if status >= 500 then
    server_errors = server_errors + 1
  end
end

function done(summary, latency, requests)
  local total_server_errors = 0
  for _, thread in ipairs(threads) do
    total_server_errors = total_server_errors + (thread:get("server_errors") or 0)
  end
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout
  io.write(string.format("RESULT %d,%d,%.3f,%.3f,%.3f,%.1f,%d\n",
    summary.requests, errors,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency:percentile(99.9) / 1000, summary.duration / 1e6, total_server_errors))
end
