package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/dbfleet/terraform-provider-dbfleet/backend/api"
	"github.com/dbfleet/terraform-provider-dbfleet/backend/store"
)

const tokenUsage = `usage:
  dbfleetd token create --scope read|write|admin [--name NAME] (--config FILE | --data-dir DIR)
  dbfleetd token list (--config FILE | --data-dir DIR)
  dbfleetd token revoke NAME (--config FILE | --data-dir DIR)`

// runToken manages the API tokens of a state file. The token create prints
// is shown once: only its hash is stored.
func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New(tokenUsage)
	}
	command := args[0]
	flags := flag.NewFlagSet("token "+command, flag.ContinueOnError)
	flags.SetOutput(stderr)
	configPath := flags.String("config", "", "the serve configuration file; its state_path or store holds the tokens")
	dataDir := flags.String("data-dir", "", "a dev data directory; its state.db holds the tokens")
	scope := flags.String("scope", "", "create: the token's scope, read, write or admin")
	name := flags.String("name", "", "create: the token's name (default: the scope and a random suffix)")
	positional, err := parseInterspersed(flags, args[1:])
	if err != nil {
		return err
	}
	storeLocation, err := tokenStore(*configPath, *dataDir)
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, storeLocation, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()

	switch command {
	case "create":
		if len(positional) > 0 {
			return fmt.Errorf("token create takes no arguments, got %q\n%s", positional, tokenUsage)
		}
		if *scope == "" {
			return fmt.Errorf("token create needs --scope read, write or admin\n%s", tokenUsage)
		}
		created, token, err := api.TokenCreate(ctx, st, *name, *scope)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "Created token %s with scope %s. It is shown once, now: store it where it is needed.\n", created, *scope)
		fmt.Fprintln(stdout, token)
		return nil
	case "list":
		if len(positional) > 0 {
			return fmt.Errorf("token list takes no arguments, got %q\n%s", positional, tokenUsage)
		}
		tokens, err := st.TokenList(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tSCOPE\tCREATED")
		for _, t := range tokens {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", t.Name, t.Scope, t.CreatedAt.Format(time.RFC3339))
		}
		return tw.Flush()
	case "revoke":
		if len(positional) != 1 {
			return fmt.Errorf("token revoke takes the token's name\n%s", tokenUsage)
		}
		if err := api.TokenRevoke(ctx, st, positional[0]); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("no token is named %s; dbfleetd token list shows the names", positional[0])
			}
			return err
		}
		fmt.Fprintf(stderr, "Revoked token %s.\n", positional[0])
		return nil
	default:
		return fmt.Errorf("unknown token command %q\n%s", command, tokenUsage)
	}
}

// parseInterspersed parses flags placed before or after the positional
// arguments (token revoke NAME --config FILE) and returns the positional
// ones.
func parseInterspersed(flags *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := flags.Parse(args); err != nil {
			return nil, err
		}
		if flags.NArg() == 0 {
			return positional, nil
		}
		positional = append(positional, flags.Arg(0))
		args = flags.Args()[1:]
	}
}

// tokenStore is the state store of --config or of --data-dir; a SQLite file
// must exist, so that a mistyped path does not make a new, empty store.
func tokenStore(configPath, dataDir string) (string, error) {
	var path string
	switch {
	case configPath != "" && dataDir != "":
		return "", errors.New("give either --config or --data-dir, not both")
	case configPath != "":
		cfg, err := readServeConfig(configPath)
		if err != nil {
			return "", err
		}
		if path, err = cfg.storeLocation(); err != nil {
			return "", fmt.Errorf("config %s: %w", configPath, err)
		}
		if store.IsPostgresDSN(path) {
			return path, nil
		}
	case dataDir != "":
		path = filepath.Join(dataDir, "state.db")
	default:
		return "", fmt.Errorf("say which dbfleetd's tokens: --config FILE (serve) or --data-dir DIR (dev)\n%s", tokenUsage)
	}
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("state file %s: %w; start dbfleetd once to create it", path, err)
	}
	return path, nil
}
