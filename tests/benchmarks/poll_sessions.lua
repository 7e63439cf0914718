-- wrk script: GET the status of sessions picked at random from a list, as many open pages would.
-- PATHS_FILE holds one request path per line.
local paths = {}
for line in io.lines(os.getenv("PATHS_FILE")) do
  paths[#paths + 1] = line
end
math.randomseed(7)
request = function()
  return wrk.format("GET", paths[math.random(#paths)])
end
