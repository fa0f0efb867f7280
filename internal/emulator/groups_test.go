package emulator

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func groupNames(t *testing.T, h *harness, query string) []string {
	t.Helper()
	var list tList[wireGroup]
	h.call("app", "GET", "groups"+query, nil).ok(t, http.StatusOK, &list)
	names := []string{}
	for _, g := range list.Value {
		names = append(names, g.Name)
	}
	return names
}

func TestGetGroups(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	mine := []string{"Sales [Dev]", "Sales [Test]", "Sales [Prod]", "Shared", "Viewed", "O'Neil reports"}
	filter := func(f string) string { return "?$filter=" + url.QueryEscape(f) }
	tests := []struct {
		query string
		want  []string
	}{
		{"", mine},
		{filter("name eq 'Sales [Test]'"), []string{"Sales [Test]"}},
		{filter("name eq 'sales [test]'"), []string{"Sales [Test]"}},
		{filter("name eq 'O''Neil reports'"), []string{"O'Neil reports"}},
		{filter("name eq 'Bob''s'"), []string{}},
		{filter("contains(name,'sales')"), []string{"Sales [Dev]", "Sales [Test]", "Sales [Prod]"}},
		{filter("name eq 'Shared' or contains(name, 'Prod')"), []string{"Sales [Prod]", "Shared"}},
		{filter("contains(name,'Sales') and not (name ne 'Sales [Dev]')"), []string{"Sales [Dev]"}},
		{filter("isOnDedicatedCapacity eq false"), []string{"Shared"}},
		{filter("id eq '" + tWsProd + "'"), []string{"Sales [Prod]"}},
		{"?$top=2", mine[:2]},
		{"?$top=2&$skip=5", mine[5:]},
		{"?$skip=10", []string{}},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, groupNames(t, h, tt.query), tt.query)
	}
	for _, bad := range []string{"name eq", "name eq 'x", "size gt 3", "name eq 'a' xor name eq 'b'", "contains(name)"} {
		h.call("app", "GET", "groups"+filter(bad), nil).fails(t, http.StatusBadRequest, "InvalidRequest")
	}

	var list tList[wireGroup]
	h.call("app", "GET", "groups"+filter("name eq 'Shared' or name eq 'Sales [Dev]'"), nil).ok(t, http.StatusOK, &list)
	assert.Equal(t, []wireGroup{
		{ID: tWsDev, Name: "Sales [Dev]", IsOnDedicatedCapacity: true, CapacityID: tCapOpen},
		{ID: tWsNoCap, Name: "Shared"},
	}, list.Value)
	assert.Equal(t, h.srv.URL+"/v1.0/myorg/$metadata#groups", list.Context)
}

func TestCreateGetDeleteGroup(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var g wireGroup
	h.call("app", "POST", "groups?workspaceV2=true", map[string]any{"name": "Finance"}).ok(t, http.StatusOK, &g)
	assert.Regexp(t, uuidRE, g.ID)
	assert.Equal(t, wireGroup{ID: g.ID, Name: "Finance"}, g)
	h.call("app", "POST", "groups", map[string]any{"name": "FINANCE"}).fails(t, http.StatusBadRequest, "PowerBIEntityAlreadyExists")
	h.call(tBob, "POST", "groups", map[string]any{"name": "sales [dev]"}).fails(t, http.StatusBadRequest, "PowerBIEntityAlreadyExists")

	var got wireGroup
	h.call("app", "GET", "groups/"+g.ID, nil).ok(t, http.StatusOK, &got)
	assert.Equal(t, g, got)
	var users tList[wireGroupUser]
	h.call("app", "GET", "groups/"+g.ID+"/users", nil).ok(t, http.StatusOK, &users)
	assert.Equal(t, []wireGroupUser{{Identifier: tAppOID, PrincipalType: "App", GroupUserAccessRight: "Admin", DisplayName: "deployer"}}, users.Value)

	h.call(tBob, "GET", "groups/"+g.ID, nil).fails(t, http.StatusNotFound, "PowerBIEntityNotFound")
	h.call("app", "GET", "groups/"+tUnknownID, nil).fails(t, http.StatusNotFound, "PowerBIEntityNotFound")
	h.call("app", "DELETE", "groups/"+tWsViewer, nil).fails(t, http.StatusUnauthorized, "PowerBINotAuthorizedException")

	h.call("app", "DELETE", "groups/"+g.ID, nil).ok(t, http.StatusOK, nil)
	h.call("app", "GET", "groups/"+g.ID, nil).fails(t, http.StatusNotFound, "PowerBIEntityNotFound")

	// A workspace in a pipeline leaves its stage when deleted.
	h.call("app", "DELETE", "groups/"+tWsTest, nil).ok(t, http.StatusOK, nil)
	var stages tList[wireStage]
	h.call("app", "GET", "pipelines/"+tPlMain+"/stages", nil).ok(t, http.StatusOK, &stages)
	assert.Equal(t, wireStage{Order: 1}, stages.Value[1])
}

