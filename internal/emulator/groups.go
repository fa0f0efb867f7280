package emulator

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
)

const (
	maxWorkspacePrincipals = 1000
	emptyGUID              = "00000000-0000-0000-0000-000000000000"
)

type wireGroup struct {
	ID                    string `json:"id"`
	Name                  string `json:"name"`
	IsReadOnly            bool   `json:"isReadOnly"`
	IsOnDedicatedCapacity bool   `json:"isOnDedicatedCapacity"`
	CapacityID            string `json:"capacityId,omitempty"`
}

func wireGroupOf(ws *workspace) wireGroup {
	return wireGroup{ID: ws.id, Name: ws.name, IsOnDedicatedCapacity: ws.capacityID != "", CapacityID: ws.capacityID}
}

// visibleWorkspace finds a workspace where the caller has a role of at least min; workspaces
// the caller has no role in are hidden (404), a lower role is refused (401, as the service does).
func (s *Server) visibleWorkspace(c *call, min int) (*workspace, error) {
	id := c.params["groupId"]
	ws := s.st.workspace(id)
	if ws == nil || ws.role(c.p) == roleNone {
		return nil, notFound("Workspace", id)
	}
	if ws.role(c.p) < min {
		return nil, notAuthorized("this operation needs a higher role in workspace " + ws.id)
	}
	return ws, nil
}

// paging reads $top and $skip.
func paging(c *call, maxTop int) (top, skip int, err error) {
	top, skip = -1, 0
	if v := c.query.Get("$top"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || (maxTop > 0 && n > maxTop) {
			return 0, 0, badRequest("InvalidRequest", "$top %q is not valid", v)
		}
		top = n
	}
	if v := c.query.Get("$skip"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, 0, badRequest("InvalidRequest", "$skip %q is not valid", v)
		}
		skip = n
	}
	return top, skip, nil
}

func page[T any](list []T, top, skip int) []T {
	if skip >= len(list) {
		return []T{}
	}
	list = list[skip:]
	if top >= 0 && top < len(list) {
		list = list[:top]
	}
	return list
}

// Groups_GetGroups: the workspaces the caller has a role in, with $filter, $top and $skip.
func (s *Server) getGroups(c *call) (int, any, error) {
	top, skip, err := paging(c, 5000)
	if err != nil {
		return 0, nil, err
	}
	var keep func(*workspace) bool
	if f := c.query.Get("$filter"); strings.TrimSpace(f) != "" {
		if keep, err = parseGroupFilter(f); err != nil {
			return 0, nil, badRequest("InvalidRequest", "$filter %q: %v", f, err)
		}
	}
	out := []wireGroup{}
	for _, ws := range s.st.workspaces {
		if ws.role(c.p) == roleNone || (keep != nil && !keep(ws)) {
			continue
		}
		out = append(out, wireGroupOf(ws))
	}
	return http.StatusOK, s.list("groups", page(out, top, skip)), nil
}

// Groups_CreateGroup: 200 with the group; the caller becomes its Admin. Names are unique in
// the tenant, case-insensitively (the service answers PowerBIEntityAlreadyExists).
func (s *Server) createGroup(c *call) (int, any, error) {
	if v := c.query.Get("workspaceV2"); v != "" && !strings.EqualFold(v, "true") {
		return 0, nil, badRequest("InvalidRequest", "workspaceV2 can only be true")
	}
	var req struct {
		Name string `json:"name"`
	}
	if err := decodeBody(c.body, &req); err != nil {
		return 0, nil, err
	}
	name := strings.TrimSpace(req.Name)
	if name == "" {
		return 0, nil, badRequest("InvalidRequest", "name is required")
	}
	if s.st.workspaceByName(name) != nil {
		return 0, nil, badRequest("PowerBIEntityAlreadyExists", "a workspace named %q already exists", name)
	}
	ws := &workspace{id: newUUID(), name: name,
		users: []WorkspaceUser{{Identifier: c.p.Identifier, PrincipalType: principalType(c.p), GroupUserAccessRight: "Admin"}}}
	s.st.workspaces = append(s.st.workspaces, ws)
	return http.StatusOK, withContext(s.URL, "groups/$entity", wireGroupOf(ws)), nil
}

// Groups_GetGroup
func (s *Server) getGroup(c *call) (int, any, error) {
	ws, err := s.visibleWorkspace(c, roleViewer)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, withContext(s.URL, "groups/$entity", wireGroupOf(ws)), nil
}

