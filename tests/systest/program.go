// Package systest runs the whole staxkeys program the way an operator does, for the system
// tests (upstream faults, crash safety, secret hygiene) and the load tool: either in this
// process through cli.Run, or as a built binary, with every byte it writes captured.
//
// It imports no testing package: tests wrap its errors, and the load tool uses it as it is.
package systest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/staxkeys/staxkeys/internal/cli"
)

// StartTimeout bounds how long a program may take to start listening; generous, because CI
// machines can be slow and a healthy start takes milliseconds.
const StartTimeout = 30 * time.Second

// Log collects what a program writes. Writers may be concurrent; Wait wakes on every write.
type Log struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	changed chan struct{} // closed and replaced on every write
}

// NewLog returns an empty Log.
func NewLog() *Log { return &Log{changed: make(chan struct{})} }

// Write appends p and wakes the waiters.
func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, err := l.buf.Write(p)
	close(l.changed)
	l.changed = make(chan struct{})
	return n, err
}

// String returns everything written so far.
func (l *Log) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Bytes returns a copy of everything written so far.
func (l *Log) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.buf.Bytes())
}

// Wait waits until re matches the log and returns its submatches. It gives up when ctx ends
// or stop is closed (the program exited), returning the log so far in the error.
func (l *Log) Wait(ctx context.Context, re *regexp.Regexp, stop <-chan struct{}) ([]string, error) {
	for {
		l.mu.Lock()
		m := re.FindStringSubmatch(l.buf.String())
		changed := l.changed
		l.mu.Unlock()
		if m != nil {
			return m, nil
		}
		select {
		case <-changed:
		case <-stop:
			if m := re.FindStringSubmatch(l.String()); m != nil {
				return m, nil
			}
			return nil, fmt.Errorf("systest: the program exited before logging %s; log:\n%s", re, l.String())
		case <-ctx.Done():
			return nil, fmt.Errorf("systest: no %s: %w; log:\n%s", re, ctx.Err(), l.String())
		}
	}
}

// Options says how to start staxkeys serve.
type Options struct {
	// Bin is a built staxkeys binary; "" runs the program in this process through cli.Run.
	Bin string
	// Env holds the STAXKEYS_* settings. The program sees nothing else of this process's
	// environment except, for a binary, what a process needs to run (PATH, HOME, TMPDIR).
	Env map[string]string
	// Args follow "serve", e.g. --addr 127.0.0.1:0.
	Args []string
	// Log receives stdout and stderr; a new Log if nil.
	Log *Log
}

// Program is a running staxkeys server.
type Program struct {
	// URL is the base address the server logged, e.g. http://127.0.0.1:41234.
	URL string
	// Log is everything the program wrote to stdout and stderr.
	Log *Log

	cmd    *exec.Cmd          // binary mode
	cancel context.CancelFunc // in-process mode
	done   chan struct{}
	err    error
}

var listening = regexp.MustCompile(`msg="staxkeys listening" url=(\S+)`)

// Start starts `staxkeys serve` and waits until it listens. The log must be in the text format
// (the default), where the listening line is found.
func Start(ctx context.Context, o Options) (*Program, error) {
	p := &Program{Log: o.Log, done: make(chan struct{})}
	if p.Log == nil {
		p.Log = NewLog()
	}
	args := append([]string{"serve"}, o.Args...)
	if o.Bin == "" {
		runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		p.cancel = cancel
		go func() {
			defer close(p.done)
			p.err = cli.Run(runCtx, args, cli.Env{Getenv: Getenv(o.Env), Stdin: strings.NewReader(""), Stdout: p.Log, Stderr: p.Log})
		}()
	} else {
		p.cmd = exec.Command(o.Bin, args...)
		p.cmd.Env = Environ(o.Env)
		p.cmd.Stdout, p.cmd.Stderr = p.Log, p.Log
		if err := p.cmd.Start(); err != nil {
			return nil, fmt.Errorf("systest: start %s: %w", o.Bin, err)
		}
		go func() {
			defer close(p.done)
			p.err = p.cmd.Wait()
		}()
	}
	wctx, cancel := context.WithTimeout(ctx, StartTimeout)
	defer cancel()
	m, err := p.Log.Wait(wctx, listening, p.done)
	if err != nil {
		p.Kill()
		return nil, err
	}
	p.URL = m[1]
	return p, nil
}