func TestCreateGroupValidation(t *testing.T) {
	t.Parallel()
	h := newHarness(t, noValidation)
	h.call("app", "POST", "groups", map[string]any{"name": " "}).fails(t, http.StatusBadRequest, "InvalidRequest")
	h.call("app", "POST", "groups?workspaceV2=false", map[string]any{"name": "x"}).fails(t, http.StatusBadRequest, "InvalidRequest")
}

func TestGroupUsers(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	path := "groups/" + tWsProd + "/users"
	user := func(id, typ, right string) map[string]any {
		return map[string]any{"identifier": id, "principalType": typ, "groupUserAccessRight": right}
	}
	h.call("app", "POST", path, user(tAlice, "User", "Member")).ok(t, http.StatusOK, nil)
	h.call("app", "POST", path, user("ALICE@contoso.com", "User", "Viewer")).fails(t, http.StatusBadRequest, "AddingAlreadyExistsGroupUserNotSupportedError")
	h.call("app", "POST", path, user("ghost@contoso.com", "User", "Viewer")).fails(t, http.StatusBadRequest, "PrincipalNotFound")
	h.call("app", "POST", path, user(tGroupOID, "Group", "Contributor")).ok(t, http.StatusOK, nil)
	h.call("app", "POST", path, map[string]any{"emailAddress": tBob, "groupUserAccessRight": "Viewer", "identifier": tBob, "principalType": "User"}).ok(t, http.StatusOK, nil)

	h.call("app", "PUT", path, user(tAlice, "User", "Contributor")).ok(t, http.StatusOK, nil)
	h.call("app", "PUT", path, user(tOtherOID, "App", "Viewer")).fails(t, http.StatusBadRequest, "GroupUserNotFound")

	// A Contributor cannot manage roles; a Member cannot grant Admin.
	h.call(tAlice, "POST", path, user(tOtherOID, "App", "Viewer")).fails(t, http.StatusUnauthorized, "PowerBINotAuthorizedException")
	h.call("app", "PUT", path, user(tAlice, "User", "Member")).ok(t, http.StatusOK, nil)
	h.call(tAlice, "POST", path, user(tOtherOID, "App", "Admin")).fails(t, http.StatusUnauthorized, "PowerBINotAuthorizedException")
	h.call(tAlice, "POST", path, user(tOtherOID, "App", "Viewer")).ok(t, http.StatusOK, nil)

	var users tList[wireGroupUser]
	h.call("app", "GET", path+"?$top=10", nil).ok(t, http.StatusOK, &users)
	rights := map[string]string{}
	for _, u := range users.Value {
		rights[u.Identifier] = u.GroupUserAccessRight
	}
	assert.Equal(t, map[string]string{tAppOID: "Admin", tAlice: "Member", tGroupOID: "Contributor", tBob: "Viewer", tOtherOID: "Viewer"}, rights)

	h.call("app", "DELETE", path+"/"+tBob, nil).ok(t, http.StatusOK, nil)
	h.call("app", "DELETE", path+"/"+tBob, nil).fails(t, http.StatusNotFound, "PowerBIEntityNotFound")
	h.call(tAlice, "DELETE", path+"/"+tAppOID, nil).fails(t, http.StatusUnauthorized, "PowerBINotAuthorizedException")
	h.call(tBob, "GET", "groups/"+tWsProd, nil).fails(t, http.StatusNotFound, "PowerBIEntityNotFound")
}

