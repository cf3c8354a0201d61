// Package cli is Warden's cobra command tree. Commands write to the injected
// App streams so tests can run them in-process.
package cli

import (
	"context"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/warden-orchestration/warden/internal/settings"
)

// App carries what every command needs: streams, the process environment and
// working directory (injected so tests never touch the real ones), and the
// --profile flag.
type App struct {
	Stdin   io.Reader
	Stdout  io.Writer
	Stderr  io.Writer
	Environ []string
	Dir     string
	Profile string // --profile, overrides PREFECT_PROFILE
}

// LoadSettings loads the settings as Prefect would for this invocation.
func (a *App) LoadSettings() (*settings.Settings, error) {
	return settings.Load(settings.LoadOptions{Environ: a.Environ, Dir: a.Dir, Profile: a.Profile})
}

// NewRootCommand builds the whole `warden` command tree.
func NewRootCommand(app *App) *cobra.Command {
	root := &cobra.Command{
		Use:           "warden",
		Short:         "Warden: a fast, secure, self-hosted server for Prefect 3",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(app.Stdin)
	root.SetOut(app.Stdout)
	root.SetErr(app.Stderr)
	root.PersistentFlags().StringVarP(&app.Profile, "profile", "p", "", "settings profile to use (overrides PREFECT_PROFILE)")
	root.AddCommand(
		newServerCommand(app),
		newDatabaseCommand(app),
		newConfigCommand(app),
		newProfileCommand(app),
		newAPICommand(app),
		newVersionCommand(app),
	)
	return root
}

// Main runs the CLI with the real process state and returns the exit code.
func Main(ctx context.Context) int {
	dir, _ := os.Getwd()
	app := &App{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Environ: os.Environ(), Dir: dir}
	cmd := NewRootCommand(app)
	if err := cmd.ExecuteContext(ctx); err != nil {
		io.WriteString(app.Stderr, "Error: "+err.Error()+"\n")
		return 1
	}
	return 0
}

// loadSettingsWith loads settings with CLI-flag overrides (highest precedence).
func (a *App) loadSettingsWith(overrides map[string]string) (*settings.Settings, error) {
	return settings.Load(settings.LoadOptions{Environ: a.Environ, Dir: a.Dir, Profile: a.Profile, Overrides: overrides})
}
