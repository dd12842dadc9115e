-- Refresh-token grant under load: every rotating refresh token is used exactly once.
-- Each thread gets its own slice of the seeded tokens; a response's new refresh token
-- goes back in the thread's queue. A reused or failed token counts as a non-2xx answer.
-- wrk builds a connection's next request before it passes on the previous response,
-- so the bench seeds two tokens per connection; an empty queue sends a dead token,
-- which shows up as errors.
-- Environment: BENCH_TOKENS (file, one token a line), BENCH_THREADS, BENCH_PATH,
-- BENCH_AUTH (Authorization header), BENCH_HOST, BENCH_ORIGIN (an `Origin` header, as a
-- browser app on a registered origin sends; optional), and BENCH_EXPECT: a field every answer
-- must carry (`id_token` for the OpenID Connect rows); an answer without it does not give
-- its token back, so the connection runs dry and the run shows errors.
local all = nil
local next_thread = 0

function setup(thread)
  if all == nil then
    all = {}
    for line in io.lines(os.getenv("BENCH_TOKENS")) do
      if #line > 0 then table.insert(all, line) end
    end
  end
  local n = tonumber(os.getenv("BENCH_THREADS"))
  local mine = {}
  for k = 1, #all do
    if (k - 1) % n == next_thread then table.insert(mine, all[k]) end
  end
  thread:set("tokens", table.concat(mine, " "))
  next_thread = next_thread + 1
end

function init(args)
  queue = {}
  for t in string.gmatch(tokens, "%S+") do table.insert(queue, t) end
  path = os.getenv("BENCH_PATH")
  expect = os.getenv("BENCH_EXPECT")
  headers = {
    ["Host"] = os.getenv("BENCH_HOST"),
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Authorization"] = os.getenv("BENCH_AUTH"),
  }
  local origin = os.getenv("BENCH_ORIGIN")
  if origin ~= nil and origin ~= "" then headers["Origin"] = origin end
end

function request()
  local t = table.remove(queue, 1)
  if t == nil then t = "exhausted" end
  return wrk.format("POST", path, headers, "grant_type=refresh_token&refresh_token=" .. t)
end

function response(status, hdrs, body)
  if status == 200 then
    local t = string.match(body, '"refresh_token"%s*:%s*"([^"]+)"')
    local complete = expect == nil or expect == "" or string.find(body, '"' .. expect .. '"', 1, true)
    if t and complete then table.insert(queue, t) end
  end
end
