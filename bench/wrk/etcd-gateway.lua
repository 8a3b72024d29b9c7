-- etcd's JSON gateway (etcd 3.4: /v3/ on the client port), the reads and writes
-- kvs makes of etcd, sent to etcd directly. Keys and values travel in base64.
--   OP=range: POST /v3/kv/range {"key":<ETCD_KEY_PREFIX><i>} for a random i below $KEYS
--   OP=put:   POST /v3/kv/put {"key":<ETCD_KEY_PREFIX><run>-<n>, "value":100 bytes}, a fresh key per request
local op = os.getenv("OP") or "range"
local keys = tonumber(os.getenv("KEYS") or "1000")
local prefix = os.getenv("ETCD_KEY_PREFIX") or "bench/k/bench/k"
local run = os.getenv("RUN_ID") or tostring(os.time())
local headers = { ["Content-Type"] = "application/json" }

local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function base64(text)
  local out = {}
  for i = 1, #text, 3 do
    local a, b, c = text:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local function digit(shift)
      local d = math.floor(n / shift) % 64
      return alphabet:sub(d + 1, d + 1)
    end
    out[#out + 1] = digit(262144) .. digit(4096) .. (b and digit(64) or "=") .. (c and digit(1) or "=")
  end
  return table.concat(out)
end

local value = base64(string.rep("v", 100))
local ranges = {}
local n = 0
math.randomseed(os.time())

request = function()
  if op == "put" then
    n = n + 1
    return wrk.format("POST", "/v3/kv/put", headers, '{"key":"' .. base64(prefix .. run .. "-" .. n) .. '","value":"' .. value .. '"}')
  end
  local i = math.random(0, keys - 1)
  local formatted = ranges[i]
  if formatted == nil then
    formatted = wrk.format("POST", "/v3/kv/range", headers, '{"key":"' .. base64(prefix .. i) .. '"}')
    ranges[i] = formatted
  end
  return formatted
end
