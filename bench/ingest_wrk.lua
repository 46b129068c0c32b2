-- wrk script for bench/ingest_vs_nginx.sh: posts original-format snapshots (DESIGN 3.1) of
-- 50 NPCs + 50 players for INGEST_GAMES games, round robin, so coalescing does no work.
--   INGEST_MIX=repeat  every game sends the same body each time
--   INGEST_MIX=walk    each game's snapshots cycle through 3 position sets 1-3 studs apart:
--                      everyone moves, and one member of every group of five steps in and
--                      out of its group's range, so each snapshot is real diff work
--   INGEST_NPCS=N      NPCs per game (a multiple of 5, default 50; the 50 players stay): runs
--                      that differ only in it give the marginal memory of one NPC
--                      (bench/ingest_rss.sh). The first 12 are the registry's NPCs, the rest
--                      Villager13.. ; groups of five are all NPCs or all players, as with 50.
-- The bodies are rendered once at start-up; a request only picks the next one.
local games = tonumber(os.getenv("INGEST_GAMES") or "64")
local mix = os.getenv("INGEST_MIX") or "repeat"
local npcs = tonumber(os.getenv("INGEST_NPCS") or "50")
if npcs % 5 ~= 0 or npcs < 0 then error("INGEST_NPCS must be a multiple of 5") end
local entities = npcs + 50
local registry = {"Pete", "Kaiden", "Goldie", "Oscar", "Noobster", "Marisol", "Bramble", "Ivy",
                  "Rex", "Luna", "Hank", "Tilly"}

local function entity(name, kind, id, x, y, z, group, variant)
  local moving = variant > 0 and "true" or "false"
  return string.format(
    '"%s":{"relationships":[],"currentGroups":{"members":[%s],"npcs":3,"players":2,' ..
    '"formed":1737874916},"recentInteractions":[{"timestamp":1737874917,"narrative":' ..
    '"Standing | in the vicinity of Chipotle | With %s"}],"lastSeen":1737874916,' ..
    '"position":{"x":%.3f,"y":%.3f,"z":%.3f},"location":"Unknown Area","kind":"%s","id":%s,' ..
    '"health":{"state":"Running","current":%d,"max":100,"velocity":%d,"isMoving":%s}}',
    name, group, name, x, y, z, kind, id, 60 + (#name * 7) % 41, variant, moving)
end

local function body(g, variant)
  local names = {}
  for i = 1, entities do
    if i <= 12 and i <= npcs then
      names[i] = registry[i]
    elseif i <= npcs then
      names[i] = string.format("Villager%02d", i)
    else
      -- With 50 NPCs, Player51_g..Player100_g as before.
      names[i] = string.format("Player%02d_%d", i - npcs + 50, g)
    end
  end
  local parts, clusters = {}, {}
  for grp = 0, entities / 5 - 1 do
    local members = {}
    for j = 1, 5 do members[j] = '"' .. names[grp * 5 + j] .. '"' end
    local list = table.concat(members, ",")
    clusters[#clusters + 1] = string.format('{"members":[%s],"npcs":3,"players":2}', list)
    local cx, cz = (grp % 5) * 30.0 - 60.0, math.floor(grp / 5) * 30.0 - 45.0
    for j = 1, 5 do
      local i = grp * 5 + j
      local x, z = cx + (j - 3), cz + (j % 2)
      if j == 5 then x = cx + 9 end
      if mix == "walk" then
        x = x + 1.5 * variant
        if j == 5 then x = x + 1.5 * variant end  -- 3 studs a step: 7, 10, 13 from its group
      end
      local kind, id = "npc", string.format('"npc-%d"', i)
      if i > npcs then kind, id = "player", tostring(1000000 + g * 100 + i - npcs + 50) end
      parts[#parts + 1] = entity(names[i], kind, id, x, 3.0, z, list, mix == "walk" and variant or 0)
    end
  end
  return string.format('{"gameId":"bench-%d","timestamp":1737874917,"events":[],"clusters":[%s],' ..
                       '"humanContext":{%s}}', g, table.concat(clusters, ","), table.concat(parts, ","))
end

local requests = {}
local next_request = 0

-- Per thread, once the target is known (wrk.format needs its Host header).
init = function(args)
  local variants = mix == "walk" and 3 or 1
  for v = 0, variants - 1 do
    for g = 1, games do
      requests[#requests + 1] = wrk.format("POST", "/letta/v1/snapshot/game",
                                           {["Content-Type"] = "application/json"}, body(g, v))
    end
  end
end

request = function()
  next_request = next_request % #requests + 1
  return requests[next_request]
end
