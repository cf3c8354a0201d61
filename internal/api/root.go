package api

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/warden-orchestration/warden/apitype"
)

// serverAPIVersion is the Prefect REST API version Warden speaks.
const serverAPIVersion = "0.8.4"

// readyTimeout bounds the database probe of GET /ready.
const readyTimeout = 2 * time.Second

func (a *app) health(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, true)
	return nil
}

func (a *app) ready(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	if err := a.store.Ping(ctx); err != nil {
		a.logger.Warn("readiness check failed", slog.Any("err", err))
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"message": "Database is not available"})
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]any{"message": "OK"})
	return nil
}

func (a *app) hello(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, "👋")
	return nil
}

func (a *app) apiVersionRoute(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, serverAPIVersion)
	return nil
}

// uiSettings serves GET /ui-settings, outside auth so the UI can learn
// whether to show its login page. Warden's web UI is a Vue app like
// Prefect's classic one, so when it is mounted it is reported as "v1" at
// the serve base; without it nothing is available and default_ui stays
// "v2" (Prefect's configured default).
func (a *app) uiSettings(w http.ResponseWriter, r *http.Request) error {
	var auth *string
	if a.settings.AuthString != "" {
		basic := "BASIC"
		auth = &basic
	}
	defaultUI, available, v1Base := "v2", []string{}, (*string)(nil)
	if a.ui {
		base := a.settings.UIServeBase
		defaultUI, available, v1Base = "v1", []string{"v1"}, &base
	}
	writeJSON(w, http.StatusOK, apitype.UISettings{
		APIURL:       a.settings.UIAPIURL,
		CSRFEnabled:  a.settings.CSRFEnabled,
		Auth:         auth,
		Flags:        []string{},
		DefaultUI:    defaultUI,
		AvailableUIs: available,
		V1BaseURL:    v1Base,
	})
	return nil
}
