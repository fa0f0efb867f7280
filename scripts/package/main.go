// Command package stages the extension under dist/extension exactly as the .vsix holds
// it: vss-extension.json and the files it lists, and for every task folder its
// task.json, the Node launcher as run.js and the task's Go binary cross-compiled for each
// agent platform under bin/<platform>/task[.exe].
//
//	go run ./scripts/package [-out dist/extension] [-platforms linux-x64,win-x64] [-version 1.2.3] [-publisher id] [-bundle [-quality 11]]
//
// With -bundle each task's binaries travel as one Brotli stream that the launcher unpacks
// on first use (see bundle.go and scripts/launcher/run.js): that is the published form.
// Every staged task.json takes the manifest's version (see version.go).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run parses the command line and stages; it returns the process exit code.
func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("package", flag.ContinueOnError)
	fs.SetOutput(stderr)
	opts := Options{GoCmd: "go", Environ: environ}
	var platforms string
	fs.StringVar(&opts.Root, "root", ".", "repository root (holds vss-extension.json, tasks/ and scripts/launcher/run.js)")
	fs.StringVar(&opts.Out, "out", "dist/extension", "output folder; removed and recreated")
	fs.StringVar(&platforms, "platforms", strings.Join(PlatformNames(), ","), "comma-separated platforms to build")
	fs.StringVar(&opts.Version, "version", "", "version (major.minor.patch) to write into the staged manifest and every task.json (default: the manifest's)")
	fs.StringVar(&opts.Publisher, "publisher", "", "Marketplace publisher id to write into the staged manifest (default: as committed)")
	fs.IntVar(&opts.Jobs, "j", min(2, runtime.NumCPU()), "builds to run at once")
	fs.BoolVar(&opts.Bundle, "bundle", false, "pack each task's binaries into one Brotli bundle (bin/bundle.br), as published")
	fs.IntVar(&opts.Quality, "quality", 11, "Brotli quality of the bundle, 1-11")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "package: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	var err error
	if opts.Platforms, err = ParsePlatforms(platforms); err != nil {
		fmt.Fprintln(stderr, "package:", err)
		return 2
	}
	if err := Stage(ctx, opts, stdout); err != nil {
		fmt.Fprintln(stderr, "package:", err)
		return 1
	}
	return 0
}
