-- PUT a fresh key per request: /v1/kv/put/<run>-<n>, 100-byte value.
local run = os.getenv("RUN_ID") or tostring(os.time())
local value = string.rep("v", 100)
local headers = { ["Content-Type"] = "application/octet-stream" }
local n = 0
request = function()
  n = n + 1
  return wrk.format("PUT", "/v1/kv/put/" .. run .. "-" .. n, headers, value)
end
