package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/warden-orchestration/warden/internal/settings"
)

func newConfigCommand(app *App) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "View and change settings (like `prefect config`)"}
	cmd.AddCommand(newConfigViewCommand(app), newConfigSetCommand(app), newConfigUnsetCommand(app))
	return cmd
}

func newConfigViewCommand(app *App) *cobra.Command {
	var showSources, hideSources, showSecrets, hideSecrets, showDefaults, hideDefaults bool
	cmd := &cobra.Command{
		Use:   "view",
		Short: "Show the settings in effect and where each comes from",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := app.LoadSettings()
			if err != nil {
				return err
			}
			sources := showSources && !hideSources
			secrets := showSecrets && !hideSecrets
			defaults := showDefaults && !hideDefaults
			if u := s.UIURL(); u != "" {
				fmt.Fprintf(app.Stdout, "🚀 you are connected to:\n%s\n", u)
			}
			fmt.Fprintf(app.Stdout, "PREFECT_PROFILE=%s\n", pyQuote(s.ActiveProfile()))
			for _, v := range s.Values(defaults) {
				line := v.Def.EnvVar() + "=" + pyQuote(v.Display(secrets))
				if sources {
					line += " (from " + v.Source.Label() + ")"
				}
				fmt.Fprintln(app.Stdout, line)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.BoolVar(&showSources, "show-sources", true, "show where each value comes from (default)")
	f.BoolVar(&hideSources, "hide-sources", false, "do not show value sources")
	f.BoolVar(&showSecrets, "show-secrets", false, "show secret values instead of ********")
	f.BoolVar(&hideSecrets, "hide-secrets", false, "mask secret values (default)")
	f.BoolVar(&showDefaults, "show-defaults", false, "also list settings left at their default")
	f.BoolVar(&hideDefaults, "hide-defaults", false, "list only settings that are set (default)")
	return cmd
}

// pyQuote quotes like the '%s' Prefect's CLI prints.
func pyQuote(s string) string { return "'" + s + "'" }

// openActiveProfile resolves the profiles file and the profile `config
// set/unset` change. It does not parse settings, so a bad stored value can
// still be fixed.
func (a *App) openActiveProfile() (*settings.ProfileSelection, map[string]any, error) {
	sel, err := settings.OpenProfiles(settings.LoadOptions{Environ: a.Environ, Dir: a.Dir, Profile: a.Profile})
	if err != nil {
		return nil, nil, err
	}
	if !sel.Exists {
		return nil, nil, fmt.Errorf("profile %q (from %s) not found in %s", sel.Active, sel.By, sel.Profiles.Path)
	}
	values, ok := sel.Profiles.Get(sel.Active)
	if !ok {
		// A built-in profile not yet in the file: start from its template.
		sel.Profiles.AddBuiltins()
		values, _ = sel.Profiles.Get(sel.Active)
	}
	return sel, values, nil
}

// lookupSettingName accepts env var names and their aliases, as Prefect does.
func lookupSettingName(name string) (*settings.Def, error) {
	d, ok := settings.Lookup(name)
	if !ok || strings.Contains(name, ".") {
		return nil, fmt.Errorf("unknown setting name %q", name)
	}
	return d, nil
}

func (a *App) envSet(name string) bool {
	for _, kv := range a.Environ {
		if k, _, ok := strings.Cut(kv, "="); ok && strings.EqualFold(k, name) {
			return true
		}
	}
	return false
}

func newConfigSetCommand(app *App) *cobra.Command {
	return &cobra.Command{
		Use:   "set NAME=VALUE...",
		Short: "Set settings in the active profile",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			type change struct {
				name  string
				value string
				def   *settings.Def
			}
			var changes []change
			for i, arg := range args {
				name, value, ok := strings.Cut(arg, "=")
				if !ok {
					// Not echoed: a mistyped argument may be a secret.
					return fmt.Errorf("failed to parse argument %d: use the format 'VAR=VAL'", i+1)
				}
				d, err := lookupSettingName(name)
				if err != nil {
					return err
				}
				if d.Name == "home" || d.Name == "profiles_path" {
					return fmt.Errorf("setting %q cannot be changed with this command; use an environment variable instead", name)
				}
				if err := d.Validate(value); err != nil {
					return err
				}
				changes = append(changes, change{name: name, value: value, def: d})
			}
			sel, values, err := app.openActiveProfile()
			if err != nil {
				return err
			}
			for _, c := range changes {
				// Drop every alias spelling so the new value is the only one.
				for key, ok := settings.ProfileKey(values, c.def); ok; key, ok = settings.ProfileKey(values, c.def) {
					delete(values, key)
				}
				values[c.def.EnvVar()] = c.value
			}
			sel.Profiles.Set(sel.Active, values)
			if err := sel.Profiles.Save(); err != nil {
				return err
			}
			for _, c := range changes {
				shown := c.value
				if c.def.Secret {
					shown = settings.CLISecretMask
				}
				fmt.Fprintf(app.Stdout, "Set %s to %s.\n", pyQuote(c.name), pyQuote(shown))
				for _, env := range c.def.Env {
					if app.envSet(env) {
						fmt.Fprintf(app.Stdout, "%s is also set by an environment variable which will override your config value. Run `unset %s` to clear it.\n", env, env)
					}
				}
			}
			fmt.Fprintf(app.Stdout, "Updated profile %s.\n", pyQuote(sel.Active))
			return nil
		},
	}
}

func newConfigUnsetCommand(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "unset NAME...",
		Short: "Remove settings from the active profile (restoring their defaults)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sel, values, err := app.openActiveProfile()
			if err != nil {
				return err
			}
			var defs []*settings.Def
			for _, name := range args {
				d, err := lookupSettingName(name)
				if err != nil {
					return err
				}
				if _, ok := settings.ProfileKey(values, d); !ok {
					return fmt.Errorf("%s is not set in profile %s", pyQuote(name), pyQuote(sel.Active))
				}
				defs = append(defs, d)
			}
			for _, d := range defs {
				for key, ok := settings.ProfileKey(values, d); ok; key, ok = settings.ProfileKey(values, d) {
					delete(values, key)
				}
			}
			sel.Profiles.Set(sel.Active, values)
			if err := sel.Profiles.Save(); err != nil {
				return err
			}
			for i, name := range args {
				fmt.Fprintf(app.Stdout, "Unset %s.\n", pyQuote(name))
				for _, env := range defs[i].Env {
					if app.envSet(env) {
						fmt.Fprintf(app.Stdout, "%s is also set by an environment variable. Use `unset %s` to clear it.\n", pyQuote(env), env)
					}
				}
			}
			fmt.Fprintf(app.Stdout, "Updated profile %s.\n", pyQuote(sel.Active))
			return nil
		},
	}
	// Accepted for compatibility with `prefect config unset -y`; Warden never prompts.
	cmd.Flags().BoolP("yes", "y", false, "skip confirmation (Warden never prompts)")
	return cmd
}
