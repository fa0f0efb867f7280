package powerbi

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGroupsList(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		opts     *GroupListOptions
		query    url.Values
		rawQuery string
	}{
		{name: "no options", opts: nil, query: nil},
		{name: "zero options", opts: &GroupListOptions{}, query: nil},
		{
			name:     "filter top skip",
			opts:     &GroupListOptions{Filter: NameFilter("O'Neil & Co"), Top: 10, Skip: 5},
			query:    url.Values{"$filter": {"name eq 'O''Neil & Co'"}, "$top": {"10"}, "$skip": {"5"}},
			rawQuery: "$filter=name%20eq%20%27O%27%27Neil%20%26%20Co%27&$top=10&$skip=5",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, mux := setup(t)
			mux.HandleFunc("/groups", func(w http.ResponseWriter, r *http.Request) {
				testMethod(t, r, http.MethodGet)
				testQuery(t, r, tt.query)
				if tt.rawQuery != "" {
					assert.Equal(t, tt.rawQuery, r.URL.RawQuery)
				}
				reply(w, http.StatusOK, `{"value":[{"id":"g1","name":"Sales","isReadOnly":false,"isOnDedicatedCapacity":true,"capacityId":"c1"}]}`)
			})
			got, _, err := c.Groups.List(context.Background(), tt.opts)
			require.NoError(t, err)
			assert.Equal(t, []Group{{ID: "g1", Name: "Sales", IsOnDedicatedCapacity: true, CapacityID: "c1"}}, got)
		})
	}
}

func TestGroupsGet(t *testing.T) {
	t.Parallel()
	c, mux := setup(t)
	mux.HandleFunc("/groups/g1", func(w http.ResponseWriter, r *http.Request) {
		testMethod(t, r, http.MethodGet)
		reply(w, http.StatusOK, `{"id":"g1","name":"Sales","isReadOnly":true}`)
	})
	got, _, err := c.Groups.Get(context.Background(), "g1")
	require.NoError(t, err)
	assert.Equal(t, &Group{ID: "g1", Name: "Sales", IsReadOnly: true}, got)
}

func TestGroupsCreate(t *testing.T) {
	t.Parallel()
	c, mux := setup(t)
	mux.HandleFunc("/groups", func(w http.ResponseWriter, r *http.Request) {
		testMethod(t, r, http.MethodPost)
		testQuery(t, r, url.Values{"workspaceV2": {"true"}})
		testJSONBody(t, r, `{"name":"Sales [Test]"}`)
		reply(w, http.StatusOK, `{"id":"g2","name":"Sales [Test]","isReadOnly":false,"isOnDedicatedCapacity":false}`)
	})
	got, _, err := c.Groups.Create(context.Background(), "Sales [Test]")
	require.NoError(t, err)
	assert.Equal(t, &Group{ID: "g2", Name: "Sales [Test]"}, got)
}

func TestGroupsListUsers(t *testing.T) {
	t.Parallel()
	c, mux := setup(t)
	mux.HandleFunc("/groups/g1/users", func(w http.ResponseWriter, r *http.Request) {
		testMethod(t, r, http.MethodGet)
		reply(w, http.StatusOK, `{"value":[
			{"identifier":"ann@contoso.com","principalType":"User","groupUserAccessRight":"Admin","emailAddress":"ann@contoso.com","displayName":"Ann"},
			{"identifier":"sp1","principalType":"App","groupUserAccessRight":"Member","displayName":"deploy-bot"}]}`)
	})
	got, _, err := c.Groups.ListUsers(context.Background(), "g1")
	require.NoError(t, err)
	assert.Equal(t, []GroupUser{
		{Identifier: "ann@contoso.com", PrincipalType: "User", GroupUserAccessRight: "Admin", EmailAddress: "ann@contoso.com", DisplayName: "Ann"},
		{Identifier: "sp1", PrincipalType: "App", GroupUserAccessRight: "Member", DisplayName: "deploy-bot"},
	}, got)
}

func TestGroupsNoContent(t *testing.T) {
	t.Parallel()
	user := &GroupUser{Identifier: "ann@contoso.com", PrincipalType: PrincipalUser, GroupUserAccessRight: AccessRightContributor}
	userJSON := `{"identifier":"ann@contoso.com","principalType":"User","groupUserAccessRight":"Contributor"}`
	tests := []struct {
		name, method, path, wantBody string
		call                         func(*Client) (*Response, error)
	}{
		{
			name: "Delete", method: http.MethodDelete, path: "/groups/g1",
			call: func(c *Client) (*Response, error) { return c.Groups.Delete(context.Background(), "g1") },
		},
		{
			name: "AssignToCapacity", method: http.MethodPost, path: "/groups/g1/AssignToCapacity",
			wantBody: `{"capacityId":"00000000-0000-0000-0000-000000000000"}`,
			call: func(c *Client) (*Response, error) {
				return c.Groups.AssignToCapacity(context.Background(), "g1", "00000000-0000-0000-0000-000000000000")
			},
		},
		{
			name: "AddUser", method: http.MethodPost, path: "/groups/g1/users", wantBody: userJSON,
			call: func(c *Client) (*Response, error) { return c.Groups.AddUser(context.Background(), "g1", user) },
		},
		{
			name: "UpdateUser", method: http.MethodPut, path: "/groups/g1/users", wantBody: userJSON,
			call: func(c *Client) (*Response, error) { return c.Groups.UpdateUser(context.Background(), "g1", user) },
		},
		{
			name: "DeleteUser", method: http.MethodDelete, path: "/groups/g1/users/ann@contoso.com",
			call: func(c *Client) (*Response, error) {
				return c.Groups.DeleteUser(context.Background(), "g1", "ann@contoso.com")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, mux := setup(t)
			mux.HandleFunc(tt.path, func(w http.ResponseWriter, r *http.Request) {
				testMethod(t, r, tt.method)
				if tt.wantBody == "" {
					testNoBody(t, r)
				} else {
					testJSONBody(t, r, tt.wantBody)
				}
				reply(w, http.StatusOK, "")
			})
			resp, err := tt.call(c)
			require.NoError(t, err)
			assert.Equal(t, "req-1234", resp.RequestID)
		})
	}
}

func TestGroupUserEmailOnly(t *testing.T) {
	t.Parallel()
	assert.JSONEq(t, `{"emailAddress":"ann@contoso.com","groupUserAccessRight":"Viewer"}`,
		mustJSON(t, GroupUser{EmailAddress: "ann@contoso.com", GroupUserAccessRight: AccessRightViewer}))
}

func TestCapacitiesList(t *testing.T) {
	t.Parallel()
	c, mux := setup(t)
	mux.HandleFunc("/capacities", func(w http.ResponseWriter, r *http.Request) {
		testMethod(t, r, http.MethodGet)
		reply(w, http.StatusOK, `{"value":[{"id":"c1","displayName":"F64 West","admins":["ann@contoso.com"],"sku":"F64","state":"Active","capacityUserAccessRight":"Assign","region":"West Europe"}]}`)
	})
	got, _, err := c.Capacities.List(context.Background())
	require.NoError(t, err)
	assert.Equal(t, []Capacity{{
		ID: "c1", DisplayName: "F64 West", SKU: "F64", State: "Active", Region: "West Europe",
		Admins: []string{"ann@contoso.com"}, CapacityUserAccessRight: "Assign",
	}}, got)
}
