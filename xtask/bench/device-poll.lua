-- Devices polling the token endpoint (RFC 8628) at a fixed rate: every connection
-- waits BENCH_DELAY_MS between its polls and cycles through the device codes, so N
-- codes polled by C connections at D ms are each polled about every N*D/C ms.
-- Every answer is authorization_pending or slow_down (a 400): nobody allows them.
-- Environment: BENCH_CODES (file, one device code a line), BENCH_CLIENT_ID,
-- BENCH_DELAY_MS. (Each wrk thread has its own Lua state: the codes travel to it
-- through thread:set, as in refresh.lua.)
local all = nil

function setup(thread)
  if all == nil then
    all = {}
    for line in io.lines(os.getenv("BENCH_CODES")) do
      if #line > 0 then table.insert(all, line) end
    end
  end
  thread:set("codes_text", table.concat(all, " "))
end

function init(args)
  codes = {}
  for c in string.gmatch(codes_text, "%S+") do table.insert(codes, c) end
  i = math.random(#codes)
  client = os.getenv("BENCH_CLIENT_ID")
  pause = tonumber(os.getenv("BENCH_DELAY_MS"))
end

function delay()
  return pause
end

function request()
  i = i % #codes + 1
  return wrk.format("POST", nil, {["Content-Type"] = "application/x-www-form-urlencoded"},
    "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&client_id=" .. client ..
    "&device_code=" .. codes[i])
end
