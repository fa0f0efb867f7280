package powerbi

import (
	"context"
	"net/http"
	"reflect"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// serviceCalls calls every service method once, with id for every path id; failure tests run them against a server that
// refuses everything. TestServiceCallsComplete keeps the table in step with the API.
func serviceCalls(id string) map[string]func(context.Context, *Client) (*Response, error) {
	drop := func(f func(context.Context, *Client) (any, *Response, error)) func(context.Context, *Client) (*Response, error) {
		return func(ctx context.Context, c *Client) (*Response, error) {
			_, resp, err := f(ctx, c)
			return resp, err
		}
	}
	return map[string]func(context.Context, *Client) (*Response, error){
		"Pipelines.List": drop(func(ctx context.Context, c *Client) (any, *Response, error) { return c.Pipelines.List(ctx) }),
		"Pipelines.Get":  drop(func(ctx context.Context, c *Client) (any, *Response, error) { return c.Pipelines.Get(ctx, id, true) }),
		"Pipelines.Create": drop(func(ctx context.Context, c *Client) (any, *Response, error) {
			return c.Pipelines.Create(ctx, &CreatePipelineRequest{DisplayName: "x"})
		}),
		"Pipelines.Update": drop(func(ctx context.Context, c *Client) (any, *Response, error) {
			return c.Pipelines.Update(ctx, id, &UpdatePipelineRequest{DisplayName: "x"})
		}),
		"Pipelines.Delete":    func(ctx context.Context, c *Client) (*Response, error) { return c.Pipelines.Delete(ctx, id) },
		"Pipelines.ListUsers": drop(func(ctx context.Context, c *Client) (any, *Response, error) { return c.Pipelines.ListUsers(ctx, id) }),
		"Pipelines.AddUser": func(ctx context.Context, c *Client) (*Response, error) {
			return c.Pipelines.AddUser(ctx, id, &PipelineUser{Identifier: "u", PrincipalType: PrincipalUser})
		},
		"Pipelines.DeleteUser": func(ctx context.Context, c *Client) (*Response, error) { return c.Pipelines.DeleteUser(ctx, id, id) },
		"Pipelines.ListStages": drop(func(ctx context.Context, c *Client) (any, *Response, error) { return c.Pipelines.ListStages(ctx, id) }),
		"Pipelines.AssignWorkspace": func(ctx context.Context, c *Client) (*Response, error) {
			return c.Pipelines.AssignWorkspace(ctx, id, 1, "w1")
		},
		"Pipelines.UnassignWorkspace": func(ctx context.Context, c *Client) (*Response, error) {
			return c.Pipelines.UnassignWorkspace(ctx, id, 1)
		},
		"Pipelines.ListStageArtifacts": drop(func(ctx context.Context, c *Client) (any, *Response, error) {
			return c.Pipelines.ListStageArtifacts(ctx, id, 0)
		}),
		"Pipelines.ListOperations": drop(func(ctx context.Context, c *Client) (any, *Response, error) {
			return c.Pipelines.ListOperations(ctx, id)
		}),
		"Pipelines.GetOperation": drop(func(ctx context.Context, c *Client) (any, *Response, error) {
			return c.Pipelines.GetOperation(ctx, id, id)
		}),
		"Pipelines.DeployAll": drop(func(ctx context.Context, c *Client) (any, *Response, error) {
			return c.Pipelines.DeployAll(ctx, id, &DeployAllRequest{})
		}),
		"Pipelines.SelectiveDeploy": drop(func(ctx context.Context, c *Client) (any, *Response, error) {
			return c.Pipelines.SelectiveDeploy(ctx, id, &SelectiveDeployRequest{})
		}),
		"Pipelines.AdminList": drop(func(ctx context.Context, c *Client) (any, *Response, error) {
			return c.Pipelines.AdminList(ctx, nil)
		}),
		"Pipelines.AdminListUsers": drop(func(ctx context.Context, c *Client) (any, *Response, error) {
			return c.Pipelines.AdminListUsers(ctx, id)
		}),
		"Pipelines.AdminAddUser": func(ctx context.Context, c *Client) (*Response, error) {
			return c.Pipelines.AdminAddUser(ctx, id, &PipelineUser{Identifier: "u", PrincipalType: PrincipalUser})
		},
		"Pipelines.AdminDeleteUser": func(ctx context.Context, c *Client) (*Response, error) {
			return c.Pipelines.AdminDeleteUser(ctx, id, id)
		},
		"Groups.List":   drop(func(ctx context.Context, c *Client) (any, *Response, error) { return c.Groups.List(ctx, nil) }),
		"Groups.Get":    drop(func(ctx context.Context, c *Client) (any, *Response, error) { return c.Groups.Get(ctx, id) }),
		"Groups.Create": drop(func(ctx context.Context, c *Client) (any, *Response, error) { return c.Groups.Create(ctx, "x") }),
		"Groups.Delete": func(ctx context.Context, c *Client) (*Response, error) { return c.Groups.Delete(ctx, id) },
		"Groups.AssignToCapacity": func(ctx context.Context, c *Client) (*Response, error) {
			return c.Groups.AssignToCapacity(ctx, id, "c1")
		},
		"Groups.ListUsers": drop(func(ctx context.Context, c *Client) (any, *Response, error) { return c.Groups.ListUsers(ctx, id) }),
		"Groups.AddUser": func(ctx context.Context, c *Client) (*Response, error) {
			return c.Groups.AddUser(ctx, id, &GroupUser{Identifier: "u", GroupUserAccessRight: AccessRightViewer})
		},
		"Groups.UpdateUser": func(ctx context.Context, c *Client) (*Response, error) {
			return c.Groups.UpdateUser(ctx, id, &GroupUser{Identifier: "u", GroupUserAccessRight: AccessRightViewer})
		},
		"Groups.DeleteUser": func(ctx context.Context, c *Client) (*Response, error) { return c.Groups.DeleteUser(ctx, id, id) },
		"Capacities.List":   drop(func(ctx context.Context, c *Client) (any, *Response, error) { return c.Capacities.List(ctx) }),
	}
}

func TestServiceFailures(t *testing.T) {
	t.Parallel()
	bodies := []struct {
		name, body        string
		status            int
		wantCode, wantMsg string
	}{
		{name: "message", status: 400, body: `{"error":{"code":"InvalidRequest","message":"Bad input"}}`, wantCode: "InvalidRequest", wantMsg: "Bad input"},
		{name: "pbi.error", status: 404, body: `{"error":{"code":"PowerBIEntityNotFound","pbi.error":{"code":"PowerBIEntityNotFound","parameters":{},"details":[{"code":"DetailsMessage","detail":{"type":1,"value":"Not found"}}],"exceptionCulprit":1}}}`, wantCode: "PowerBIEntityNotFound", wantMsg: "Not found"},
		{name: "empty 401", status: 401, wantMsg: "Unauthorized"},
	}
	for name, call := range serviceCalls("x1") {
		for _, b := range bodies {
			t.Run(name+"/"+b.name, func(t *testing.T) {
				t.Parallel()
				c, mux := setup(t)
				mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
					reply(w, b.status, b.body)
				})
				resp, err := call(context.Background(), c)
				var e *ErrorResponse
				require.ErrorAs(t, err, &e)
				assert.Equal(t, b.status, e.StatusCode)
				assert.Equal(t, b.wantCode, e.Code)
				assert.Equal(t, b.wantMsg, e.Message)
				assert.Equal(t, "req-1234", e.RequestID)
				require.NotNil(t, resp)
				assert.Equal(t, "req-1234", resp.RequestID)
				assert.Equal(t, b.status == http.StatusNotFound, IsNotFound(err))
				assert.Contains(t, err.Error(), baseURLPath+"/", "the error names the URL")
			})
		}
	}
}

