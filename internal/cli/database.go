package cli

import (
	"bufio"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/warden-orchestration/warden/internal/storage/dbopen"
)

func newDatabaseCommand(app *App) *cobra.Command {
	cmd := &cobra.Command{Use: "database", Short: "Manage Warden's database (server.database.connection_url)"}
	cmd.AddCommand(newDatabaseUpgradeCommand(app), newDatabaseResetCommand(app))
	return cmd
}

func (a *App) databaseURL() (string, error) {
	s, err := a.LoadSettings()
	if err != nil {
		return "", err
	}
	cfg, err := s.Server()
	if err != nil {
		return "", err
	}
	return cfg.DatabaseURL, nil
}

func newDatabaseUpgradeCommand(app *App) *cobra.Command {
	return &cobra.Command{
		Use:   "upgrade",
		Short: "Apply all pending migrations",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			url, err := app.databaseURL()
			if err != nil {
				return err
			}
			applied, err := dbopen.Upgrade(cmd.Context(), url)
			if err != nil {
				return err
			}
			if len(applied) == 0 {
				fmt.Fprintf(app.Stdout, "Database %s is up to date.\n", dbopen.Redact(url))
				return nil
			}
			fmt.Fprintf(app.Stdout, "Applied %d migration(s) to %s: %s\n", len(applied), dbopen.Redact(url), strings.Join(applied, ", "))
			return nil
		},
	}
}

func newDatabaseResetCommand(app *App) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "reset",
		Short: "Drop all of Warden's tables and recreate them (destroys all data)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			url, err := app.databaseURL()
			if err != nil {
				return err
			}
			if !yes {
				fmt.Fprintf(app.Stdout, "This deletes every record in %s. Type 'yes' to continue: ", dbopen.Redact(url))
				line, _ := bufio.NewReader(app.Stdin).ReadString('\n')
				if strings.TrimSpace(line) != "yes" {
					return fmt.Errorf("reset aborted")
				}
			}
			if err := dbopen.Reset(cmd.Context(), url); err != nil {
				return err
			}
			fmt.Fprintf(app.Stdout, "Database %s reset.\n", dbopen.Redact(url))
			return nil
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}
