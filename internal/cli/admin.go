package cli

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/internal/app"
	"github.com/staxkeys/staxkeys/internal/password"
	"github.com/staxkeys/staxkeys/keys"
	"github.com/staxkeys/staxkeys/store"
)

func runAdmin(ctx context.Context, env Env, args []string) error {
	return dispatch(ctx, env, "admin", []subcommand{
		{"create", "create an admin (password on standard input)", runAdminCreate},
		{"list", "list the users (as user list)", runAdminList},
		{"reset-password", "set a new password and end the user's sessions", runAdminResetPassword},
		{"reset-2fa", "remove the user's second factors (a lost phone)", runAdminReset2FA},
	}, args)
}

func runUser(ctx context.Context, env Env, args []string) error {
	return dispatch(ctx, env, "user", []subcommand{
		{"create", "create a user with a role (password on standard input)", runUserCreate},
		{"list", "list the users and their roles", runAdminList},
		{"set-role", "change a user's role and end their sessions", runUserSetRole},
		{"reset-password", "set a new password and end the user's sessions", runAdminResetPassword},
	}, args)
}

// roleFlag reads --role: one of domain.Roles.
func roleFlag(v string) (domain.Role, error) {
	r := domain.Role(strings.TrimSpace(v))
	if !r.Valid() {
		return "", usageError(fmt.Errorf("--role: %q is not a role; give viewer, editor or admin", v))
	}
	return r, nil
}

// runAdminCreate creates an admin without a browser: for automation and recovery. It is
// user create with the role admin.
func runAdminCreate(ctx context.Context, env Env, args []string) error {
	return createUser(ctx, env, "admin create", args, domain.RoleAdmin)
}

// runUserCreate creates a user with --role (viewer unless given).
func runUserCreate(ctx context.Context, env Env, args []string) error {
	return createUser(ctx, env, "user create", args, "")
}

// createUser creates a user; role "" means the --role flag chooses. It works while a server
// runs on the same data directory.
func createUser(ctx context.Context, env Env, name string, args []string, role domain.Role) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	email := fs.String("email", "", "the new user's email")
	fromStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input")
	initDB := fs.Bool("init", false, "create the database (and a master key, when none is set) if the data directory has none")
	roleName := new(string)
	about := "Creates an admin. The password is read from standard input, never from a flag."
	if role == "" {
		roleName = fs.String("role", "", "viewer, editor or admin (required)")
		about = "Creates a user with a role. The password is read from standard input, never from a flag."
	}
	cfg, err := parseFlags(fs, env, args, about)
	if err != nil {
		return err
	}
	if role == "" {
		if role, err = roleFlag(*roleName); err != nil {
			return err
		}
	}
	if msg := keys.CheckEmail(strings.TrimSpace(*email)); msg != "" {
		return usageError(fmt.Errorf("--email: %s", msg))
	}
	pw, err := readPassword(env, *fromStdin)
	if err != nil {
		return err
	}
	hash, err := password.Hash(pw)
	if err != nil {
		return err
	}
	data, err := app.Open(ctx, cfg, newLogger(cfg, env.Stderr), app.InitMode(*initDB))
	if err != nil {
		return err
	}
	defer data.DB.Close()
	a, err := data.Accounts().CreateAdmin(ctx, domain.CLIPrincipal, strings.TrimSpace(*email), hash, role)
	if errors.Is(err, domain.ErrConflict) {
		return &ExitError{Code: 1, Err: fmt.Errorf("a user with email %s already exists", strings.TrimSpace(*email))}
	}
	if err != nil {
		return err
	}
	if role == domain.RoleAdmin && name == "admin create" {
		fmt.Fprintf(env.Stdout, "created admin %d (%s)\n", a.ID, a.Email)
	} else {
		fmt.Fprintf(env.Stdout, "created user %d (%s) with role %s\n", a.ID, a.Email, a.Role)
	}
	return nil
}

// runUserSetRole changes a user's role; the last admin cannot be demoted.
func runUserSetRole(ctx context.Context, env Env, args []string) error {
	fs := flag.NewFlagSet("user set-role", flag.ContinueOnError)
	email := fs.String("email", "", "the user's email")
	roleName := fs.String("role", "", "viewer, editor or admin")
	cfg, err := parseFlags(fs, env, args, "Changes a user's role and logs them out everywhere, so it applies at once.")
	if err != nil {
		return err
	}
	role, err := roleFlag(*roleName)
	if err != nil {
		return err
	}
	data, err := app.Open(ctx, cfg, newLogger(cfg, env.Stderr), app.MustExist)
	if err != nil {
		return err
	}
	defer data.DB.Close()
	a, err := userByEmail(ctx, data, *email)
	if err != nil {
		return err
	}
	_, err = data.Accounts().SetRole(ctx, domain.CLIPrincipal, a.ID, role)
	if errors.Is(err, store.ErrLastAdmin) {
		return &ExitError{Code: 1, Err: fmt.Errorf("%s is the last admin and cannot be demoted; make another user an admin first", a.Email)}
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "%s is now %s\n", a.Email, role)
	return nil
}

