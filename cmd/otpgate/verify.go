package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/otpgate/otpgate/client"
)

var verifyCmd = &command{
	name:     "verify",
	synopsis: "verify [-json] <number>",
	summary:  "send a code to a number, then check the code typed",
	about: `Starts a verification of <number> (POST /v1/verifications), reads the code
from standard input (prompting "code: " unless -json) and checks it. A wrong
code is reported with the attempts left and another is read, while attempts
remain and input does; one the service refuses unread (not a code at all)
costs no attempt. Exits 0 when approved and 3 when the verification
ended without approval (no attempts left, expired, no more input, or gone
from the service meanwhile: status "not_found" with -json). In
in-process dev mode the sandbox's SMS line, with the code, is printed on
standard error, so a terminal shows it and -json output stays one object.`,
	args: []string{"<number>"},
	run:  runVerify,
}

// statusNotFound is verify's status for a verification the service no
// longer knows; the API's own statuses are the others.
const statusNotFound = "not_found"

// verifyJSON is verify's -json output; it never holds the code.
type verifyJSON struct {
	ID           string `json:"id"`
	To           string `json:"to"`
	Status       string `json:"status"`
	Approved     bool   `json:"approved"`
	AttemptsLeft int    `json:"attempts_left"`
	Checks       int    `json:"checks"` // codes compared by this command
}

func runVerify(ctx context.Context, c *call) error {
	args, err := c.parse()
	if err != nil {
		return err
	}
	typed := args[0]
	t, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer t.close()
	v, resp, err := t.cl.Start(ctx, &client.StartParams{To: typed})
	if client.IsCooldown(err) {
		return c.failf("a code went to %s less than the resend cooldown ago; try again in %s: %w", typed, retryAfter(err), err)
	}
	if err != nil {
		return c.failf("%w", err)
	}
	res := verifyJSON{ID: v.ID, To: v.To, Status: v.Status, AttemptsLeft: v.AttemptsLeft}
	if !c.json {
		what := "sent a code to"
		if resp != nil && resp.StatusCode == 200 {
			what = "sent a new code to" // a pending verification of the number was resent
		}
		if err := c.printFields("verification", v.ID, what, typed,
			"attempts", fmt.Sprint(v.AttemptsLeft), "expires", v.ExpiresAt.Local().Format("15:04:05")); err != nil {
			return err
		}
	}

	codes := readLines(ctx, c.stdin)
guesses:
	for res.Status == "pending" {
		if !c.json {
			fmt.Fprint(c.stdout, "code: ")
		}
		var code string
		select {
		case <-ctx.Done():
			return c.failf("%w", ctx.Err())
		case line, ok := <-codes:
			if !ok {
				break guesses
			}
			code = line
		}
		checked, _, err := t.cl.Check(ctx, v.ID, &client.CheckParams{Code: code})
		if client.IsNotPending(err) {
			// Expired or finished meanwhile; the 409 says what it is now.
			if e, ok := errors.AsType[*client.Error](err); ok && e.VerificationStatus != "" {
				res.Status = e.VerificationStatus
			}
			break
		}
		if e, ok := errors.AsType[*client.Error](err); ok && e.Code == client.CodeVerificationNotFound {
			// Gone meanwhile (past its retention, say): it can no longer
			// be approved, an ending like expiry, not a failure.
			res.Status = statusNotFound
			break
		}
		if client.IsInvalidRequest(err) {
			// A malformed code is refused before it is compared, so it
			// costs no attempt: ask again.
			if !c.json {
				fmt.Fprintln(c.stdout, "not a code the service accepts; try again")
			}
			continue
		}
		if err != nil {
			return c.failf("%w", err)
		}
		res.Checks++
		res.Status, res.Approved, res.AttemptsLeft = checked.Status, checked.Valid, checked.AttemptsLeft
		if !c.json && !checked.Valid && checked.Status == "pending" {
			fmt.Fprintf(c.stdout, "wrong code, %d attempt%s left\n", checked.AttemptsLeft, plural(checked.AttemptsLeft))
		}
	}

	if c.json {
		if err := c.printJSON(res); err != nil {
			return err
		}
	} else if err := c.printOutcome(res); err != nil {
		return err
	}
	if !res.Approved {
		return &exitError{code: exitNotApproved, err: fmt.Errorf("verify: %s was not verified (%s)", typed, outcome(res))}
	}
	return nil
}

// printOutcome is the last line of verify's human output.
func (c *call) printOutcome(res verifyJSON) error {
	if res.Status == "pending" {
		// The question ended the line the answer never came to.
		fmt.Fprintln(c.stdout)
	}
	_, err := fmt.Fprintln(c.stdout, outcome(res))
	return err
}

// outcome says how a verification ended, in words.
func outcome(res verifyJSON) string {
	switch {
	case res.Approved:
		return "approved"
	case res.Status == "max_attempts_reached":
		return "wrong code, no attempts left: max attempts reached"
	case res.Status == statusNotFound:
		return "not approved: the service no longer knows the verification"
	case res.Status == "pending":
		return fmt.Sprintf("no code entered; %d attempt%s left until it expires", res.AttemptsLeft, plural(res.AttemptsLeft))
	}
	return "not approved: the verification is " + strings.ReplaceAll(res.Status, "_", " ")
}

// readLines sends the non-blank lines of r, trimmed, until r ends or ctx
// is done. Reading runs in its own goroutine so that an interrupt at the
// prompt ends the command; that goroutine stays blocked on r until it
// yields a line or ends, which the exiting process does not wait for.
func readLines(ctx context.Context, r io.Reader) <-chan string {
	lines := make(chan string)
	if r == nil {
		close(lines)
		return lines
	}
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" {
				continue
			}
			select {
			case lines <- line:
			case <-ctx.Done():
				return
			}
		}
	}()
	return lines
}

// retryAfter is the wait a refusal asked for, for a message.
func retryAfter(err error) string {
	if e, ok := errors.AsType[*client.Error](err); ok && e.RetryAfter > 0 {
		return e.RetryAfter.String()
	}
	return "a while"
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