// Done is closed when the program has exited.
func (p *Program) Done() <-chan struct{} { return p.done }

// Err is what the program returned (in process) or how the process ended; valid after Done.
func (p *Program) Err() error { return p.err }

// Stop asks the program to finish as SIGTERM does and waits for it, returning its result.
func (p *Program) Stop() error {
	if p.cmd != nil {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	} else {
		p.cancel()
	}
	select {
	case <-p.done:
		return p.err
	case <-time.After(StartTimeout):
		p.Kill()
		return errors.New("systest: the program did not stop within " + StartTimeout.String())
	}
}

// Kill ends the program at once: SIGKILL for a binary, so nothing is flushed or closed. In
// process there is no such thing; Kill cancels and waits like Stop.
func (p *Program) Kill() {
	if p.cmd != nil {
		_ = p.cmd.Process.Kill()
		<-p.done
		return
	}
	p.cancel()
	<-p.done
}

// Command runs a one-off staxkeys command (admin create, token create, backup, ...) to
// completion, in process when bin is "".
func Command(ctx context.Context, bin string, env map[string]string, stdin string, args ...string) (stdout, stderr string, err error) {
	var out, errOut bytes.Buffer
	if bin == "" {
		err = cli.Run(ctx, args, cli.Env{Getenv: Getenv(env), Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errOut})
		return out.String(), errOut.String(), err
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = Environ(env)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// CreateToken runs `staxkeys token create --name name` and returns the token: the last line
// the command prints.
func CreateToken(ctx context.Context, bin string, env map[string]string, name string) (string, error) {
	if err := Init(ctx, bin, env); err != nil {
		return "", err
	}
	out, errOut, err := Command(ctx, bin, env, "", "token", "create", "--name", name)
	if err != nil {
		return "", fmt.Errorf("systest: token create: %w; %s", err, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	tok := strings.TrimSpace(lines[len(lines)-1])
	if !strings.HasPrefix(tok, "sk_") {
		return "", fmt.Errorf("systest: token create printed no token: %q", out)
	}
	return tok, nil
}

// Init runs `staxkeys init`, creating the database of env's data directory as the first start
// of a server would: commands other than serve refuse a data directory without one.
func Init(ctx context.Context, bin string, env map[string]string) error {
	_, errOut, err := Command(ctx, bin, env, "", "init")
	if err != nil {
		return fmt.Errorf("systest: init: %w; %s", err, errOut)
	}
	return nil
}

// CreateAdmin runs `staxkeys admin create --init --email email --password-stdin`.
func CreateAdmin(ctx context.Context, bin string, env map[string]string, email, password string) error {
	_, errOut, err := Command(ctx, bin, env, password+"\n", "admin", "create", "--init", "--email", email, "--password-stdin")
	if err != nil {
		return fmt.Errorf("systest: admin create: %w; %s", err, errOut)
	}
	return nil
}

// Getenv looks settings up in vars.
func Getenv(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// Environ is the environment of a staxkeys process: vars, and of this process only what any
// process needs, so a STAXKEYS_* variable of the machine running the tests cannot leak in.
func Environ(vars map[string]string) []string {
	var env []string
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "GOCOVERDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	// Tests stop servers all the time and nothing routes to them: no drain unless asked for.
	if _, ok := vars["STAXKEYS_SHUTDOWN_DRAIN"]; !ok {
		env = append(env, "STAXKEYS_SHUTDOWN_DRAIN=0")
	}
	for k, v := range vars {
		env = append(env, k+"="+v)
	}
	return env
}

// ClosedPort returns a local address nothing listens on (it was free a moment ago), for an
// upstream that refuses connections.
func ClosedPort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}
