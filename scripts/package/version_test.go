package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSetTaskVersion(t *testing.T) {
	t.Parallel()
	raw := []byte("{\n  \"id\": \"x\",\n  \"version\": {\n    \"Major\": 1,\n    \"Minor\": 0,\n    \"Patch\": 0\n  },\n  \"inputs\": [{\"name\": \"version\"}]\n}\n")
	got, err := setTaskVersion(raw, "2.13.4")
	require.NoError(t, err)
	assert.Equal(t, "{\n  \"id\": \"x\",\n  \"version\": {\n    \"Major\": 2,\n    \"Minor\": 13,\n    \"Patch\": 4\n  },\n  \"inputs\": [{\"name\": \"version\"}]\n}\n", string(got))

	_, err = setTaskVersion(raw, "1.2")
	assert.ErrorContains(t, err, "not major.minor.patch")
	_, err = setTaskVersion([]byte(`{"name": "x"}`), "1.2.3")
	assert.ErrorContains(t, err, `want one "version" object, found 0`)
	_, err = setTaskVersion([]byte(`{"version": {"Major": 1, "Minor": 0}}`), "1.2.3")
	assert.ErrorContains(t, err, "needs Major, Minor and Patch")
}

func TestSetVersionAndPublisher(t *testing.T) {
	t.Parallel()
	raw := []byte("{\n  \"manifestVersion\": 1,\n  \"publisher\": \"me\",\n  \"version\": \"1.0.0\",\n  \"name\": \"x\"\n}\n")
	got, err := setVersion(raw, "2.3.4")
	require.NoError(t, err)
	got, err = setPublisher(got, "contoso-bi")
	require.NoError(t, err)
	assert.Equal(t, "{\n  \"manifestVersion\": 1,\n  \"publisher\": \"contoso-bi\",\n  \"version\": \"2.3.4\",\n  \"name\": \"x\"\n}\n", string(got))

	_, err = setVersion(raw, "2.3")
	assert.ErrorContains(t, err, "not major.minor.patch")
	_, err = setVersion(raw, "1.2.3.4")
	assert.ErrorContains(t, err, "not major.minor.patch")
	_, err = setPublisher(raw, "not a publisher")
	assert.ErrorContains(t, err, "not a Marketplace publisher id")
	_, err = setPublisher([]byte(`{"version": "1.0.0"}`), "me")
	assert.ErrorContains(t, err, "no publisher to replace")
}

var guidRe = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// TestCommittedVersionsAndIDs: every committed task.json has the manifest's version (the one
// the packager writes), and an id — a lower-case GUID — and a name of its own.
func TestCommittedVersionsAndIDs(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join("..", "..", manifestName))
	require.NoError(t, err)
	var m manifest
	require.NoError(t, json.Unmarshal(raw, &m))
	want, err := parseVersion(m.Version)
	require.NoError(t, err, "the extension version is the tasks' version, so major.minor.patch")

	files, err := filepath.Glob(filepath.Join("..", "..", "tasks", "*", "task.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	ids, names := map[string]string{}, map[string]string{}
	for _, f := range files {
		folder := filepath.Base(filepath.Dir(f))
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		var task struct {
			ID      string      `json:"id"`
			Name    string      `json:"name"`
			Version taskVersion `json:"version"`
		}
		require.NoError(t, json.Unmarshal(raw, &task), folder)
		assert.Equal(t, want, task.Version, "%s: version %s, the manifest says %s", folder, task.Version, m.Version)
		assert.Regexp(t, guidRe, task.ID, folder)
		if other, dup := ids[task.ID]; dup {
			t.Errorf("%s and %s share the id %s", folder, other, task.ID)
		}
		if other, dup := names[task.Name]; dup {
			t.Errorf("%s and %s share the name %s", folder, other, task.Name)
		}
		ids[task.ID], names[task.Name] = folder, folder
		// What the packager writes is what is committed.
		staged, err := setTaskVersion(raw, m.Version)
		require.NoError(t, err, folder)
		assert.Equal(t, string(raw), string(staged), folder)
	}
}
