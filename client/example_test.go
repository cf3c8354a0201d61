package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/client"
)

// A stand-in for a Prefect server with CSRF protection off: it answers the
// token endpoint with the switch-off reply and creates flows.
func newExampleServer() *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/csrf-token", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusUnprocessableEntity)
		fmt.Fprint(w, `{"detail":"CSRF protection is disabled."}`)
	})
	mux.HandleFunc("POST /api/flows/{$}", func(w http.ResponseWriter, r *http.Request) {
		var in apitype.FlowCreate
		_ = json.NewDecoder(r.Body).Decode(&in)
		now := time.Now().UTC()
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(apitype.Flow{ID: uuid.New(), Created: now, Updated: now, Name: in.Name, Tags: in.Tags})
	})
	mux.HandleFunc("GET /api/flows/name/{name}", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, `{"detail":"Flow not found"}`)
	})
	return httptest.NewServer(mux)
}

func Example() {
	srv := newExampleServer()
	defer srv.Close()

	c, err := client.New(client.DefaultConfig(srv.URL + "/api"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	ctx := context.Background()

	flow, err := c.CreateFlow(ctx, apitype.FlowCreate{Name: "etl", Tags: []string{"nightly"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(flow.Name, flow.Tags)

	_, err = c.ReadFlowByName(ctx, "missing")
	fmt.Println(client.IsNotFound(err), err)
	// Output:
	// etl [nightly]
	// true GET /flows/name/missing: 404 Not Found: Flow not found
}