// Groups_UpdateGroup: renames (names stay unique).
func (s *Server) updateGroup(c *call) (int, any, error) {
	ws, err := s.visibleWorkspace(c, roleAdmin)
	if err != nil {
		return 0, nil, err
	}
	var req struct {
		Name *string `json:"name"`
	}
	if err := decodeBody(c.body, &req); err != nil {
		return 0, nil, err
	}
	if req.Name != nil {
		name := strings.TrimSpace(*req.Name)
		if name == "" {
			return 0, nil, badRequest("InvalidRequest", "name cannot be empty")
		}
		if other := s.st.workspaceByName(name); other != nil && other != ws {
			return 0, nil, badRequest("PowerBIEntityAlreadyExists", "a workspace named %q already exists", name)
		}
		ws.name = name
	}
	return http.StatusOK, nil, nil
}

// Groups_DeleteGroup: a workspace in a pipeline is unassigned first (refused during a deployment).
func (s *Server) deleteGroup(c *call) (int, any, error) {
	ws, err := s.visibleWorkspace(c, roleAdmin)
	if err != nil {
		return 0, nil, err
	}
	if pl, order := s.st.pipelineOf(ws.id); pl != nil {
		if err := s.st.checkIdle(pl, c.now); err != nil {
			return 0, nil, err
		}
		pl.unassign(order)
	}
	s.st.workspaces = slices.DeleteFunc(s.st.workspaces, func(w *workspace) bool { return w == ws })
	return http.StatusOK, nil, nil
}

type wireGroupUser struct {
	Identifier           string `json:"identifier,omitempty"`
	PrincipalType        string `json:"principalType,omitempty"`
	GroupUserAccessRight string `json:"groupUserAccessRight"`
	EmailAddress         string `json:"emailAddress,omitempty"`
	DisplayName          string `json:"displayName,omitempty"`
}

// Groups_GetGroupUsers
func (s *Server) getGroupUsers(c *call) (int, any, error) {
	ws, err := s.visibleWorkspace(c, roleViewer)
	if err != nil {
		return 0, nil, err
	}
	top, skip, err := paging(c, 0)
	if err != nil {
		return 0, nil, err
	}
	out := []wireGroupUser{}
	for _, u := range ws.users {
		wu := wireGroupUser{Identifier: u.Identifier, PrincipalType: u.PrincipalType, GroupUserAccessRight: u.GroupUserAccessRight}
		if p, ok := s.identity.ResolvePrincipal(u.Identifier, u.PrincipalType); ok {
			wu.DisplayName = p.DisplayName
		}
		if u.PrincipalType == "User" {
			wu.EmailAddress = u.Identifier
		}
		out = append(out, wu)
	}
	return http.StatusOK, s.list("groups/users", page(out, top, skip)), nil
}

// groupUserRequest reads a GroupUser body: identifier+principalType, or the legacy emailAddress.
func (s *Server) groupUserRequest(c *call) (WorkspaceUser, error) {
	var req wireGroupUser
	if err := decodeBody(c.body, &req); err != nil {
		return WorkspaceUser{}, err
	}
	id, typ := req.Identifier, req.PrincipalType
	if id == "" {
		id = req.EmailAddress
	}
	if typ == "" && req.EmailAddress != "" {
		typ = "User"
	}
	if strings.TrimSpace(id) == "" {
		return WorkspaceUser{}, badRequest("InvalidRequest", "identifier (or emailAddress) is required")
	}
	ctyp, ok := canonicalPrincipalType(typ)
	if !ok || ctyp == "None" {
		return WorkspaceUser{}, badRequest("InvalidRequest", "principalType %q is not supported; use User, Group or App", typ)
	}
	right := ""
	for _, r := range []string{"Admin", "Member", "Contributor", "Viewer"} {
		if strings.EqualFold(r, req.GroupUserAccessRight) {
			right = r
		}
	}
	if right == "" {
		return WorkspaceUser{}, badRequest("InvalidRequest", "groupUserAccessRight %q is not valid; use Admin, Member, Contributor or Viewer", req.GroupUserAccessRight)
	}
	who, ok := s.identity.ResolvePrincipal(id, ctyp)
	if !ok {
		return WorkspaceUser{}, principalNotFound(id, ctyp)
	}
	return WorkspaceUser{Identifier: who.Identifier, PrincipalType: ctyp, GroupUserAccessRight: right}, nil
}

