// Package cli is staxkeys' command line: it parses each command and its settings, and runs
// the server or a one-off command through internal/app, which opens and wires the data.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"strings"

	"github.com/staxkeys/staxkeys/internal/config"
)

// Version is stamped at build time (-ldflags "-X github.com/staxkeys/staxkeys/internal/cli.Version=v1.2.3");
// otherwise it comes from the module's build information.
var Version = ""

// version returns the version string shown by `staxkeys version` and sent as User-Agent.
func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// ExitError asks main to exit with Code after printing Err (if any).
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

func (e *ExitError) Unwrap() error { return e.Err }

// Env is what a command gets from the outside world; tests pass their own.
type Env struct {
	Getenv func(string) string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
}

type command struct {
	name, summary string
	run           func(ctx context.Context, env Env, args []string) error
}

func commands() []command {
	return []command{
		{"serve", "run the web server and the background checker (the default)", runServe},
		{"init", "create the database (and a master key, unless one is set), as the first start of serve does", runInit},
		{"user", "manage users and their roles: create --role, list, set-role", runUser},
		{"admin", "manage admins: create (a user with role admin), list, reset-password, reset-2fa", runAdmin},
		{"token", "manage API tokens: create, list, revoke", runToken},
		{"check", "check every key once (the running server does it, if one runs); exit 0 all valid, 1 revoked/denied, 2 undecided", runCheck},
		{"rotate-master-key", "re-encrypt every key under a new master key", runRotateMasterKey},
		{"backup", "write a consistent copy of the database: backup FILE|-", runBackup},
		{"audit", "the audit trail: verify (exit 1 naming the first broken entry), list", runAudit},
		{"import", "register the keys of a CSV file (label,email,key): import FILE|- [--skip-bad] [--init]", runImport},
		{"export", "write every key's status as CSV, never a key: export [FILE]", runExport},
		{"healthcheck", "ask the running server for /healthz (or --path /readyz, /livez); exit 0 when it answers 200", runHealthcheck},
		{"version", "print the version (also --version, -v)", runVersion},
	}
}

// Run runs the command named by args[0] ("serve" when there is none or args start with a flag).
func Run(ctx context.Context, args []string, env Env) error {
	name := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if name == "help" || (name == "serve" && len(args) == 1 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help")) {
		usage(env.Stdout)
		return nil
	}
	if name == "serve" && len(args) == 1 && (args[0] == "--version" || args[0] == "-version" || args[0] == "-v") {
		name, args = "version", nil
	}
	for _, c := range commands() {
		if c.name == name {
			err := withExitCode(c.run(ctx, env, args))
			if name == "serve" {
				return err // a signal is serve's normal way to stop
			}
			return interrupted(ctx, err)
		}
	}
	usage(env.Stderr)
	return usageError(fmt.Errorf("unknown command %q", name))
}

// runVersion prints the version; `version --help` explains itself like every command.
func runVersion(_ context.Context, env Env, args []string) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(env.Stdout, "Usage: staxkeys version (also staxkeys --version, -v)\n\nPrints the version.\n")
			return nil
		}
		return usageError(fmt.Errorf("%w (see staxkeys version --help)", err))
	}
	if fs.NArg() > 0 {
		return usageError(fmt.Errorf("unexpected argument %q (see staxkeys version --help)", fs.Arg(0)))
	}
	fmt.Fprintln(env.Stdout, "staxkeys", version())
	return nil
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "staxkeys keeps a team's Stax.ai API keys honest.")
	fmt.Fprintln(w, "\nUsage: staxkeys [command] [flags]")
	fmt.Fprintln(w, "\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-18s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'staxkeys COMMAND --help' for a command's arguments and flags. Every command also takes the settings below.")
	fmt.Fprintln(w)
	printExitCodes(w)
	fmt.Fprintln(w)
	config.PrintHelp(w, "staxkeys")
}

