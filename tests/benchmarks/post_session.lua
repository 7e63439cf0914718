-- wrk script: POST the same prebuilt multipart body (a try-on submission) again and again.
-- BODY_FILE is the body, CONTENT_TYPE its multipart content type (with the boundary).
wrk.method = "POST"
local f = assert(io.open(os.getenv("BODY_FILE"), "rb"))
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = os.getenv("CONTENT_TYPE")