// Groups_AddGroupUser: Admins add anyone, Members add non-Admins; an existing principal is
// refused (AddingAlreadyExistsGroupUserNotSupportedError); at most 1000 principals.
func (s *Server) addGroupUser(c *call) (int, any, error) {
	ws, err := s.visibleWorkspace(c, roleMember)
	if err != nil {
		return 0, nil, err
	}
	u, err := s.groupUserRequest(c)
	if err != nil {
		return 0, nil, err
	}
	if roleRank(u.GroupUserAccessRight) == roleAdmin && ws.role(c.p) < roleAdmin {
		return 0, nil, notAuthorized("only workspace Admins can add Admins")
	}
	if ws.user(u.Identifier) >= 0 {
		return 0, nil, badRequest("AddingAlreadyExistsGroupUserNotSupportedError",
			"%s already has a role in workspace %s; use PUT to change it", u.Identifier, ws.id)
	}
	if len(ws.users) >= maxWorkspacePrincipals {
		return 0, nil, badRequest("GroupUsersLimitExceeded", "workspace %s already has %d principals in its roles", ws.id, maxWorkspacePrincipals)
	}
	ws.users = append(ws.users, u)
	return http.StatusOK, nil, nil
}

// Groups_UpdateGroupUser: changes the role of a principal who already has one.
func (s *Server) updateGroupUser(c *call) (int, any, error) {
	ws, err := s.visibleWorkspace(c, roleMember)
	if err != nil {
		return 0, nil, err
	}
	u, err := s.groupUserRequest(c)
	if err != nil {
		return 0, nil, err
	}
	i := ws.user(u.Identifier)
	if i < 0 {
		return 0, nil, badRequest("GroupUserNotFound", "%s has no role in workspace %s; use POST to add it", u.Identifier, ws.id)
	}
	if (roleRank(u.GroupUserAccessRight) == roleAdmin || roleRank(ws.users[i].GroupUserAccessRight) == roleAdmin) && ws.role(c.p) < roleAdmin {
		return 0, nil, notAuthorized("only workspace Admins can grant or change the Admin role")
	}
	ws.users[i] = u
	return http.StatusOK, nil, nil
}

// Groups_DeleteUserInGroup
func (s *Server) deleteGroupUser(c *call) (int, any, error) {
	ws, err := s.visibleWorkspace(c, roleMember)
	if err != nil {
		return 0, nil, err
	}
	id := c.params["user"]
	i := ws.user(id)
	if i < 0 {
		return 0, nil, notFound("Workspace user", id)
	}
	if roleRank(ws.users[i].GroupUserAccessRight) == roleAdmin && ws.role(c.p) < roleAdmin {
		return 0, nil, notAuthorized("only workspace Admins can remove Admins")
	}
	ws.users = slices.Delete(ws.users, i, i+1)
	return http.StatusOK, nil, nil
}

// capacityRight is the caller's right on a capacity: Admin when listed in its admins, Assign
// when the capacity lists no admins (open to everyone), else None.
func capacityRight(cp *Capacity, p *Principal) string {
	for _, a := range cp.Admins {
		if p.matches(a) {
			return "Admin"
		}
	}
	if len(cp.Admins) == 0 {
		return "Assign"
	}
	return "None"
}

// Groups_AssignToCapacity: the empty GUID takes the workspace off its capacity.
func (s *Server) assignToCapacity(c *call) (int, any, error) {
	ws, err := s.visibleWorkspace(c, roleAdmin)
	if err != nil {
		return 0, nil, err
	}
	var req struct {
		CapacityID string `json:"capacityId"`
	}
	if err := decodeBody(c.body, &req); err != nil {
		return 0, nil, err
	}
	if req.CapacityID == "" {
		return 0, nil, badRequest("InvalidRequest", "capacityId is required")
	}
	if strings.EqualFold(req.CapacityID, emptyGUID) {
		ws.capacityID = ""
		return http.StatusOK, nil, nil
	}
	cp := s.st.capacity(req.CapacityID)
	if cp == nil {
		return 0, nil, notFound("Capacity", req.CapacityID)
	}
	if capacityRight(cp, c.p) == "None" {
		return 0, nil, notAuthorized("you have no assignment permission on capacity " + cp.ID)
	}
	ws.capacityID = cp.ID
	return http.StatusOK, nil, nil
}

