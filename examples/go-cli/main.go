// Command greet is a small CLI instrumented with telemetry-kit: each run records one command
// event named by the subcommand, with the names of the flags given (never their values), its
// duration and its outcome.
//
//	(cd examples/go-cli && go run . hello -shout world)
//	(cd examples/go-cli && TELEMETRY_KIT_DEBUG=1 go run . count -to 3)
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"

	telemetrykit "github.com/telemetry-kit/telemetry-kit/client/go"
)

func run(telemetry *telemetrykit.Client, args []string) (err error) {
	if len(args) == 0 {
		return errors.New("usage: greet hello [-shout] NAME | greet count [-to N]")
	}
	flags := flag.NewFlagSet(args[0], flag.ContinueOnError)
	shout := flags.Bool("shout", false, "shout")
	to := flags.Int("to", 3, "count to")
	if err := flags.Parse(args[1:]); err != nil {
		return err
	}
	var given []string
	flags.Visit(func(f *flag.Flag) { given = append(given, f.Name) }) // names only, never values
	sort.Strings(given)

	cmd := telemetry.StartCommand(args[0]).Str("options", strings.Join(given, ","))
	defer cmd.End(&err) // duration, and failure if run returns an error or panics
	switch args[0] {
	case "hello":
		text := "hello, " + strings.Join(flags.Args(), " ")
		if *shout {
			text = strings.ToUpper(text)
		}
		fmt.Println(text)
	case "count":
		for i := 1; i <= *to; i++ {
			fmt.Print(i, " ")
		}
		fmt.Println()
	default:
		return fmt.Errorf("unknown command %q", args[0])
	}
	return nil
}

func main() {
	// The three lines: a client, Close at the end (Exit = Close + os.Exit), a timed command in run.
	config := telemetrykit.Config{Tool: "greet", Version: "1.0.0"}
	// Opt-in (the default): ask once on a terminal, never in CI or when opted out; the agent keeps the answer.
	telemetrykit.AskConsentOnce(config, telemetrykit.ConsentPrompt{})
	telemetry := telemetrykit.New(config)
	if err := run(telemetry, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		telemetry.Exit(2)
	}
	telemetry.Exit(0)
}
