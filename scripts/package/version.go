package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
)

// One version for everything: the extension's, in vss-extension.json (or -version). The
// packager writes it into every staged task.json, so a new extension version is always a new
// version of each task — the agent caches tasks by version and would otherwise keep running
// the old binaries. The committed task.json files carry the same version (a test checks),
// so that what is read in the repository is what ships.

var (
	versionRe   = regexp.MustCompile(`^(\d+)\.(\d+)\.(\d+)$`)
	publisherRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)
	// The task.json "version" object, with its three numbers in any order and layout.
	taskVersionRe = regexp.MustCompile(`"version"\s*:\s*\{[^{}]*\}`)
	taskPartRe    = regexp.MustCompile(`("(Major|Minor|Patch)"\s*:\s*)(\d+)`)
)

// setString rewrites the manifest's top-level string property key in place, keeping the
// file's layout, and checks the result.
func setString(raw []byte, key, value string) ([]byte, error) {
	var before map[string]any
	if err := json.Unmarshal(raw, &before); err != nil {
		return nil, err
	}
	old, ok := before[key].(string)
	if !ok {
		return nil, fmt.Errorf("%s: no %s to replace", manifestName, key)
	}
	// Nested objects (contributions, files) have no string property of the same key and
	// value before the top-level one in any manifest this repository has; the check below
	// catches it if one ever does.
	re := regexp.MustCompile(`("` + regexp.QuoteMeta(key) + `"\s*:\s*)"` + regexp.QuoteMeta(old) + `"`)
	loc := re.FindSubmatchIndex(raw)
	if loc == nil {
		return nil, fmt.Errorf("%s: no %s to replace", manifestName, key)
	}
	quoted, err := json.Marshal(value)
	if err != nil {
		return nil, err
	}
	out := slices.Concat(raw[:loc[3]], quoted, raw[loc[1]:])
	var after map[string]any
	if err := json.Unmarshal(out, &after); err != nil || after[key] != value {
		return nil, fmt.Errorf("%s: could not set the %s to %s", manifestName, key, value)
	}
	return out, nil
}

// setVersion sets the manifest's version (major.minor.patch: the tasks take the same one).
func setVersion(raw []byte, version string) ([]byte, error) {
	if !versionRe.MatchString(version) {
		return nil, fmt.Errorf("version %q is not major.minor.patch", version)
	}
	return setString(raw, "version", version)
}

// setPublisher sets the manifest's publisher (the Marketplace publisher id).
func setPublisher(raw []byte, publisher string) ([]byte, error) {
	if !publisherRe.MatchString(publisher) {
		return nil, fmt.Errorf("publisher %q is not a Marketplace publisher id (letters, digits, - and _)", publisher)
	}
	return setString(raw, "publisher", publisher)
}

// taskVersion is a task.json "version".
type taskVersion struct {
	Major, Minor, Patch int
}

func (v taskVersion) String() string { return fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch) }

func parseVersion(version string) (taskVersion, error) {
	m := versionRe.FindStringSubmatch(version)
	if m == nil {
		return taskVersion{}, fmt.Errorf("version %q is not major.minor.patch", version)
	}
	var n [3]int
	for i := range n {
		v, err := strconv.Atoi(m[i+1])
		if err != nil {
			return taskVersion{}, fmt.Errorf("version %q: %w", version, err)
		}
		n[i] = v
	}
	return taskVersion{n[0], n[1], n[2]}, nil
}

// setTaskVersion writes version into a task.json's "version" object in place, keeping the
// file's layout, and checks the result.
func setTaskVersion(raw []byte, version string) ([]byte, error) {
	v, err := parseVersion(version)
	if err != nil {
		return nil, err
	}
	locs := taskVersionRe.FindAllIndex(raw, -1)
	if len(locs) != 1 {
		return nil, fmt.Errorf("task.json: want one \"version\" object, found %d", len(locs))
	}
	parts := map[string]int{"Major": v.Major, "Minor": v.Minor, "Patch": v.Patch}
	obj := taskPartRe.ReplaceAllFunc(raw[locs[0][0]:locs[0][1]], func(m []byte) []byte {
		sub := taskPartRe.FindSubmatch(m)
		return append(slices.Clone(sub[1]), strconv.Itoa(parts[string(sub[2])])...)
	})
	out := slices.Concat(raw[:locs[0][0]], obj, raw[locs[0][1]:])
	var after struct {
		Version taskVersion `json:"version"`
	}
	if err := json.Unmarshal(out, &after); err != nil || after.Version != v {
		return nil, fmt.Errorf("task.json: could not set the version to %s (the \"version\" object needs Major, Minor and Patch)", version)
	}
	return out, nil
}
