package cli

import (
	"fmt"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/warden-orchestration/warden/internal/server"
	"github.com/warden-orchestration/warden/internal/storage/dbopen"
)

func newServerCommand(app *App) *cobra.Command {
	cmd := &cobra.Command{Use: "server", Short: "Run the Warden server"}
	cmd.AddCommand(newServerStartCommand(app))
	cmd.AddCommand(newServicesCommand(app))
	return cmd
}

func newServerStartCommand(app *App) *cobra.Command {
	var host string
	var port int
	var noServices bool
	cmd := &cobra.Command{
		Use:   "start",
		Short: "Start the API server (SIGINT/SIGTERM stop it gracefully)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			overrides := map[string]string{}
			if cmd.Flags().Changed("host") {
				overrides["server.api.host"] = host
			}
			if cmd.Flags().Changed("port") {
				overrides["server.api.port"] = strconv.Itoa(port)
			}
			return runServer(cmd, app, overrides, noServices)
		},
	}
	cmd.Flags().StringVar(&host, "host", "", "address to bind (default server.api.host, 127.0.0.1)")
	cmd.Flags().IntVar(&port, "port", 0, "port to bind (default server.api.port, 4200)")
	cmd.Flags().BoolVar(&noServices, "no-services", false, "only run the webserver API (no background services; see `server services start`)")
	return cmd
}

func runServer(cmd *cobra.Command, app *App, overrides map[string]string, noServices bool) error {
	s, err := app.loadSettingsWith(overrides)
	if err != nil {
		return err
	}
	cfg, err := s.Server()
	if err != nil {
		return err
	}
	logger := server.NewLogger(app.Stderr, cfg.LoggingLevel, cfg.LogFormat)

	if cfg.AuthStringEmpty {
		logger.Warn("server.api.auth_string is set to an empty string; treating it as unset, so authentication is OFF")
	}
	exposed := server.Exposed(cfg.Host)
	if exposed && cfg.AuthString == "" {
		logger.Warn("binding to a non-loopback address with no server.api.auth_string: anyone who can reach this port controls the server; set PREFECT_SERVER_API_AUTH_STRING",
			"host", cfg.Host)
		fmt.Fprintf(app.Stderr, "\nWARNING: Warden is listening on %s without authentication.\n"+
			"Anyone who can reach it can run code on your workers. Set PREFECT_SERVER_API_AUTH_STRING='user:password'.\n\n", cfg.Host)
	}

	ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	srv, err := server.New(ctx, cfg, s.AdminJSON(), logger, server.Options{NoServices: noServices})
	if err != nil {
		return err
	}
	ln, err := srv.Listen()
	if err != nil {
		return err
	}
	base := fmt.Sprintf("http://%s", ln.Addr().String())
	fmt.Fprintf(app.Stdout, "Warden %s (Prefect API %s) listening on %s\n", server.Version, cfg.PrefectVersion, base)
	fmt.Fprintf(app.Stdout, "  API:      %s%s\n", base, cfg.BasePath)
	fmt.Fprintf(app.Stdout, "  Database: %s\n", dbopen.Redact(cfg.DatabaseURL))
	if cfg.AuthString != "" {
		fmt.Fprintf(app.Stdout, "  Auth:     basic (server.api.auth_string)\n")
	} else {
		fmt.Fprintf(app.Stdout, "  Auth:     off\n")
	}
	if noServices {
		fmt.Fprintf(app.Stdout, "  Services: off (--no-services; run them with `warden server services start`)\n")
	}
	fmt.Fprintf(app.Stdout, "Point clients at it with: PREFECT_API_URL=%s%s\n", base, cfg.BasePath)
	return srv.Serve(ctx, ln)
}
