package powerbi

import (
	"context"
	"net/http"
	"strconv"
	"strings"
)

// GroupsService calls the workspace operations (groups/…).
type GroupsService service

// Group is a workspace.
type Group struct {
	ID                    string `json:"id"`
	Name                  string `json:"name,omitempty"`
	IsReadOnly            bool   `json:"isReadOnly,omitempty"`
	IsOnDedicatedCapacity bool   `json:"isOnDedicatedCapacity,omitempty"`
	CapacityID            string `json:"capacityId,omitempty"`
}

// Workspace roles (GroupUserAccessRight in the swagger).
const (
	AccessRightMember      = "Member"
	AccessRightContributor = "Contributor"
	AccessRightViewer      = "Viewer"
)

// GroupUser is a principal's role in a workspace. Identifier is the UPN for a User, else the
// object id; the service also accepts EmailAddress alone for a user.
type GroupUser struct {
	Identifier           string `json:"identifier,omitempty"`
	PrincipalType        string `json:"principalType,omitempty"`
	GroupUserAccessRight string `json:"groupUserAccessRight"`
	EmailAddress         string `json:"emailAddress,omitempty"`
	DisplayName          string `json:"displayName,omitempty"`
}

// GroupListOptions are Groups_GetGroups' OData options; zero values are not sent.
type GroupListOptions struct {
	// Filter is an OData filter such as NameFilter's.
	Filter string
	Top    int
	Skip   int
}

// NameFilter is the OData filter matching a workspace by exact name. Single quotes are
// doubled, as OData string literals require:
//
//	NameFilter("O'Neil") == "name eq 'O''Neil'"
func NameFilter(name string) string {
	return "name eq '" + strings.ReplaceAll(name, "'", "''") + "'"
}

// List returns the workspaces the caller can access.
//
// Power BI REST operation: Groups_GetGroups
func (s *GroupsService) List(ctx context.Context, opts *GroupListOptions) ([]Group, *Response, error) {
	var q query
	if opts != nil {
		if opts.Filter != "" {
			q = q.add("$filter", opts.Filter)
		}
		if opts.Top > 0 {
			q = q.add("$top", strconv.Itoa(opts.Top))
		}
		if opts.Skip > 0 {
			q = q.add("$skip", strconv.Itoa(opts.Skip))
		}
	}
	return list[Group](ctx, s.client, q.encode("groups"))
}

// Get returns a workspace.
//
// Power BI REST operation: Groups_GetGroup
func (s *GroupsService) Get(ctx context.Context, groupID string) (*Group, *Response, error) {
	p, err := pathf("groups/%s", groupID)
	if err != nil {
		return nil, nil, err
	}
	return call[Group](ctx, s.client, http.MethodGet, p, nil)
}

// Create creates a (new-style, "V2") workspace.
//
// Power BI REST operation: Groups_CreateGroup
func (s *GroupsService) Create(ctx context.Context, name string) (*Group, *Response, error) {
	body := struct {
		Name string `json:"name"`
	}{name}
	return call[Group](ctx, s.client, http.MethodPost, "groups?workspaceV2=true", body)
}

// Delete deletes a workspace.
//
// Power BI REST operation: Groups_DeleteGroup
func (s *GroupsService) Delete(ctx context.Context, groupID string) (*Response, error) {
	p, err := pathf("groups/%s", groupID)
	if err != nil {
		return nil, err
	}
	return send(ctx, s.client, http.MethodDelete, p, nil)
}

// AssignToCapacity moves a workspace to a capacity; the empty GUID moves it to shared
// capacity. The move completes asynchronously.
//
// Power BI REST operation: Groups_AssignToCapacity
func (s *GroupsService) AssignToCapacity(ctx context.Context, groupID, capacityID string) (*Response, error) {
	p, err := pathf("groups/%s/AssignToCapacity", groupID)
	if err != nil {
		return nil, err
	}
	body := struct {
		CapacityID string `json:"capacityId"`
	}{capacityID}
	return send(ctx, s.client, http.MethodPost, p, body)
}

// ListUsers returns a workspace's principals and their roles.
//
// Power BI REST operation: Groups_GetGroupUsers
func (s *GroupsService) ListUsers(ctx context.Context, groupID string) ([]GroupUser, *Response, error) {
	p, err := pathf("groups/%s/users", groupID)
	if err != nil {
		return nil, nil, err
	}
	return list[GroupUser](ctx, s.client, p)
}

// AddUser gives a principal a role in a workspace.
//
// Power BI REST operation: Groups_AddGroupUser
func (s *GroupsService) AddUser(ctx context.Context, groupID string, u *GroupUser) (*Response, error) {
	p, err := pathf("groups/%s/users", groupID)
	if err != nil {
		return nil, err
	}
	return send(ctx, s.client, http.MethodPost, p, u)
}

// UpdateUser changes the role of a principal already in a workspace.
//
// Power BI REST operation: Groups_UpdateGroupUser
func (s *GroupsService) UpdateUser(ctx context.Context, groupID string, u *GroupUser) (*Response, error) {
	p, err := pathf("groups/%s/users", groupID)
	if err != nil {
		return nil, err
	}
	return send(ctx, s.client, http.MethodPut, p, u)
}

// DeleteUser removes a principal from a workspace; user is an email address or an object id.
//
// Power BI REST operation: Groups_DeleteUserInGroup
func (s *GroupsService) DeleteUser(ctx context.Context, groupID, user string) (*Response, error) {
	p, err := pathf("groups/%s/users/%s", groupID, user)
	if err != nil {
		return nil, err
	}
	return send(ctx, s.client, http.MethodDelete, p, nil)
}
