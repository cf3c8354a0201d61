package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/warden-orchestration/warden/internal/server"
	"github.com/warden-orchestration/warden/internal/storage/dbopen"
)

// newServicesCommand is `warden server services`, as Prefect's
// `prefect server services` (ls, start; Warden has no background mode, so
// no stop: run `services start` under a process supervisor).
func newServicesCommand(app *App) *cobra.Command {
	cmd := &cobra.Command{Use: "services", Short: "Interact with server loop services"}
	cmd.AddCommand(newServicesLsCommand(app), newServicesStartCommand(app))
	return cmd
}

func newServicesLsCommand(app *App) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List all available services and their status",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "" && !strings.EqualFold(output, "json") {
				return errors.New("only 'json' output format is supported")
			}
			s, err := app.LoadSettings()
			if err != nil {
				return err
			}
			cfg, err := s.Server()
			if err != nil {
				return err
			}
			list := server.Services(cfg)
			if output != "" {
				b, err := json.MarshalIndent(list, "", "  ")
				if err != nil {
					return err
				}
				fmt.Fprintln(app.Stdout, string(b))
				return nil
			}
			tw := tabwriter.NewWriter(app.Stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "Name\tEnabled?\tDescription")
			for _, svc := range list {
				mark := "x"
				if svc.Enabled {
					mark = "\u2713"
				}
				fmt.Fprintf(tw, "%s\t%s %s\t%s\n", svc.Name, mark, svc.EnvVar, svc.Description)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format; only json is supported")
	return cmd
}

func newServicesStartCommand(app *App) *cobra.Command {
	return &cobra.Command{
		Use:     "start",
		Aliases: []string{"enable"},
		Short:   "Start all enabled services in this process, in the foreground (SIGINT/SIGTERM stop them)",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := app.LoadSettings()
			if err != nil {
				return err
			}
			cfg, err := s.Server()
			if err != nil {
				return err
			}
			logger := server.NewLogger(app.Stderr, cfg.LoggingLevel, cfg.LogFormat)
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			err = server.RunServices(ctx, cfg, logger, server.ServicesOptions{Ready: func(names []string) {
				fmt.Fprintf(app.Stdout, "Starting services (%s) on %s... Press CTRL+C to stop\n",
					strings.Join(names, ", "), dbopen.Redact(cfg.DatabaseURL))
			}})
			if errors.Is(err, server.ErrNoServices) {
				return errors.New("no services are enabled")
			}
			if err != nil {
				return err
			}
			fmt.Fprintln(app.Stdout, "All services stopped.")
			return nil
		},
	}
}
