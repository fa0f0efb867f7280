package agentsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
)

// Endpoint is a service connection as the server sends it to the agent.
type Endpoint struct {
	ID     string
	URL    string
	Scheme string
	Params map[string]string
	Data   map[string]string
}

// Step is one pipeline step of a task: what the YAML and the server give the agent.
type Step struct {
	Inputs      map[string]string // YAML inputs; an alias is mapped to its input's name; an unknown input is an error
	Endpoints   []Endpoint        // the endpoints the step's connectedService inputs reference
	Variables   map[string]string // public pipeline variables, e.g. "System.Debug": "true"
	Secrets     map[string]string // secret variables
	AccessToken string            // System.AccessToken, exported as the SYSTEMVSSCONNECTION endpoint
	BaseEnv     []string          // the agent's own environment underneath (PATH, HOME, ...)
}

// systemConnection is the id under which the agent exports the job's own connection.
const systemConnection = "SYSTEMVSSCONNECTION"

// normalize is the agent's VarUtil.ConvertToEnvVariableFormat.
func normalize(name string) string {
	return strings.ToUpper(strings.NewReplacer(".", "_", " ", "_").Replace(name))
}

// Environ builds the task process environment as the agent's Node handler does
// (Handler.cs: AddVariablesToEnvironment, AddInputsToEnvironment,
// AddEndpointsToEnvironment): BaseEnv, then variables, inputs, endpoints and
// TF_BUILD=True, later entries winning. The result is sorted by name.
func (t *Task) Environ(step Step) ([]string, error) {
	env := newEnvBuilder()
	for _, kv := range step.BaseEnv {
		k, v, _ := strings.Cut(kv, "=")
		env.set(k, v)
	}

	// Variables: public under their normalised names, secrets as SECRET_<NAME>, and the
	// raw name lists task-lib uses to tell them apart.
	publicNames := sortedKeys(step.Variables)
	for _, name := range publicNames {
		if strings.EqualFold(name, "agent.jobstatus") {
			env.set(name, step.Variables[name]) // the agent also exports this one raw
		}
		env.set(normalize(name), step.Variables[name])
	}
	env.set("VSTS_PUBLIC_VARIABLES", jsonString(publicNames))
	secretNames := sortedKeys(step.Secrets)
	for _, name := range secretNames {
		env.set("SECRET_"+normalize(name), step.Secrets[name])
	}
	env.set("VSTS_SECRET_VARIABLES", jsonString(secretNames))

	inputs, err := t.inputs(step)
	if err != nil {
		return nil, err
	}
	for _, name := range sortedKeys(inputs) {
		env.set("INPUT_"+normalize(name), inputs[name])
	}

	endpoints := step.Endpoints
	if step.AccessToken != "" {
		endpoints = append(endpoints[:len(endpoints):len(endpoints)], Endpoint{
			ID:     systemConnection,
			URL:    lookupFold(step.Variables, "System.CollectionUri"),
			Scheme: "OAuth",
			Params: map[string]string{"AccessToken": step.AccessToken},
		})
	}
	for _, ep := range endpoints {
		if err := addEndpoint(env, ep); err != nil {
			return nil, err
		}
	}

	env.set("TF_BUILD", "True")
	return env.list(), nil
}

// inputs returns the task's inputs as the agent sees them: every task.json input with
// its default, overridden by the step's inputs (trimmed), then macro-expanded.
func (t *Task) inputs(step Step) (map[string]string, error) {
	byName := map[string]string{} // lower-case name or alias → input name
	inputs := map[string]string{}
	for _, in := range t.Inputs {
		byName[strings.ToLower(in.Name)] = in.Name
		for _, a := range in.Aliases {
			byName[strings.ToLower(a)] = in.Name
		}
		inputs[in.Name] = strings.TrimSpace(in.defaultString())
	}
	for _, key := range sortedKeys(step.Inputs) {
		name, ok := byName[strings.ToLower(key)]
		if !ok {
			return nil, fmt.Errorf("task %s has no input %q", t.Name, key)
		}
		inputs[name] = strings.TrimSpace(step.Inputs[key])
	}
	baseEnv := map[string]string{}
	for _, kv := range step.BaseEnv {
		k, v, _ := strings.Cut(kv, "=")
		baseEnv[k] = v
	}
	for name, v := range inputs {
		// Variables first (secret ones too), then the agent's own environment;
		// unknown macros stay as written.
		v = expandMacros(v, func(n string) (string, bool) {
			if v, ok := lookupFoldOK(step.Variables, n); ok {
				return v, true
			}
			return lookupFoldOK(step.Secrets, n)
		})
		inputs[name] = expandMacros(v, func(n string) (string, bool) {
			v, ok := baseEnv[n]
			return v, ok
		})
	}
	return inputs, nil
}

