-- wrk script: send-otp (ENDPOINT=send) or verify-otp with a wrong code
-- (ENDPOINT=verify) to the addresses of one case (CASE=new|inactive|active),
-- cycling through ACCOUNTS of them. Prints one CSV line like send_otp.lua.
local case = os.getenv("CASE") or "new"
local endpoint = os.getenv("ENDPOINT") or "send"
local accounts = tonumber(os.getenv("ACCOUNTS") or "200")
local counter = 0
local headers = { ["Content-Type"] = "application/json" }

function request()
  counter = counter + 1
  local email = string.format("%s-%d@example.com", case, counter % accounts)
  if endpoint == "verify" then
    local body = string.format('{"email":"%s","user_type":"live","otp_code":"000000"}', email)
    return wrk.format("POST", "/api/v1/users/signup/verify-otp", headers, body)
  end
  local body = string.format('{"email":"%s","user_type":"live"}', email)
  return wrk.format("POST", "/api/v1/users/signup/send-otp", headers, body)
end

function done(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format("RESULT %d,%d,%.3f,%.3f,%.3f,%.1f\n",
    summary.requests, errors,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    latency:percentile(99.9) / 1000, summary.duration / 1e6))
end
