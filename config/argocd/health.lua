-- Argo CD health of a tenantward object (access.tenantward.io: Organization,
-- Workspace, Membership, APIKey, IntegrationPolicy), read from the conditions
-- the operator writes (api/v1alpha1/conditions.go, docs/gitops.md).
local hs = { status = "Progressing", message = "waiting for the operator" }
local st = obj.status
if st == nil then
  return hs
end
if st.observedGeneration ~= nil and st.observedGeneration ~= obj.metadata.generation then
  hs.message = "the operator has not reconciled generation " .. tostring(obj.metadata.generation) .. " yet"
  return hs
end
local cond = {}
for _, c in ipairs(st.conditions or {}) do
  cond[c.type] = c
end
local function say(c)
  return c.reason .. ": " .. (c.message or "")
end
if cond.Stalled ~= nil and cond.Stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = say(cond.Stalled)
elseif cond.Reconciling ~= nil and cond.Reconciling.status == "True" then
  hs.message = say(cond.Reconciling)
elseif cond.Ready ~= nil and cond.Ready.status == "True" then
  hs.status = "Healthy"
  hs.message = say(cond.Ready)
  if cond.Ready.reason == "Disabled" then
    hs.status = "Suspended"
  elseif cond.ExpiringSoon ~= nil and cond.ExpiringSoon.status == "True" then
    hs.message = say(cond.ExpiringSoon)
  end
elseif cond.Ready ~= nil then
  hs.message = say(cond.Ready)
end
return hs
