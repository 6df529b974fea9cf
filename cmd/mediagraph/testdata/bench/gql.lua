-- wrk script for the side-by-side benchmark (TestBenchPeer): POST a GraphQL
-- request body to GQL_PATH with a bearer token.
-- Env: TOKEN; GQL_PATH (/graphql, or /graphql/system for Directus); BODY_FILE
-- (a JSON body); IDS_FILE (optional: one id per line, request k uses the body
-- with $ID replaced by id k, round robin).
local function readall(p) local f = assert(io.open(p, "r")); local s = f:read("*a"); f:close(); return s end
local token = assert(os.getenv("TOKEN"), "TOKEN env required")
local path = os.getenv("GQL_PATH") or "/graphql"
local body = readall(assert(os.getenv("BODY_FILE"), "BODY_FILE env required")):gsub("%s+$", "")
local headers = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token }
local reqs = {}
function init(args)
  local idsfile = os.getenv("IDS_FILE")
  if idsfile and idsfile ~= "" then
    for id in io.lines(idsfile) do
      if #id > 0 then reqs[#reqs + 1] = wrk.format("POST", path, headers, (body:gsub("%$ID", id))) end
    end
  else
    reqs[1] = wrk.format("POST", path, headers, body)
  end
end
local n = 0
request = function() n = n + 1; return reqs[(n - 1) % #reqs + 1] end
