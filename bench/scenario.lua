-- wrk script for bench/run.sh: one scenario per run, chosen by the first script
-- argument. Run it with one connection per wrk thread (-t N -c N): each thread
-- then waits for an answer before its next request, so a flow's verify always
-- follows its own send.
--
--   send          send-otp to a fresh address on every request
--   verify_wrong  verify-otp with a wrong code for a seeded address (a guesser)
--   flow          send-otp to a fresh address, then verify-otp with its code
--   activation    send-otp to a seeded inactive account, then verify-otp (activates it)
--   mixed         40% send, 20% verify of this thread's last send, 35% wrong
--                 guesses, 5% GET /health/ready
--
-- The service must be a build with the `deterministic-codes` feature (every code
-- is 123456). Arguments: SCENARIO RUN_ID SEEDED_ADDRESSES.
-- Prints: RESULT requests,errors,p50_ms,p99_ms,p999_ms,seconds
-- where errors counts transport errors and answers the scenario did not expect.

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("thread_id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local SEND = "/api/v1/users/signup/send-otp"
local VERIFY = "/api/v1/users/signup/verify-otp"
local CODE = "123456"
local WRONG = "000000"
local headers = { ["Content-Type"] = "application/json" }

local scenario, run, seeded
local counter = 0
local pending = nil   -- an address whose send was answered, not yet verified
local last_kind, last_address
local expect = 200
unexpected = 0        -- a global, so that done() can read it from each thread

function init(args)
  scenario = args[1]
  run = args[2] or "run"
  seeded = tonumber(args[3] or "1000")
  math.randomseed(os.time() * 1000 + thread_id)
end

local function send(email)
  expect = 200
  last_kind, last_address = "send", email
  return wrk.format("POST", SEND, headers,
    string.format('{"email":"%s","user_type":"live"}', email))
end

local function verify(email, code, status)
  expect = status
  last_kind, last_address = "verify", email
  return wrk.format("POST", VERIFY, headers,
    string.format('{"email":"%s","user_type":"live","otp_code":"%s"}', email, code))
end

local function fresh()
  counter = counter + 1
  return string.format("%s-%s-%d-%d@example.com", scenario, run, thread_id, counter)
end

local function guess()
  return verify(string.format("seed-%d@example.com", math.random(seeded)), WRONG, 400)
end

local function flow_step(next_address)
  if pending then
    return verify(pending, CODE, 200)
  end
  return send(next_address())
end

function request()
  if scenario == "send" then
    return send(fresh())
  elseif scenario == "verify_wrong" then
    return guess()
  elseif scenario == "flow" then
    return flow_step(fresh)
  elseif scenario == "activation" then
    return flow_step(function()
      counter = counter + 1
      return string.format("inactive-%d-%d@example.com", thread_id, counter)
    end)
  elseif scenario == "mixed" then
    local roll = math.random(100)
    if pending and roll <= 20 then
      return flow_step(fresh)
    elseif roll <= 60 then
      return send(fresh())
    elseif roll <= 95 then
      return guess()
    else
      expect = 200
      last_kind = "ready"
      return wrk.format("GET", "/health/ready")
    end
  end
  error("unknown scenario " .. tostring(scenario))
end

function response(status, response_headers, body)
  if status ~= expect then
    unexpected = unexpected + 1
  end
  if last_kind == "send" and status == 200 and scenario ~= "send" then
    pending = last_address
  elseif last_kind == "verify" and last_address == pending then
    pending = nil
  end
end

function done(summary, latency, requests)
  local total_unexpected = 0
  for _, thread in ipairs(threads) do
    total_unexpected = total_unexpected + (thread:get("unexpected") or 0)
  end
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout + total_unexpected
  io.write(string.format("RESULT %d,%d,%.3f,%.3f,%.3f,%.2f\n",
    summary.requests, errors,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency:percentile(99.9) / 1000, summary.duration / 1e6))
end
