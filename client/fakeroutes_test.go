package client

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
)

// Minimal in-memory flow and variable routes with Prefect's status codes.

func (fs *fakeServer) registerFlowRoutes() {
	fs.mux.HandleFunc("POST /api/flows/{$}", func(w http.ResponseWriter, r *http.Request) {
		var in apitype.FlowCreate
		if json.NewDecoder(r.Body).Decode(&in) != nil || in.Name == "" {
			writeJSON(w, 422, map[string]any{"exception_message": "Invalid request received."})
			return
		}
		fs.mu.Lock()
		defer fs.mu.Unlock()
		for _, f := range fs.flows {
			if f.Name == in.Name {
				writeJSON(w, 200, f)
				return
			}
		}
		now := fs.clock.Now()
		f := apitype.Flow{ID: uuid.New(), Created: now, Updated: now, Name: in.Name, Tags: in.Tags, Labels: in.Labels}
		if f.Tags == nil {
			f.Tags = []string{}
		}
		fs.flows[f.ID] = f
		writeJSON(w, 201, f)
	})
	fs.mux.HandleFunc("GET /api/flows/{id}", func(w http.ResponseWriter, r *http.Request) {
		if f, ok := fs.flowByID(r.PathValue("id")); ok {
			writeJSON(w, 200, f)
			return
		}
		writeJSON(w, 404, map[string]string{"detail": "Flow not found"})
	})
	fs.mux.HandleFunc("GET /api/flows/name/{name}", func(w http.ResponseWriter, r *http.Request) {
		fs.mu.Lock()
		defer fs.mu.Unlock()
		for _, f := range fs.flows {
			if f.Name == r.PathValue("name") {
				writeJSON(w, 200, f)
				return
			}
		}
		writeJSON(w, 404, map[string]string{"detail": "Flow not found"})
	})
	fs.mux.HandleFunc("POST /api/flows/filter", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, fs.filterFlows(r))
	})
	fs.mux.HandleFunc("POST /api/flows/count", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, len(fs.filterFlows(r)))
	})
	fs.mux.HandleFunc("PATCH /api/flows/{id}", func(w http.ResponseWriter, r *http.Request) {
		var in apitype.FlowUpdate
		_ = json.NewDecoder(r.Body).Decode(&in)
		fs.mu.Lock()
		defer fs.mu.Unlock()
		id, _ := uuid.Parse(r.PathValue("id"))
		f, ok := fs.flows[id]
		if !ok {
			writeJSON(w, 404, map[string]string{"detail": "Flow not found"})
			return
		}
		if in.Tags != nil {
			f.Tags = *in.Tags
		}
		fs.flows[id] = f
		w.WriteHeader(204)
	})
	fs.mux.HandleFunc("DELETE /api/flows/{id}", func(w http.ResponseWriter, r *http.Request) {
		fs.mu.Lock()
		defer fs.mu.Unlock()
		id, _ := uuid.Parse(r.PathValue("id"))
		if _, ok := fs.flows[id]; !ok {
			writeJSON(w, 404, map[string]string{"detail": "Flow not found"})
			return
		}
		delete(fs.flows, id)
		w.WriteHeader(204)
	})
}

func (fs *fakeServer) flowByID(raw string) (apitype.Flow, bool) {
	id, err := uuid.Parse(raw)
	if err != nil {
		return apitype.Flow{}, false
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	f, ok := fs.flows[id]
	return f, ok
}

// filterFlows supports name.any_ and name.like_ only.
func (fs *fakeServer) filterFlows(r *http.Request) []apitype.Flow {
	var body apitype.FlowFilterBody
	_ = json.NewDecoder(r.Body).Decode(&body)
	fs.mu.Lock()
	defer fs.mu.Unlock()
	out := []apitype.Flow{}
	for _, f := range fs.flows {
		if body.Flows != nil && body.Flows.Name != nil {
			n := body.Flows.Name
			if len(n.Any) > 0 && !containsString(n.Any, f.Name) {
				continue
			}
			if n.Like != nil && !strings.Contains(strings.ToLower(f.Name), strings.ToLower(*n.Like)) {
				continue
			}
		}
		out = append(out, f)
	}
	if body.Limit != nil && len(out) > *body.Limit {
		out = out[:*body.Limit]
	}
	return out
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func (fs *fakeServer) registerVariableRoutes() {
	fs.mux.HandleFunc("POST /api/variables/{$}", func(w http.ResponseWriter, r *http.Request) {
		var in apitype.VariableCreate
		if json.NewDecoder(r.Body).Decode(&in) != nil || in.Name == "" {
			writeJSON(w, 422, map[string]any{"exception_message": "Invalid request received."})
			return
		}
		fs.mu.Lock()
		defer fs.mu.Unlock()
		if _, ok := fs.vars[in.Name]; ok {
			writeJSON(w, 409, map[string]string{"detail": "A variable with the name " + in.Name + " already exists."})
			return
		}
		now := fs.clock.Now()
		v := apitype.Variable{ID: uuid.New(), Created: now, Updated: now, Name: in.Name, Value: in.Value, Tags: in.Tags}
		if v.Tags == nil {
			v.Tags = []string{}
		}
		fs.vars[v.Name] = v
		writeJSON(w, 201, v)
	})
	fs.mux.HandleFunc("GET /api/variables/name/{name}", func(w http.ResponseWriter, r *http.Request) {
		fs.mu.Lock()
		defer fs.mu.Unlock()
		if v, ok := fs.vars[r.PathValue("name")]; ok {
			writeJSON(w, 200, v)
			return
		}
		writeJSON(w, 404, map[string]string{"detail": "Variable not found"})
	})
	fs.mux.HandleFunc("PATCH /api/variables/name/{name}", func(w http.ResponseWriter, r *http.Request) {
		var in apitype.VariableUpdate
		_ = json.NewDecoder(r.Body).Decode(&in)
		fs.mu.Lock()
		defer fs.mu.Unlock()
		v, ok := fs.vars[r.PathValue("name")]
		if !ok {
			writeJSON(w, 404, map[string]string{"detail": "Variable not found"})
			return
		}
		if in.Value != nil {
			v.Value = *in.Value
		}
		if in.Tags != nil {
			v.Tags = *in.Tags
		}
		fs.vars[v.Name] = v
		w.WriteHeader(204)
	})
	fs.mux.HandleFunc("DELETE /api/variables/name/{name}", func(w http.ResponseWriter, r *http.Request) {
		fs.mu.Lock()
		defer fs.mu.Unlock()
		if _, ok := fs.vars[r.PathValue("name")]; !ok {
			writeJSON(w, 404, map[string]string{"detail": "Variable not found"})
			return
		}
		delete(fs.vars, r.PathValue("name"))
		w.WriteHeader(204)
	})
}
