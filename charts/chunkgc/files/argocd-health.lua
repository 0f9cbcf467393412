-- Argo CD health check of chunkgc.io/GarbageCollection (argocd-cm key
-- resource.customizations.health.chunkgc.io_GarbageCollection). Plain Lua 5.1, as Argo CD's gopher-lua runs it.
-- Healthy: the spec is accepted and the latest run did not fail. A run in progress is not "Progressing" (a schedule
-- may keep one running for hours); a run whose pod cannot start, an invalid spec or repeated failures are Degraded.
local hs = { status = "Progressing", message = "waiting for the operator" }

local function condition(conditions, kind)
  if conditions == nil then return nil end
  for _, c in ipairs(conditions) do
    if c.type == kind then return c end
  end
  return nil
end

local status = obj.status
if status == nil or status.observedGeneration == nil then return hs end
if obj.metadata ~= nil and obj.metadata.generation ~= nil and status.observedGeneration < obj.metadata.generation then
  hs.message = "the operator has not acted on the latest spec yet"
  return hs
end

local conditions = status.conditions
local stalled = condition(conditions, "Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = stalled.reason .. ": " .. (stalled.message or "")
  return hs
end

-- Before Ready: a run that cannot start is the news even when it also keeps a claim Pending.
if status.activeRun ~= nil and status.activeRun.phase == "CannotStart" then
  local running = condition(conditions, "Running")
  hs.status = "Degraded"
  hs.message = "the run cannot start"
  if running ~= nil then hs.message = running.reason .. ": " .. (running.message or "") end
  return hs
end

local ready = condition(conditions, "Ready")
if ready == nil or ready.status == "Unknown" then return hs end
if ready.status == "False" then
  -- A claim that binds with the first run pod is on its way; anything else needs a fix.
  if ready.reason == "ClaimPending" then
    hs.status = "Progressing"
  else
    hs.status = "Degraded"
  end
  hs.message = ready.reason .. ": " .. (ready.message or "")
  return hs
end

local last = condition(conditions, "LastRunSucceeded")
if last ~= nil and last.status == "False" and last.reason ~= "LockBusy" and last.reason ~= "EngineLockBusy" then
  hs.status = "Degraded"
  hs.message = "latest run " .. last.reason .. ": " .. (last.message or "")
  return hs
end

if ready.reason == "Suspended" then
  hs.status = "Suspended"
  hs.message = "scheduled runs are suspended"
  return hs
end

hs.status = "Healthy"
if status.activeRun ~= nil then
  hs.message = "run " .. status.activeRun.jobName .. " in progress"
elseif status.nextScheduleTimeLocal ~= nil then
  hs.message = "next run " .. status.nextScheduleTimeLocal
else
  hs.message = "ready"
end
return hs
