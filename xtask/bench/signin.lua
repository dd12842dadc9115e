-- A flood of sign-ins with a wrong password (each costs an argon2id hash).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"username":"bench@example.com","password":"not the password"}'