// expandMacros replaces $(name) once, non-recursively, as VarUtil.ExpandValues does.
func expandMacros(s string, lookup func(string) (string, bool)) string {
	var b strings.Builder
	for {
		start := strings.Index(s, "$(")
		if start < 0 {
			break
		}
		end := strings.IndexByte(s[start+2:], ')')
		if end < 0 {
			break
		}
		name := s[start+2 : start+2+end]
		b.WriteString(s[:start])
		if v, ok := lookup(name); ok {
			b.WriteString(v)
		} else {
			b.WriteString(s[start : start+3+end])
		}
		s = s[start+3+end:]
	}
	b.WriteString(s)
	return b.String()
}

func addEndpoint(env *envBuilder, ep Endpoint) error {
	key := ep.ID
	switch {
	case strings.EqualFold(key, systemConnection):
		key = systemConnection
	case key == "":
		return fmt.Errorf("endpoint with URL %q has no id", ep.URL)
	default:
		// The agent writes Guid.ToString(): lower-case.
		key = strings.ToLower(key)
	}
	params := ep.Params
	if params == nil {
		params = map[string]string{}
	}
	env.set("ENDPOINT_URL_"+key, dotnetURI(ep.URL))
	env.set("ENDPOINT_AUTH_"+key, jsonString(struct {
		Parameters map[string]string `json:"parameters"`
		Scheme     string            `json:"scheme"`
	}{params, ep.Scheme}))
	env.set("ENDPOINT_AUTH_SCHEME_"+key, ep.Scheme)
	for _, k := range sortedKeys(params) {
		env.set("ENDPOINT_AUTH_PARAMETER_"+key+"_"+normalize(k), params[k])
	}
	if key != systemConnection { // the system connection has no data
		data := ep.Data
		if data == nil {
			data = map[string]string{}
		}
		env.set("ENDPOINT_DATA_"+key, jsonString(data))
		for _, k := range sortedKeys(data) {
			env.set("ENDPOINT_DATA_"+key+"_"+normalize(k), data[k])
		}
	}
	return nil
}

// dotnetURI renders an absolute http(s) URL as .NET's Uri.ToString does for the
// common cases: lower-case scheme and host, and "/" for an empty path.
func dotnetURI(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (!strings.EqualFold(u.Scheme, "http") && !strings.EqualFold(u.Scheme, "https")) {
		return s
	}
	u.Scheme = strings.ToLower(u.Scheme)
	u.Host = strings.ToLower(u.Host)
	if u.Path == "" && u.RawPath == "" {
		u.Path = "/"
	}
	return u.String()
}

// MaskableParams returns the endpoint's authorization parameter values the agent
// registers with its log masker: all non-empty values except those of parameters known
// to hold no secret (Agent.Sdk MaskingUtil.IsEndpointAuthorizationParametersSecret,
// compared case-insensitively). Client ids, for instance, are masked.
func MaskableParams(ep Endpoint) []string {
	var out []string
	for _, k := range sortedKeys(ep.Params) {
		if v := ep.Params[k]; v != "" && !notSecretParams[strings.ToLower(k)] {
			out = append(out, v)
		}
	}
	return out
}

var notSecretParams = map[string]bool{
	"idtoken": true, "role": true, "scope": true, "tenantid": true, "issuedat": true,
	"expiresat": true, "audience": true, "authenticationtype": true, "authorizationtype": true,
	"accesstokentype": true, "accesstokenfetchingmethod": true, "usewindowssecurity": true,
	"unsecured": true, "oauthaccesstokenissupplied": true, "completecallbackpayload": true,
	"acceptuntrustedcertificates": true,
}

// InitialSecrets returns what the agent's masker knows before the task starts: secret
// variables, the maskable parameters of the step's endpoints, and the access token.
func (s Step) InitialSecrets() []string {
	var out []string
	for _, k := range sortedKeys(s.Secrets) {
		if v := s.Secrets[k]; v != "" {
			out = append(out, v)
		}
	}
	for _, ep := range s.Endpoints {
		out = append(out, MaskableParams(ep)...)
	}
	if s.AccessToken != "" {
		out = append(out, s.AccessToken)
	}
	return out
}

// envBuilder keeps the last value set for each name.
type envBuilder struct{ vars map[string]string }

func newEnvBuilder() *envBuilder { return &envBuilder{vars: map[string]string{}} }

func (b *envBuilder) set(k, v string) {
	if k != "" {
		b.vars[k] = v
	}
}

func (b *envBuilder) list() []string {
	out := make([]string, 0, len(b.vars))
	for _, k := range sortedKeys(b.vars) {
		out = append(out, k+"="+b.vars[k])
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// jsonString marshals like Newtonsoft does by default: no HTML escaping.
func jsonString(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return ""
	}
	return strings.TrimSuffix(b.String(), "\n")
}

func lookupFold(m map[string]string, key string) string {
	v, _ := lookupFoldOK(m, key)
	return v
}

// lookupFoldOK finds a variable by name as the agent does (case-insensitively).
func lookupFoldOK(m map[string]string, key string) (string, bool) {
	if v, ok := m[key]; ok {
		return v, true
	}
	for _, k := range sortedKeys(m) {
		if strings.EqualFold(k, key) {
			return m[k], true
		}
	}
	return "", false
}
