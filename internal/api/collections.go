package api

import (
	_ "embed"
	"net/http"
)

// workerMetadata is the aggregate-worker-metadata view (the default base job
// templates of every worker type, `process` included) copied from the Prefect
// package by collections_data/generate.py. Prefect downloads the view from
// GitHub and falls back to this copy; Warden always serves the copy, so
// creating a pool works offline.
//
//go:generate ../../.venv/bin/python collections_data/generate.py
//go:embed collections_data/aggregate-worker-metadata.json
var workerMetadata []byte

// registryViews are the views Prefect knows; only the worker view is bundled.
var registryViews = map[string][]byte{
	"aggregate-block-metadata":  nil,
	"aggregate-flow-metadata":   nil,
	"aggregate-worker-metadata": workerMetadata,
	"demo-flows":                nil,
}

func (a *app) collectionRoutes(route route) {
	route("GET", "/collections/views/{view}", a.collectionView)
}

func (a *app) collectionView(w http.ResponseWriter, r *http.Request) error {
	view := r.PathValue("view")
	body, known := registryViews[view]
	if !known {
		return errDetail(http.StatusNotFound, "View "+view+" not found in registry")
	}
	if body == nil {
		// Prefect would fetch these from the network; Warden does not.
		return errDetail(http.StatusNotFound, "Requested content missing for view "+view)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(body)
	return err
}
