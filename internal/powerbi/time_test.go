package powerbi

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTimeUnmarshal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		{in: `"2020-12-13T09:26:43.153"`, want: time.Date(2020, 12, 13, 9, 26, 43, 153e6, time.UTC)},
		{in: `"2020-12-13T09:26:43"`, want: time.Date(2020, 12, 13, 9, 26, 43, 0, time.UTC)},
		{in: `"2020-12-13T09:26:43.1234567"`, want: time.Date(2020, 12, 13, 9, 26, 43, 123456700, time.UTC)},
		{in: `"2020-12-13T09:26:43Z"`, want: time.Date(2020, 12, 13, 9, 26, 43, 0, time.UTC)},
		{in: `"2020-12-13T09:26:43.153Z"`, want: time.Date(2020, 12, 13, 9, 26, 43, 153e6, time.UTC)},
		{in: `"2020-12-13T10:26:43.153+01:00"`, want: time.Date(2020, 12, 13, 9, 26, 43, 153e6, time.UTC)},
		{in: `null`},
		{in: `""`},
		{in: `"13/12/2020"`, wantErr: true},
		{in: `"2020-12-13"`, wantErr: true},
		{in: `12345`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			var got Time
			err := json.Unmarshal([]byte(tt.in), &got)
			if tt.wantErr {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.True(t, tt.want.Equal(got.Time), "got %v, want %v", got.Time, tt.want)
		})
	}
}

func TestTimeMarshal(t *testing.T) {
	t.Parallel()
	loc := time.FixedZone("X", 3600)
	in := Time{time.Date(2020, 12, 13, 10, 26, 43, 153e6, loc)}
	assert.Equal(t, `"2020-12-13T09:26:43.153Z"`, mustJSON(t, in))
	assert.Equal(t, `null`, mustJSON(t, Time{}))

	var back Time
	require.NoError(t, json.Unmarshal([]byte(mustJSON(t, in)), &back))
	assert.True(t, in.Equal(back.Time))
}