// Groups_CapacityAssignmentStatus: assignments complete at once in the emulator.
func (s *Server) capacityAssignmentStatus(c *call) (int, any, error) {
	ws, err := s.visibleWorkspace(c, roleViewer)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, map[string]any{"status": "CompletedSuccessfully", "capacityId": ws.capacityID}, nil
}

// Capacities_GetCapacities: the capacities the caller can assign workspaces to.
func (s *Server) getCapacities(c *call) (int, any, error) {
	type wireCapacity struct {
		ID                      string   `json:"id"`
		DisplayName             string   `json:"displayName"`
		Admins                  []string `json:"admins"`
		SKU                     string   `json:"sku,omitempty"`
		State                   string   `json:"state"`
		CapacityUserAccessRight string   `json:"capacityUserAccessRight"`
		Region                  string   `json:"region,omitempty"`
	}
	out := []wireCapacity{}
	for i := range s.st.seed.Capacities {
		cp := &s.st.seed.Capacities[i]
		right := capacityRight(cp, c.p)
		if right == "None" {
			continue
		}
		state := cp.State
		if state == "" {
			state = "Active"
		}
		out = append(out, wireCapacity{ID: cp.ID, DisplayName: cp.DisplayName, Admins: append([]string{}, cp.Admins...),
			SKU: cp.SKU, State: state, CapacityUserAccessRight: right, Region: cp.Region})
	}
	return http.StatusOK, s.list("capacities", out), nil
}

func (s *Server) itemURL(ws *workspace, kind, id string) string {
	return s.URL + "/groups/" + ws.id + "/" + kind + "/" + id
}

// itemList serves one of the per-workspace item lists (Reports_GetReportsInGroup,
// Datasets_GetDatasetsInGroup, Dashboards_GetDashboardsInGroup, Dataflows_GetDataflows).
func itemList[T any](kind itemKind, entity string, wire func(*Server, *workspace, *item) T) handler {
	return func(s *Server, c *call) (int, any, error) {
		ws, err := s.visibleWorkspace(c, roleViewer)
		if err != nil {
			return 0, nil, err
		}
		out := []T{}
		for _, it := range ws.itemsOf(kind) {
			out = append(out, wire(s, ws, it))
		}
		return http.StatusOK, s.list(entity, out), nil
	}
}

type wireReport struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	ReportType string `json:"reportType"`
	DatasetID  string `json:"datasetId,omitempty"`
	WebURL     string `json:"webUrl"`
	EmbedURL   string `json:"embedUrl"`
}

func (s *Server) wireReport(ws *workspace, it *item) wireReport {
	return wireReport{ID: it.id, Name: it.name, ReportType: "PowerBIReport", DatasetID: it.datasetID,
		WebURL: s.itemURL(ws, "reports", it.id), EmbedURL: s.URL + "/reportEmbed?reportId=" + it.id + "&groupId=" + ws.id}
}

type wireDataset struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	WebURL        string `json:"webUrl"`
	IsRefreshable bool   `json:"isRefreshable"`
}

func (s *Server) wireDataset(ws *workspace, it *item) wireDataset {
	return wireDataset{ID: it.id, Name: it.name, WebURL: s.itemURL(ws, "datasets", it.id), IsRefreshable: true}
}

// wireDashboard: the name field is displayName.
type wireDashboard struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	IsReadOnly  bool   `json:"isReadOnly"`
	WebURL      string `json:"webUrl"`
	EmbedURL    string `json:"embedUrl"`
}

func (s *Server) wireDashboard(ws *workspace, it *item) wireDashboard {
	return wireDashboard{ID: it.id, DisplayName: it.name, WebURL: s.itemURL(ws, "dashboards", it.id),
		EmbedURL: s.URL + "/dashboardEmbed?dashboardId=" + it.id + "&groupId=" + ws.id}
}

// wireDataflow: the id field is objectId.
type wireDataflow struct {
	ObjectID    string `json:"objectId"`
	Name        string `json:"name"`
	Description string `json:"description"`
	ModelURL    string `json:"modelUrl"`
}

func (s *Server) wireDataflow(ws *workspace, it *item) wireDataflow {
	return wireDataflow{ObjectID: it.id, Name: it.name, ModelURL: s.itemURL(ws, "dataflows", it.id) + "/model.json"}
}
