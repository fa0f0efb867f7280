// Command pbi-emulator runs the Power BI emulator (internal/emulator) on loopback until
// interrupted, so that the tasks and the demo can run against it without a tenant.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/pbi-pipelines/azdo-extension/internal/emulator"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.WriteFile); err != nil {
		fmt.Fprintln(os.Stderr, "pbi-emulator:", err)
		stop()
		os.Exit(2)
	}
}

// run parses the flags, starts the emulator, prints how to use it and serves until ctx ends.
func run(ctx context.Context, args []string, stdout io.Writer, writeFile func(string, []byte, os.FileMode) error) error {
	fs := flag.NewFlagSet("pbi-emulator", flag.ContinueOnError)
	fs.SetOutput(stdout)
	addr := fs.String("addr", "127.0.0.1:7443", "loopback address to listen on")
	seedPath := fs.String("seed", "", "seed JSON file (default: the built-in demo seed)")
	caOut := fs.String("ca-out", "", "write the emulator's CA certificate (PEM) to this file")
	deployDuration := fs.Duration("deploy-duration", 3*time.Second, "how long a deployment takes")
	verbose := fs.Bool("v", false, "log every request")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}

	seed := emulator.DemoSeed()
	if *seedPath != "" {
		var err error
		if seed, err = emulator.LoadSeed(*seedPath); err != nil {
			return err
		}
	}
	opts := emulator.Options{Addr: *addr, Seed: seed, DeployDuration: *deployDuration}
	if *verbose {
		opts.Logf = func(format string, a ...any) { fmt.Fprintf(stdout, format+"\n", a...) }
	}
	srv, err := emulator.Start(opts)
	if err != nil {
		return err
	}
	defer srv.Close()

	if *caOut != "" {
		if err := writeFile(*caOut, srv.CACertPEM, 0o644); err != nil {
			return fmt.Errorf("writing the CA certificate: %w", err)
		}
	}
	printUsage(stdout, srv, seed, *caOut)
	<-ctx.Done()
	fmt.Fprintln(stdout, "pbi-emulator: stopping")
	return nil
}

func printUsage(w io.Writer, srv *emulator.Server, seed *emulator.Seed, caPath string) {
	fmt.Fprintf(w, "Power BI emulator listening on %s\n", srv.URL)
	if caPath != "" {
		fmt.Fprintf(w, "CA certificate: %s (trust it, e.g. AGENT_CAINFO=%s or SSL_CERT_FILE=%s)\n", caPath, caPath, caPath)
	} else {
		fmt.Fprintln(w, "CA certificate: not written (use -ca-out FILE to trust the emulator)")
	}
	fmt.Fprintln(w, "Point a task at it with a PowerBIDeploymentPipelines connection, environment Custom:")
	fmt.Fprintf(w, "  apiUrl        = %s\n", srv.URL)
	fmt.Fprintf(w, "  authorityHost = %s\n", srv.URL)
	fmt.Fprintf(w, "  resource      = %s\n", srv.Resource())
	fmt.Fprintf(w, "  tenant id     = %s\n", seed.TenantID)
	for _, a := range seed.Apps {
		if a.Secret != "" {
			fmt.Fprintf(w, "  service principal: client id %s, secret %s\n", a.ClientID, a.Secret)
		}
	}
	fmt.Fprintf(w, "Control routes: POST/DELETE %s/_emulator/faults, GET %s/_emulator/state, GET %s/_emulator/requests\n", srv.URL, srv.URL, srv.URL)
	fmt.Fprintln(w, "Press Ctrl+C to stop.")
}
