package cli

import (
	"fmt"
	"sort"

	"github.com/spf13/cobra"

	"github.com/warden-orchestration/warden/internal/settings"
)

func newProfileCommand(app *App) *cobra.Command {
	cmd := &cobra.Command{Use: "profile", Short: "Manage settings profiles in profiles.toml (like `prefect profile`)"}
	cmd.AddCommand(
		newProfileLsCommand(app),
		newProfileUseCommand(app),
		newProfileCreateCommand(app),
		newProfileDeleteCommand(app),
		newProfileInspectCommand(app),
		newProfileRenameCommand(app),
	)
	return cmd
}

func (a *App) openProfiles() (*settings.ProfileSelection, error) {
	return settings.OpenProfiles(settings.LoadOptions{Environ: a.Environ, Dir: a.Dir, Profile: a.Profile})
}

func newProfileLsCommand(app *App) *cobra.Command {
	return &cobra.Command{
		Use:   "ls",
		Short: "List profiles (* marks the active one)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			sel, err := app.openProfiles()
			if err != nil {
				return err
			}
			fmt.Fprintln(app.Stdout, "Available Profiles:")
			for _, name := range sel.Profiles.Names() {
				if name == sel.Active {
					fmt.Fprintf(app.Stdout, "* %s\n", name)
				} else {
					fmt.Fprintf(app.Stdout, "  %s\n", name)
				}
			}
			return nil
		},
	}
}

func newProfileUseCommand(app *App) *cobra.Command {
	return &cobra.Command{
		Use:   "use NAME",
		Short: "Make a profile the active one",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sel, err := app.openProfiles()
			if err != nil {
				return err
			}
			name := args[0]
			// Built-in profiles are usable even when absent from the file, as in Prefect.
			sel.Profiles.AddBuiltins()
			if _, ok := sel.Profiles.Get(name); !ok {
				return fmt.Errorf("profile %s not found", pyQuote(name))
			}
			sel.Profiles.SetActive(name)
			if err := sel.Profiles.Save(); err != nil {
				return err
			}
			fmt.Fprintf(app.Stdout, "Switched to profile %s.\n", pyQuote(name))
			return nil
		},
	}
}

func newProfileCreateCommand(app *App) *cobra.Command {
	var from string
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a new profile, empty or copied from another (--from)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sel, err := app.openProfiles()
			if err != nil {
				return err
			}
			name := args[0]
			if _, ok := sel.Profiles.Get(name); ok {
				return fmt.Errorf("profile %s already exists; to create a new profile, remove the existing profile first: warden profile delete %s", pyQuote(name), pyQuote(name))
			}
			values := map[string]any{}
			if from != "" {
				src, ok := sel.Profiles.Get(from)
				if !ok {
					return fmt.Errorf("profile %s not found", pyQuote(from))
				}
				for k, v := range src {
					values[k] = v
				}
			}
			sel.Profiles.Set(name, values)
			if err := sel.Profiles.Save(); err != nil {
				return err
			}
			fmt.Fprintf(app.Stdout, "Created profile %s.\n\nUse it for subsequent commands:\n    warden profile use %s\nUse it for a single command:\n    warden -p %s config view\n",
				pyQuote(name), pyQuote(name), pyQuote(name))
			return nil
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "copy the settings of an existing profile")
	return cmd
}

func newProfileDeleteCommand(app *App) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a profile (not the active one)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sel, err := app.openProfiles()
			if err != nil {
				return err
			}
			name := args[0]
			if _, ok := sel.Profiles.Get(name); !ok {
				return fmt.Errorf("profile %s not found", pyQuote(name))
			}
			if name == sel.Active {
				return fmt.Errorf("profile %s is the active profile; you must switch profiles before it can be deleted", pyQuote(name))
			}
			sel.Profiles.Delete(name)
			if err := sel.Profiles.Save(); err != nil {
				return err
			}
			fmt.Fprintf(app.Stdout, "Removed profile %s.\n", pyQuote(name))
			return nil
		},
	}
}

func newProfileRenameCommand(app *App) *cobra.Command {
	return &cobra.Command{
		Use:   "rename NAME NEW_NAME",
		Short: "Rename a profile",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			sel, err := app.openProfiles()
			if err != nil {
				return err
			}
			name, newName := args[0], args[1]
			values, ok := sel.Profiles.Get(name)
			if !ok {
				return fmt.Errorf("profile %s not found", pyQuote(name))
			}
			if _, exists := sel.Profiles.Get(newName); exists {
				return fmt.Errorf("profile %s already exists", pyQuote(newName))
			}
			sel.Profiles.Set(newName, values)
			sel.Profiles.Delete(name)
			if sel.Profiles.Active() == name {
				sel.Profiles.SetActive(newName)
			}
			if err := sel.Profiles.Save(); err != nil {
				return err
			}
			if sel.By == "PREFECT_PROFILE" && sel.Active == name {
				fmt.Fprintf(app.Stdout, "You have set your current profile to %s with the PREFECT_PROFILE environment variable. You must update this variable to %s to continue using the profile.\n",
					pyQuote(name), pyQuote(newName))
			}
			fmt.Fprintf(app.Stdout, "Renamed profile %s to %s.\n", pyQuote(name), pyQuote(newName))
			return nil
		},
	}
}

func newProfileInspectCommand(app *App) *cobra.Command {
	var showSecrets bool
	cmd := &cobra.Command{
		Use:   "inspect [NAME]",
		Short: "Show a profile's settings (default: the active profile); secrets masked unless --show-secrets",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sel, err := app.openProfiles()
			if err != nil {
				return err
			}
			name := sel.Active
			if len(args) == 1 {
				name = args[0]
			} else {
				fmt.Fprintf(app.Stdout, "No name provided, defaulting to %s\n", pyQuote(name))
			}
			sel.Profiles.AddBuiltins()
			values, ok := sel.Profiles.Get(name)
			if !ok {
				return fmt.Errorf("profile %s not found", pyQuote(name))
			}
			if len(values) == 0 {
				fmt.Fprintf(app.Stdout, "Profile %s is empty.\n", pyQuote(name))
				return nil
			}
			keys := make([]string, 0, len(values))
			for k := range values {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				shown := fmt.Sprint(values[k])
				// Unlike Prefect, which prints profile secrets in clear.
				if d, ok := settings.Lookup(k); ok && d.Secret && !showSecrets {
					shown = settings.CLISecretMask
				}
				fmt.Fprintf(app.Stdout, "%s=%s\n", k, pyQuote(shown))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&showSecrets, "show-secrets", false, "show secret values instead of ********")
	return cmd
}