// subcommand is one verb of a command group such as "admin create".
type subcommand struct {
	name, summary string
	run           func(ctx context.Context, env Env, args []string) error
}

// dispatch runs the subcommand named by args[0], or explains the group's subcommands.
func dispatch(ctx context.Context, env Env, group string, subs []subcommand, args []string) error {
	names := make([]string, len(subs))
	for i, s := range subs {
		names[i] = s.name
	}
	help := func(w io.Writer) {
		fmt.Fprintf(w, "Usage: staxkeys %s %s [arguments] [flags]\n\n", group, strings.Join(names, "|"))
		for _, s := range subs {
			fmt.Fprintf(w, "  %-16s %s\n", s.name, s.summary)
		}
		fmt.Fprintf(w, "\nRun 'staxkeys %s SUBCOMMAND --help' for a subcommand's flags.\n", group)
	}
	if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help") {
		help(env.Stdout)
		return nil
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		help(env.Stderr)
		return usageError(fmt.Errorf("%s needs a subcommand: %s", group, strings.Join(names, ", ")))
	}
	for _, s := range subs {
		if s.name == args[0] {
			return s.run(ctx, env, args[1:])
		}
	}
	help(env.Stderr)
	return usageError(fmt.Errorf("unknown %s subcommand %q", group, args[0]))
}

// leadingFile takes a FILE operand given before the flags ("staxkeys backup FILE --data-dir …");
// with dash, "-" (standard input or output) counts as a file too.
func leadingFile(args []string, dash bool) (string, []string) {
	if len(args) > 0 && args[0] != "" && (args[0][0] != '-' || (dash && args[0] == "-")) {
		return args[0], args[1:]
	}
	return "", args
}

// parseFlags parses a command's flags together with the shared settings. On --help it prints
// the command's usage and returns a nil *ExitError (exit 0).
func parseFlags(fs *flag.FlagSet, env Env, args []string, about string) (config.Config, error) {
	cfg := config.Default()
	if err := config.Bind(fs, &cfg, env.Getenv); err != nil {
		return cfg, configError(err)
	}
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printCommandHelp(env.Stdout, fs, about)
			return cfg, &ExitError{Code: 0}
		}
		return cfg, usageError(fmt.Errorf("%w (see staxkeys %s --help)", err, fs.Name()))
	}
	if fs.NArg() > 0 {
		return cfg, usageError(fmt.Errorf("unexpected argument %q (see staxkeys %s --help)", fs.Arg(0), fs.Name()))
	}
	if err := cfg.Validate(); err != nil {
		return cfg, configError(err)
	}
	return cfg, nil
}

// operands are the arguments each command takes besides its flags, for its --help.
var operands = map[string]string{
	"backup":       "FILE|-",
	"import":       "FILE|-",
	"export":       "[FILE|-]",
	"token revoke": "ID",
}

func printCommandHelp(w io.Writer, fs *flag.FlagSet, about string) {
	synopsis := fs.Name()
	if op := operands[fs.Name()]; op != "" {
		synopsis += " " + op
	}
	fmt.Fprintf(w, "Usage: staxkeys %s [flags]\n\n%s\n\n", synopsis, about)
	own := false
	fs.VisitAll(func(f *flag.Flag) {
		if isSetting(f.Name) {
			return
		}
		if !own {
			fmt.Fprintln(w, "Flags:")
			own = true
		}
		fmt.Fprintf(w, "  --%-18s %s\n", f.Name, f.Usage)
	})
	if own {
		fmt.Fprintln(w)
	}
	printExitCodes(w)
	fmt.Fprintln(w)
	config.PrintHelp(w, "staxkeys")
}

func isSetting(name string) bool {
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	cfg := config.Default()
	_ = config.Bind(fs, &cfg, func(string) string { return "" })
	return fs.Lookup(name) != nil
}

// newLogger builds the slog logger the configuration asks for, writing to w.
func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// writeJSON prints v as indented JSON, for the --json output of commands.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
