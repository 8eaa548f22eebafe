package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"unicode"
)

// Exit codes besides 0.
const (
	exitFailure     = 1 // an error answer, an unreachable server, a bad environment
	exitUsage       = 2 // unknown command, wrong arguments or flags
	exitNotApproved = 3 // verify ended without an approval
)

// exitError is an error that ends the program with code; usage, when set,
// is printed after it.
type exitError struct {
	code  int
	err   error
	usage string
}

func (e *exitError) Error() string { return e.err.Error() }

func (e *exitError) Unwrap() error { return e.err }

// exitCode is what the program exits with after run returned err.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if e, ok := errors.AsType[*exitError](err); ok {
		return e.code
	}
	return exitFailure
}

// report writes err, and the usage a usage error carries, to w (stderr, so
// that -json output stays one object) and returns the exit code.
func report(w io.Writer, err error) int {
	if err == nil {
		return 0
	}
	fmt.Fprintln(w, "otpgate:", err)
	if e, ok := errors.AsType[*exitError](err); ok && e.usage != "" {
		fmt.Fprint(w, "\n"+e.usage)
	}
	return exitCode(err)
}

// invocation is what the program was given besides its arguments.
type invocation struct {
	getenv func(string) string
	stdin  io.Reader
	stdout io.Writer // the command's result
	stderr io.Writer // what is not the result: the in-process dev service's notice and log
}

// command is one subcommand.
type command struct {
	name     string
	synopsis string // after "otpgate ", e.g. "lookup [-json] <number>"
	summary  string // one line for the command list
	about    string // the help text
	args     []string
	noJSON   bool
	run      func(ctx context.Context, c *call) error
}

// commands lists the subcommands in the order usage shows them.
var commands = []*command{serveCmd, balanceCmd, lookupCmd, sendCmd, inboundCmd, verifyCmd}

var serveCmd = &command{
	name:     "serve",
	synopsis: "serve",
	summary:  "run the server (what otpgate does without a command)",
	about:    "Runs the otpgate server, configured by environment variables (see README.md).",
	noJSON:   true,
	run: func(ctx context.Context, c *call) error {
		if _, err := c.parse(); err != nil {
			return err
		}
		return serve(ctx, c.getenv, c.stdout)
	},
}

const environmentHelp = `The commands call the otpgate running at OTPGATE_URL (default
http://127.0.0.1:<port of OTPGATE_ADDR>) with the first key of
OTPGATE_ADMIN_KEYS, or in dev mode the dev admin key, which goes only to a
loopback address. In dev mode with OTPGATE_URL unset, when nothing answers
at the default, they run a dev-mode otpgate inside the command.`

// usage is the program's own help.
func usage() string {
	var b strings.Builder
	b.WriteString("usage: otpgate [serve]\n       otpgate <command> [-json] [arguments]\n\ncommands:\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, cmd := range commands {
		fmt.Fprintf(tw, "  %s\t%s\n", cmd.synopsis, cmd.summary)
	}
	tw.Flush()
	fmt.Fprintf(&b, "\n%s\n\nExit codes: 0 ok, 1 failure, 2 usage, 3 verify ended without approval.\n"+
		"\"otpgate <command> -h\" describes a command.\n", environmentHelp)
	return b.String()
}

// dispatch runs the subcommand args name.
func dispatch(ctx context.Context, args []string, inv *invocation) error {
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(inv.stdout, usage())
		return nil
	}
	for _, cmd := range commands {
		if cmd.name == args[0] {
			c := &call{invocation: inv, cmd: cmd, args: args[1:], fs: flag.NewFlagSet(cmd.name, flag.ContinueOnError)}
			c.fs.SetOutput(io.Discard)
			c.fs.Usage = func() {}
			if !cmd.noJSON {
				c.fs.BoolVar(&c.json, "json", false, "print one JSON object instead of text")
			}
			err := cmd.run(ctx, c)
			if errors.Is(err, errHelpShown) {
				return nil
			}
			return err
		}
	}
	return &exitError{code: exitUsage, err: fmt.Errorf("unknown command %q", args[0]), usage: usage()}
}

// errHelpShown ends a command whose -h printed its help.
var errHelpShown = errors.New("help shown")

// call is one run of a subcommand.
type call struct {
	*invocation
	cmd  *command
	args []string
	fs   *flag.FlagSet
	json bool
}

// parse reads the flags, which may come before, between or after the
// arguments ("--" ends them), and returns the arguments. Their number must
// be that of cmd.args. On -h it prints the help and returns errHelpShown.
func (c *call) parse() ([]string, error) {
	var args []string
	rest := c.args
	for {
		if err := c.fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fmt.Fprint(c.stdout, c.help())
				return nil, errHelpShown
			}
			return nil, c.usageError("%v", err)
		}
		consumed := len(rest) - c.fs.NArg()
		ended := consumed > 0 && rest[consumed-1] == "--"
		rest = c.fs.Args()
		if ended {
			args = append(args, rest...)
			break
		}
		if len(rest) == 0 {
			break
		}
		args, rest = append(args, rest[0]), rest[1:]
	}
	if len(args) != len(c.cmd.args) {
		want := "no arguments"
		if n := len(c.cmd.args); n > 0 {
			want = fmt.Sprintf("%d argument%s, %s", n, map[bool]string{true: "s", false: ""}[n > 1], strings.Join(c.cmd.args, " "))
		}
		return nil, c.usageError("%s takes %s; got %d (quote an argument that has spaces)", c.cmd.name, want, len(args))
	}
	return args, nil
}

// help is the command's usage, its text and its flags.
func (c *call) help() string {
	var b strings.Builder
	fmt.Fprintf(&b, "usage: otpgate %s\n\n%s\n", c.cmd.synopsis, c.cmd.about)
	if !c.cmd.noJSON {
		fmt.Fprintf(&b, "\n%s\n", environmentHelp)
	}
	b.WriteString("\nflags:\n")
	c.fs.SetOutput(&b)
	c.fs.PrintDefaults()
	c.fs.SetOutput(io.Discard)
	b.WriteString("  -h\tshow this help\n")
	if len(c.cmd.args) > 0 {
		b.WriteString("\nFlags may come before or after the arguments; \"--\" ends them.\n")
	}
	return b.String()
}

func (c *call) usageError(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf("%s: %s", c.cmd.name, fmt.Sprintf(format, args...)), usage: c.help()}
}

// failf is a failure of the command, exit code 1.
func (c *call) failf(format string, args ...any) error {
	return &exitError{code: exitFailure, err: fmt.Errorf("%s: %w", c.cmd.name, fmt.Errorf(format, args...))}
}

// printJSON writes v as one line of JSON.
func (c *call) printJSON(v any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// printFields writes label, value pairs as two aligned columns, leaving out
// pairs whose value is empty.
func (c *call) printFields(pairs ...string) error {
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] != "" {
			fmt.Fprintf(tw, "%s\t%s\n", pairs[i], printable(pairs[i+1]))
		}
	}
	return tw.Flush()
}

// yesNo is how human output shows a boolean.
func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// printable replaces control characters, so that text from outside (an
// inbound SMS, an upstream's answer) cannot move the cursor, recolour the
// terminal or break the columns.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '\uFFFD'
		}
		return r
	}, s)
}
