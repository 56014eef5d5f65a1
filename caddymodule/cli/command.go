// Package cli is the `caddy callback` command: it signs test deliveries
// for each preset (sign), sends them (send), and verifies captured
// requests offline with the guard a config puts on a route (verify).
// The callback_guard module imports it, so that a Caddy built with the
// module has the command; verify loads the guard through Caddy's module
// registry, as OfflineGuard.
package cli

import (
	"errors"
	"fmt"
	"strings"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/callbackguard/callbackguard/config"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "callback",
		Usage: "sign|send|verify [<preset>] [flags]",
		Short: "Signs, sends and verifies test payment-provider callbacks (callback_guard)",
		Long:  strings.TrimSpace(callbackLong()),
		CobraFunc: func(cmd *cobra.Command) {
			cmd.SetFlagErrorFunc(flagError)
			cmd.Args = cobra.ArbitraryArgs
			cmd.RunE = withExitCode(func(cmd *cobra.Command, args []string) (int, error) {
				if len(args) > 0 {
					return exitUsage, fmt.Errorf("unknown command %q: want sign, send or verify (see 'caddy callback --help')", args[0])
				}
				_ = cmd.Help()
				return exitOK, nil
			})
			cmd.AddCommand(newSignCommand(), newSendCommand(), newVerifyCommand())
		},
	})
}

// Exit codes of `caddy callback`, documented in its help: scripts and CI
// jobs branch on them.
const (
	// exitOK: the delivery was signed, sent and answered 2xx, or the
	// capture verified.
	exitOK = 0
	// exitFailed: verification failed, or an answer was not 2xx (or never
	// came).
	exitFailed = 1
	// exitUsage: a usage or configuration error (bad flags, unknown preset,
	// unreadable key or capture, a Caddyfile that does not load, no guard
	// on the route).
	exitUsage = 2
)

const exitCodesHelp = `Exit codes:
  0  success: signed; every answer was 2xx; the capture verified
  1  verification failed, or an answer was not 2xx (or never came)
  2  usage or configuration error`

func callbackLong() string {
	return `
Tools for callback_guard: make correctly authenticated test deliveries for
each preset (signed bodies too: --secret), send them to a guarded endpoint, and check captured requests
offline against a Caddyfile.

  caddy callback sign <preset> --to <url> [credentials] [--format curl|http]
      Prints a signed test delivery as a curl command or raw HTTP.

  caddy callback send <preset> --to <url> [credentials] [--repeat N] [--concurrency N]
      Signs and sends it; prints the status, the answer and the time taken.
      Repeats show deduplication at work (X-Callback-Replayed: true).

  caddy callback verify --config <Caddyfile> [--route <path>] [--at <time>] [<capture>|-]
      Verifies a captured request (raw HTTP, from a file or stdin) with the
      guard that the Caddyfile puts on the route, and names the reason when
      it fails.

Presets: ` + strings.Join(config.PresetNames, ", ") + `.
Run 'caddy callback <sign|send|verify> --help' for each command's flags.

` + exitCodesHelp
}

// usageError marks an error as a usage or configuration error (exit 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// codeOf is the exit code for an error: 2 for a usage error, else 1.
func codeOf(err error) int {
	var ue usageError
	if errors.As(err, &ue) {
		return exitUsage
	}
	return exitFailed
}

// errExitFailed ends the process with status 1: caddycmd.Main exits 1 on
// any error that carries no exit code of its own.
var errExitFailed = errors.New("exit status 1")

// withExitCode adapts a function returning an exit code to cobra. The
// error, if any, is printed once, plainly, on stderr (not as a log line);
// the code reaches caddycmd.Main, which exits with it.
func withExitCode(f func(cmd *cobra.Command, args []string) (int, error)) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		code, err := f(cmd, args)
		return exitWith(cmd, code, err)
	}
}

func exitWith(cmd *cobra.Command, code int, err error) error {
	if err != nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "%s: %v\n", cmd.CommandPath(), err)
	}
	cmd.SilenceErrors = true
	switch code {
	case exitOK:
		return nil
	case exitFailed:
		return errExitFailed
	default:
		// caddycmd keeps its exit-code error type to itself; its wrapper
		// makes one for any status above 1 (and logs nothing for a nil
		// error).
		return caddycmd.WrapCommandFuncForCobra(func(caddycmd.Flags) (int, error) {
			return code, nil
		})(cmd, nil)
	}
}

// flagError makes a flag parsing error a usage error (exit 2).
func flagError(cmd *cobra.Command, err error) error {
	return exitWith(cmd, exitUsage, fmt.Errorf("%v (see '%s --help')", err, cmd.CommandPath()))
}
