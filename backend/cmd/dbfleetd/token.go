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
	"github.com/dbfleet/terraform-provider-dbfleet/internal/cmdline"
)

const tokenUsage = `usage:
  dbfleetd token create --scope read|write|admin [--name NAME] (--config FILE | --data-dir DIR)
  dbfleetd token list (--config FILE | --data-dir DIR)
  dbfleetd token revoke NAME (--config FILE | --data-dir DIR)

Manages the API tokens of a dbfleetd's state store: that of the serve configuration (--config) or
of a dev data directory (--data-dir). A new token is shown once; only its hash is stored. Run
"dbfleetd token COMMAND --help" for a command's flags.`

// tokenCommandUsage is the usage of token's subcommand name; false when
// there is no such subcommand.
func tokenCommandUsage(name string) (string, bool) {
	switch name {
	case "create":
		return "usage: dbfleetd token create --scope read|write|admin [--name NAME] (--config FILE | --data-dir DIR)\n\n" +
			"Creates an API token and prints it on stdout, once: only its hash is stored.", true
	case "list":
		return "usage: dbfleetd token list (--config FILE | --data-dir DIR)\n\n" +
			"Lists the API tokens' names, scopes and creation times; never the tokens.", true
	case "revoke":
		return "usage: dbfleetd token revoke NAME (--config FILE | --data-dir DIR)\n\n" +
			"Revokes the API token NAME: requests with it fail with 401 from then on.", true
	}
	return "", false
}

// runToken manages the API tokens of a state file. The token create prints
// is shown once: only its hash is stored.
func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	top := &cmdline.Command{Name: "dbfleetd token", Usage: tokenUsage}
	if len(args) == 0 {
		return top.Errorf("a token command is required: create, list or revoke")
	}
	command := args[0]
	if cmdline.IsHelp(command) {
		return &cmdline.Help{Command: top}
	}
	usage, ok := tokenCommandUsage(command)
	if !ok {
		return top.Errorf("unknown token command %q", command)
	}
	flags := flag.NewFlagSet("token "+command, flag.ContinueOnError)
	cmd := &cmdline.Command{Name: "dbfleetd token " + command, Usage: usage, Flags: flags}
	configPath := flags.String("config", "", "the serve configuration file; its state_path or store holds the tokens")
	dataDir := flags.String("data-dir", "", "a dev data directory; its state.db holds the tokens")
	var scope, name *string
	if command == "create" {
		scope = flags.String("scope", "", "the token's scope: read, write or admin")
		name = flags.String("name", "", "the token's name (default: the scope and a random suffix)")
	}
	positional, err := cmd.Parse(args[1:])
	if err != nil {
		return err
	}
	switch {
	case command == "revoke" && len(positional) != 1:
		return cmd.Errorf("takes the token's name, got %d arguments", len(positional))
	case command != "revoke":
		if err := cmd.NoArguments(positional); err != nil {
			return err
		}
	}
	if command == "create" && *scope == "" {
		return cmd.Errorf("--scope is required: read, write or admin")
	}
	storeLocation, err := tokenStore(cmd, *configPath, *dataDir)
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
		created, token, err := api.TokenCreate(ctx, st, *name, *scope)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "Created token %s with scope %s. It is shown once, now: store it where it is needed.\n", created, *scope)
		fmt.Fprintln(stdout, token)
		return nil
	case "list":
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
	default: // revoke
		if err := api.TokenRevoke(ctx, st, positional[0]); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("no token is named %s; dbfleetd token list shows the names", positional[0])
			}
			return err
		}
		fmt.Fprintf(stderr, "Revoked token %s.\n", positional[0])
		return nil
	}
}

// tokenStore is the state store of --config or of --data-dir; a SQLite file
// must exist, so that a mistyped path does not make a new, empty store.
// Neither or both flags is a usage error of cmd.
func tokenStore(cmd *cmdline.Command, configPath, dataDir string) (string, error) {
	var path string
	switch {
	case configPath != "" && dataDir != "":
		return "", cmd.Errorf("give either --config or --data-dir, not both")
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
		return "", cmd.Errorf("say which dbfleetd's tokens: --config FILE (serve) or --data-dir DIR (dev)")
	}
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("state file %s: %w; start dbfleetd once to create it", path, err)
	}
	return path, nil
}