func TestGroupUsersLimit(t *testing.T) {
	t.Parallel()
	seed := testSeed()
	for i := len(seed.Workspaces[2].Users); i < maxWorkspacePrincipals; i++ {
		seed.Workspaces[2].Users = append(seed.Workspaces[2].Users, WorkspaceUser{Identifier: fmt.Sprintf("u%d@contoso.com", i), PrincipalType: "User", GroupUserAccessRight: "Viewer"})
	}
	h := newHarness(t, withSeed(seed))
	h.call("app", "POST", "groups/"+tWsProd+"/users", map[string]any{"identifier": tAlice, "principalType": "User", "groupUserAccessRight": "Viewer"}).
		fails(t, http.StatusBadRequest, "GroupUsersLimitExceeded")
}

func TestCapacities(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	type capacity struct {
		ID    string `json:"id"`
		Right string `json:"capacityUserAccessRight"`
		State string `json:"state"`
	}
	var caps tList[capacity]
	h.call("app", "GET", "capacities", nil).ok(t, http.StatusOK, &caps)
	assert.Equal(t, []capacity{{tCapOpen, "Assign", "Active"}}, caps.Value)
	h.call(tAlice, "GET", "capacities", nil).ok(t, http.StatusOK, &caps)
	assert.Equal(t, []capacity{{tCapOpen, "Assign", "Active"}, {tCapAlice, "Admin", "Active"}}, caps.Value)

	h.call("app", "POST", "groups/"+tWsNoCap+"/AssignToCapacity", map[string]any{"capacityId": tCapAlice}).fails(t, http.StatusUnauthorized, "PowerBINotAuthorizedException")
	h.call("app", "POST", "groups/"+tWsNoCap+"/AssignToCapacity", map[string]any{"capacityId": tUnknownID}).fails(t, http.StatusNotFound, "PowerBIEntityNotFound")
	h.call("app", "POST", "groups/"+tWsNoCap+"/assigntocapacity", map[string]any{"capacityId": tCapOpen}).ok(t, http.StatusOK, nil)
	assert.Equal(t, tCapOpen, h.workspace(tWsNoCap).CapacityID)
	// On a capacity, the workspace can join a pipeline.
	h.call("app", "POST", "pipelines/"+tPlMain+"/stages/2/assignWorkspace", map[string]any{"workspaceId": tWsNoCap}).ok(t, http.StatusOK, nil)
	h.call("app", "POST", "groups/"+tWsProd+"/AssignToCapacity", map[string]any{"capacityId": emptyGUID}).ok(t, http.StatusOK, nil)
	assert.Empty(t, h.workspace(tWsProd).CapacityID)
}

func TestItemLists(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	var reports tList[map[string]any]
	h.call("app", "GET", "groups/"+tWsDev+"/reports", nil).ok(t, http.StatusOK, &reports)
	require.Len(t, reports.Value, 2)
	assert.Equal(t, tRpSales, reports.Value[0]["id"])
	assert.Equal(t, "Sales", reports.Value[0]["name"])
	assert.Equal(t, tDsSales, reports.Value[0]["datasetId"])
	assert.Equal(t, "PowerBIReport", reports.Value[0]["reportType"])

	var datasets tList[map[string]any]
	h.call("app", "GET", "groups/"+tWsDev+"/datasets", nil).ok(t, http.StatusOK, &datasets)
	require.Len(t, datasets.Value, 2)
	assert.Equal(t, "Stock", datasets.Value[1]["name"])

	var dashboards tList[map[string]any]
	h.call("app", "GET", "groups/"+tWsDev+"/dashboards", nil).ok(t, http.StatusOK, &dashboards)
	require.Len(t, dashboards.Value, 1)
	assert.Equal(t, "Executive", dashboards.Value[0]["displayName"], "dashboards name themselves displayName")
	assert.NotContains(t, dashboards.Value[0], "name")

	var dataflows tList[map[string]any]
	h.call("app", "GET", "groups/"+tWsDev+"/dataflows", nil).ok(t, http.StatusOK, &dataflows)
	require.Len(t, dataflows.Value, 1)
	assert.Equal(t, tDfIngest, dataflows.Value[0]["objectId"], "dataflows name their id objectId")
	assert.NotContains(t, dataflows.Value[0], "id")

	h.call("app", "GET", "groups/"+tWsBob+"/reports", nil).fails(t, http.StatusNotFound, "PowerBIEntityNotFound")
	var empty tList[map[string]any]
	h.call("app", "GET", "groups/"+tWsProd+"/datasets", nil).ok(t, http.StatusOK, &empty)
	assert.NotNil(t, empty.Value)
	assert.Empty(t, empty.Value)
}
