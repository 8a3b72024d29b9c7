-- POST /put {"key":"seed/<run>-<n>","value":"<100 v>"}: the seed's write, a fresh key per request.
local run = os.getenv("RUN_ID") or tostring(os.time())
local value = string.rep("v", 100)
local headers = { ["Content-Type"] = "application/json" }
local n = 0
request = function()
  n = n + 1
  return wrk.format("POST", "/put", headers, '{"key":"seed/' .. run .. "-" .. n .. '","value":"' .. value .. '"}')
end