// TestServiceCallsComplete fails when a service method is added without a failure test.
func TestServiceCallsComplete(t *testing.T) {
	t.Parallel()
	c, err := NewClient(nil, DefaultBaseURL)
	require.NoError(t, err)
	var want []string
	for _, svc := range []struct {
		name string
		v    any
	}{{"Pipelines", c.Pipelines}, {"Groups", c.Groups}, {"Capacities", c.Capacities}} {
		typ := reflect.TypeOf(svc.v)
		for i := range typ.NumMethod() {
			want = append(want, svc.name+"."+typ.Method(i).Name)
		}
	}
	var got []string
	for name := range serviceCalls("x1") {
		got = append(got, name)
	}
	slices.Sort(want)
	slices.Sort(got)
	assert.Equal(t, want, got)
}

// TestServiceRejectsBadIDs: an empty or dot id would address another resource (the whole
// collection, or a parent), so it fails before anything is sent.
func TestServiceRejectsBadIDs(t *testing.T) {
	t.Parallel()
	noID := map[string]bool{
		"Pipelines.List": true, "Pipelines.Create": true, "Pipelines.AdminList": true,
		"Groups.List": true, "Groups.Create": true, "Capacities.List": true,
	}
	for _, id := range []string{"", ".", ".."} {
		for name, call := range serviceCalls(id) {
			if noID[name] {
				continue
			}
			t.Run(name+"/"+id, func(t *testing.T) {
				t.Parallel()
				c, mux := setup(t)
				mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
					t.Errorf("sent %s %s", r.Method, r.URL)
				})
				resp, err := call(context.Background(), c)
				require.ErrorContains(t, err, "invalid id")
				assert.Nil(t, resp)
			})
		}
	}
}
