package powerbi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Time is a service timestamp. The service writes some with a zone ("…Z") and some without
// ("2020-12-13T09:26:43.153", lastUpdatedTime in the docs' examples); zoneless values are
// UTC.
type Time struct{ time.Time }

// zoneless is RFC 3339 without the offset; fractional seconds are accepted when parsing.
const zoneless = "2006-01-02T15:04:05"

// UnmarshalJSON accepts RFC 3339 with or without a zone, with or without fractional seconds,
// and null or "" as the zero time.
func (t *Time) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		t.Time = time.Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("powerbi: time %s is not a JSON string", b)
	}
	if s == "" {
		t.Time = time.Time{}
		return nil
	}
	if v, err := time.Parse(time.RFC3339Nano, s); err == nil {
		t.Time = v
		return nil
	}
	v, err := time.ParseInLocation(zoneless, s, time.UTC)
	if err != nil {
		return fmt.Errorf("powerbi: time %q is not RFC 3339", s)
	}
	t.Time = v
	return nil
}

// MarshalJSON writes RFC 3339 in UTC, or null for the zero time.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(t.UTC().Format(time.RFC3339Nano))
}
