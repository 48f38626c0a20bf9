// Command staxkeys is a self-hosted dashboard that keeps a team's Stax.ai API keys honest.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/staxkeys/staxkeys/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, the next one ends the process at once: an operator who presses
	// Ctrl-C twice does not wait out the drain and the graceful shutdown.
	go func() { <-ctx.Done(); stop() }()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		var exit *cli.ExitError
		if !errors.As(err, &exit) {
			exit = &cli.ExitError{Code: 1, Err: err}
		}
		if exit.Err != nil {
			fmt.Fprintln(os.Stderr, "staxkeys:", exit.Err)
		}
		os.Exit(exit.Code)
	}
}

// run is the whole program; tests call it with their own arguments, environment and streams.
// stdin is there beside the brief's (ctx, args, getenv, stdout, stderr) because
// `admin create --password-stdin` reads from it.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	return cli.Run(ctx, args, cli.Env{Getenv: getenv, Stdin: stdin, Stdout: stdout, Stderr: stderr})
}
