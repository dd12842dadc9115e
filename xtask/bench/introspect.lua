-- Token introspection under load: the same valid access token, over and over.
-- Environment: BENCH_TOKEN, BENCH_AUTH, BENCH_PATH, BENCH_ORIGIN (optional `Origin`).
wrk.method = "POST"
wrk.path = os.getenv("BENCH_PATH")
wrk.body = "token=" .. os.getenv("BENCH_TOKEN")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = os.getenv("BENCH_AUTH")
local origin = os.getenv("BENCH_ORIGIN")
if origin ~= nil and origin ~= "" then wrk.headers["Origin"] = origin end
