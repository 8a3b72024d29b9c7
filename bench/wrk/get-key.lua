-- GET /v1/kv/bench/k<i> for a random i below $KEYS (default 1000).
local keys = tonumber(os.getenv("KEYS") or "1000")
local prefix = os.getenv("PATH_PREFIX") or "/v1/kv/bench/k"
math.randomseed(os.time())
request = function()
  return wrk.format("GET", prefix .. math.random(0, keys - 1))
end
