package emulator

import (
	"net/http"
	"net/url"
	"strings"
	"time"
)

// call is one authenticated Power BI API request being handled (under Server.mu).
type call struct {
	r      *http.Request
	p      *Principal
	params map[string]string
	query  url.Values
	body   []byte
	now    time.Time
}

// handler answers a call with a status and a JSON value (nil: no body), or an error.
type handler func(s *Server, c *call) (int, any, error)

type route struct {
	method  string
	pattern string // relative to /v1.0/myorg/, "{name}" segments capture
	handle  handler
}

// routes is the Power BI API surface the emulator serves, spelled as in the swagger.
var routes = []route{
	{"GET", "pipelines", (*Server).getPipelines},
	{"POST", "pipelines", (*Server).createPipeline},
	{"GET", "pipelines/{pipelineId}", userPipeline((*Server).getPipeline)},
	{"PATCH", "pipelines/{pipelineId}", userPipeline((*Server).updatePipeline)},
	{"DELETE", "pipelines/{pipelineId}", userPipeline((*Server).deletePipeline)},
	{"GET", "pipelines/{pipelineId}/users", userPipeline((*Server).getPipelineUsers)},
	{"POST", "pipelines/{pipelineId}/users", userPipeline((*Server).putPipelineUser)},
	{"DELETE", "pipelines/{pipelineId}/users/{identifier}", userPipeline((*Server).removePipelineUser)},
	{"GET", "pipelines/{pipelineId}/stages", userPipeline((*Server).getPipelineStages)},
	{"POST", "pipelines/{pipelineId}/stages/{stageOrder}/assignWorkspace", userPipeline((*Server).assignWorkspace)},
	{"POST", "pipelines/{pipelineId}/stages/{stageOrder}/unassignWorkspace", userPipeline((*Server).unassignWorkspace)},
	{"GET", "pipelines/{pipelineId}/stages/{stageOrder}/artifacts", userPipeline((*Server).getStageArtifacts)},
	{"GET", "pipelines/{pipelineId}/operations", userPipeline((*Server).getOperations)},
	{"GET", "pipelines/{pipelineId}/operations/{operationId}", userPipeline((*Server).getOperation)},
	{"POST", "pipelines/{pipelineId}/deployAll", userPipeline((*Server).deployAll)},
	{"POST", "pipelines/{pipelineId}/deploy", userPipeline((*Server).selectiveDeploy)},

	{"GET", "admin/pipelines", (*Server).adminGetPipelines},
	{"GET", "admin/pipelines/{pipelineId}/users", adminPipeline((*Server).getPipelineUsers)},
	{"POST", "admin/pipelines/{pipelineId}/users", adminPipeline((*Server).putPipelineUser)},
	{"DELETE", "admin/pipelines/{pipelineId}/users/{identifier}", adminPipeline((*Server).removePipelineUser)},

	{"GET", "groups", (*Server).getGroups},
	{"POST", "groups", (*Server).createGroup},
	{"GET", "groups/{groupId}", (*Server).getGroup},
	{"PATCH", "groups/{groupId}", (*Server).updateGroup},
	{"DELETE", "groups/{groupId}", (*Server).deleteGroup},
	{"GET", "groups/{groupId}/users", (*Server).getGroupUsers},
	{"POST", "groups/{groupId}/users", (*Server).addGroupUser},
	{"PUT", "groups/{groupId}/users", (*Server).updateGroupUser},
	{"DELETE", "groups/{groupId}/users/{user}", (*Server).deleteGroupUser},
	{"POST", "groups/{groupId}/AssignToCapacity", (*Server).assignToCapacity},
	{"GET", "groups/{groupId}/CapacityAssignmentStatus", (*Server).capacityAssignmentStatus},
	{"GET", "groups/{groupId}/reports", itemList(kindReport, "reports", (*Server).wireReport)},
	{"GET", "groups/{groupId}/datasets", itemList(kindDataset, "datasets", (*Server).wireDataset)},
	{"GET", "groups/{groupId}/dashboards", itemList(kindDashboard, "dashboards", (*Server).wireDashboard)},
	{"GET", "groups/{groupId}/dataflows", itemList(kindDataflow, "dataflows", (*Server).wireDataflow)},
	{"GET", "capacities", (*Server).getCapacities},
}

// matchRoute finds the route for a path under /v1.0/myorg/, comparing literal segments
// case-insensitively like the service. It returns the captured (unescaped) parameters and the
// path spelled as in the swagger. A known path with another method answers 405.
func matchRoute(method, path string) (*route, map[string]string, string, error) {
	rest := ""
	if len(path) > len(apiPrefix) {
		rest = strings.Trim(path[len(apiPrefix):], "/")
	}
	segs := strings.Split(rest, "/")
	pathKnown := false
	for i := range routes {
		rt := &routes[i]
		params, ok := matchSegments(strings.Split(rt.pattern, "/"), segs)
		if !ok {
			continue
		}
		if rt.method != method {
			pathKnown = true
			continue
		}
		canonical := apiPrefix + rt.pattern // unescaped, like URL.Path
		for name, v := range params {
			canonical = strings.Replace(canonical, "{"+name+"}", v, 1)
		}
		return rt, params, canonical, nil
	}
	if pathKnown {
		return nil, nil, "", errorf(http.StatusMethodNotAllowed, "MethodNotAllowed", "the requested resource does not support http method '%s'", method)
	}
	return nil, nil, "", errorf(http.StatusNotFound, "NotFound", "no HTTP resource was found that matches the request URI %s", path)
}

func matchSegments(pattern, segs []string) (map[string]string, bool) {
	if len(pattern) != len(segs) {
		return nil, false
	}
	params := map[string]string{}
	for i, p := range pattern {
		if strings.HasPrefix(p, "{") {
			v, err := url.PathUnescape(segs[i])
			if err != nil || v == "" {
				return nil, false
			}
			params[strings.Trim(p, "{}")] = v
			continue
		}
		if !strings.EqualFold(p, segs[i]) {
			return nil, false
		}
	}
	return params, true
}