func runAdminList(ctx context.Context, env Env, args []string) error {
	fs := flag.NewFlagSet("admin list", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print a JSON array")
	cfg, err := parseFlags(fs, env, args, "Lists the users and their roles.")
	if err != nil {
		return err
	}
	db, err := app.OpenStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	admins, err := db.ListAdmins(ctx)
	if err != nil {
		return err
	}
	if *asJSON {
		type adminJSON struct {
			ID        int64       `json:"id"`
			Email     string      `json:"email"`
			Role      domain.Role `json:"role"`
			CreatedAt time.Time   `json:"created_at"`
		}
		out := make([]adminJSON, 0, len(admins))
		for _, a := range admins {
			out = append(out, adminJSON{a.ID, a.Email, a.Role, a.CreatedAt.UTC()})
		}
		return writeJSON(env.Stdout, out)
	}
	tw := tabwriter.NewWriter(env.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tEMAIL\tROLE\tCREATED")
	for _, a := range admins {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", a.ID, a.Email, a.Role, a.CreatedAt.Format("2006-01-02 15:04"))
	}
	return tw.Flush()
}

// runAdminResetPassword sets a new password and ends the admin's sessions.
func runAdminResetPassword(ctx context.Context, env Env, args []string) error {
	fs := flag.NewFlagSet("admin reset-password", flag.ContinueOnError)
	email := fs.String("email", "", "the admin's email")
	fromStdin := fs.Bool("password-stdin", false, "read the new password from the first line of standard input")
	cfg, err := parseFlags(fs, env, args, "Sets a new password for an admin and logs them out everywhere.")
	if err != nil {
		return err
	}
	pw, err := readPassword(env, *fromStdin)
	if err != nil {
		return err
	}
	hash, err := password.Hash(pw)
	if err != nil {
		return err
	}
	data, err := app.Open(ctx, cfg, newLogger(cfg, env.Stderr), app.MustExist)
	if err != nil {
		return err
	}
	defer data.DB.Close()
	a, err := userByEmail(ctx, data, *email)
	if err != nil {
		return err
	}
	if _, err := data.Accounts().SetPassword(ctx, domain.CLIPrincipal, a.ID, hash); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "password of %s changed; their sessions were ended\n", a.Email)
	return nil
}

func readPassword(env Env, fromStdin bool) (string, error) {
	if !fromStdin {
		return "", usageError(errors.New("pass --password-stdin and the password on standard input (never as a flag, where other users could see it)"))
	}
	line, err := bufio.NewReader(env.Stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", usageError(errors.New("no password on standard input"))
	}
	pw := strings.TrimRight(line, "\r\n")
	if msg := password.Check(pw); msg != "" {
		return "", usageError(errors.New(msg))
	}
	return pw, nil
}

// runAdminReset2FA removes every second factor of an admin who lost them, so they can log in
// with their password and enrol again. It works while a server runs on the same data directory.
func runAdminReset2FA(ctx context.Context, env Env, args []string) error {
	fs := flag.NewFlagSet("admin reset-2fa", flag.ContinueOnError)
	email := fs.String("email", "", "the admin's email")
	cfg, err := parseFlags(fs, env, args, "Removes an admin's authenticator app, recovery codes and passkeys.")
	if err != nil {
		return err
	}
	data, err := app.Open(ctx, cfg, newLogger(cfg, env.Stderr), app.MustExist)
	if err != nil {
		return err
	}
	defer data.DB.Close()
	a, err := userByEmail(ctx, data, *email)
	if err != nil {
		return err
	}
	had, err := data.Factors().Reset(ctx, domain.CLIPrincipal, a.ID)
	if err != nil {
		return err
	}
	if had {
		fmt.Fprintf(env.Stdout, "second factors of %s removed; they log in with their password and can enrol again\n", a.Email)
	} else {
		fmt.Fprintf(env.Stdout, "%s had no second factor\n", a.Email)
	}
	return nil
}

// userByEmail finds the user a command names; an unknown email fails the command (exit 1).
func userByEmail(ctx context.Context, data *app.Data, email string) (domain.Admin, error) {
	email = strings.TrimSpace(email)
	a, err := data.DB.AdminByEmail(ctx, email)
	if errors.Is(err, domain.ErrNotFound) {
		return a, &ExitError{Code: 1, Err: fmt.Errorf("no user has email %q", email)}
	}
	return a, err
}
