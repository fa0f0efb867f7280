package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// ErrEndpointNotFound is wrapped by Endpoint's error when the agent exported nothing for
// the id.
var ErrEndpointNotFound = errors.New("service connection not found")

// Endpoint is a service connection as the agent exports it to the task.
type Endpoint struct {
	ID     string // the id as found in the variable names (as given or lower-cased)
	URL    string
	Scheme string

	getenv func(string) string
	params map[string]string // "parameters" of ENDPOINT_AUTH_<id>
	data   map[string]string // ENDPOINT_DATA_<id>
}

// Endpoint finds service connection id (usually a connectedService input's value). The
// agent names the variables after the lower-case GUID, so the id is tried as given and then
// lower-cased. Empty variables count as unset.
func (e *Env) Endpoint(id string) (*Endpoint, error) {
	id = strings.TrimSpace(id)
	if id == "" {
		return nil, fmt.Errorf("%w: no service connection id given", ErrEndpointNotFound)
	}
	candidates := []string{id}
	if lower := strings.ToLower(id); lower != id {
		candidates = append(candidates, lower)
	}
	for _, c := range candidates {
		url := e.getenv("ENDPOINT_URL_" + c)
		auth := e.getenv("ENDPOINT_AUTH_" + c)
		scheme := e.getenv("ENDPOINT_AUTH_SCHEME_" + c)
		if url == "" && auth == "" && scheme == "" {
			continue
		}
		ep := &Endpoint{ID: c, URL: url, getenv: e.getenv}
		var a struct {
			Parameters map[string]any `json:"parameters"`
			Scheme     string         `json:"scheme"`
		}
		if auth != "" && json.Unmarshal([]byte(auth), &a) == nil {
			ep.params = stringMap(a.Parameters)
		}
		ep.Scheme = scheme
		if ep.Scheme == "" {
			ep.Scheme = a.Scheme
		}
		var d map[string]any
		if raw := e.getenv("ENDPOINT_DATA_" + c); raw != "" && json.Unmarshal([]byte(raw), &d) == nil {
			ep.data = stringMap(d)
		}
		return ep, nil
	}
	return nil, fmt.Errorf("%w: the agent passed no ENDPOINT_URL_%s, ENDPOINT_AUTH_%s or ENDPOINT_AUTH_SCHEME_%s (is %q the id of a service connection this step may use?)",
		ErrEndpointNotFound, id, id, id, id)
}

// Param returns authorization parameter key: ENDPOINT_AUTH_PARAMETER_<id>_<KEY>, else the
// "parameters" of the ENDPOINT_AUTH_<id> JSON, with key matched case-insensitively.
func (ep *Endpoint) Param(key string) string {
	if v := ep.getenv("ENDPOINT_AUTH_PARAMETER_" + ep.ID + "_" + NormalizeName(key)); v != "" {
		return v
	}
	return lookupFold(ep.params, key)
}

// Data returns endpoint data key: ENDPOINT_DATA_<id>_<KEY>, else the ENDPOINT_DATA_<id>
// JSON, with key matched case-insensitively.
func (ep *Endpoint) Data(key string) string {
	if v := ep.getenv("ENDPOINT_DATA_" + ep.ID + "_" + NormalizeName(key)); v != "" {
		return v
	}
	return lookupFold(ep.data, key)
}

// stringMap keeps a JSON object's values as text: strings as they are, anything else as
// its JSON (the agent only sends strings; this just avoids losing an odd value).
func stringMap(m map[string]any) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		switch v := v.(type) {
		case nil:
		case string:
			out[k] = v
		default:
			b, _ := json.Marshal(v)
			out[k] = string(b)
		}
	}
	return out
}

// lookupFold prefers an exact key, then any key equal under case folding.
func lookupFold(m map[string]string, key string) string {
	if v, ok := m[key]; ok {
		return v
	}
	for _, k := range slices.Sorted(maps.Keys(m)) { // sorted: deterministic when keys differ only in case
		if strings.EqualFold(k, key) {
			return m[k]
		}
	}
	return ""
}
