package main

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRunPrintsHowToUseTheEmulator(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // serve nothing: start, print, stop
	var out bytes.Buffer
	written := map[string][]byte{}
	err := run(ctx, []string{"-addr", "127.0.0.1:0", "-ca-out", "ca.pem", "-deploy-duration", "1s"}, &out,
		func(name string, b []byte, _ os.FileMode) error { written[name] = b; return nil })
	require.NoError(t, err)
	assert.Contains(t, string(written["ca.pem"]), "BEGIN CERTIFICATE")
	for _, want := range []string{"https://127.0.0.1:", "apiUrl", "authorityHost", "resource      = https://analysis.windows.net/powerbi/api", "ca.pem"} {
		assert.Contains(t, out.String(), want)
	}
}

func TestRunRejectsBadFlags(t *testing.T) {
	t.Parallel()
	noWrite := func(string, []byte, os.FileMode) error { return nil }
	var out bytes.Buffer
	assert.Error(t, run(context.Background(), []string{"-nope"}, &out, noWrite))
	assert.Error(t, run(context.Background(), []string{"-addr", "0.0.0.0:0"}, &out, noWrite))
	assert.Error(t, run(context.Background(), []string{"-seed", "/does/not/exist.json"}, &out, noWrite))
	assert.NoError(t, run(context.Background(), []string{"-h"}, &out, noWrite))
}
