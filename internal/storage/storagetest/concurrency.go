package storagetest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

func testConcurrency(t *testing.T, open func(t *testing.T) storage.Store) {
	ctx := context.Background()

	t.Run("FlowCreateSameName", func(t *testing.T) {
		s := open(t)
		const n = 20
		var (
			wg      sync.WaitGroup
			start   = make(chan struct{})
			flows   = make([]*apitype.Flow, n)
			created = make([]bool, n)
			errs    = make([]error, n)
		)
		for i := range n {
			wg.Go(func() {
				<-start
				flows[i], created[i], errs[i] = s.FlowCreate(ctx, &storage.FlowCreateParams{
					ID: uuid.New(), Name: "racy", Tags: []string{fmt.Sprint(i)}, Now: at(i),
				})
			})
		}
		close(start)
		wg.Wait()
		winners := 0
		for i := range n {
			require.NoError(t, errs[i])
			if created[i] {
				winners++
			}
			require.Equal(t, flows[0].ID, flows[i].ID)
		}
		require.Equal(t, 1, winners)
		count, err := s.FlowCount(ctx, nil)
		require.NoError(t, err)
		require.EqualValues(t, 1, count)
	})

	// Many writers and readers at once: on SQLite this is where "database is
	// locked" would surface if writes were not serialised.
	t.Run("ManyWriters", func(t *testing.T) {
		s := open(t)
		const workers, perWorker = 8, 15
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make(chan error, workers*perWorker*4)
		for w := range workers {
			wg.Go(func() {
				<-start
				for i := range perWorker {
					name := fmt.Sprintf("w%d-%d", w, i)
					v, err := s.VariableCreate(ctx, &storage.VariableCreateParams{
						ID: uuid.New(), Name: name, Value: json.RawMessage(`1`), Now: at(i),
					})
					if err != nil {
						errs <- fmt.Errorf("create %s: %w", name, err)
						continue
					}
					if err := s.VariableUpdate(ctx, v.ID, &apitype.VariableUpdate{Value: ptr(json.RawMessage(`2`))}, at(i+1)); err != nil {
						errs <- fmt.Errorf("update %s: %w", name, err)
					}
					if _, _, err := s.FlowCreate(ctx, &storage.FlowCreateParams{ID: uuid.New(), Name: name, Now: at(i)}); err != nil {
						errs <- fmt.Errorf("flow %s: %w", name, err)
					}
					if _, err := s.VariableList(ctx, &storage.VariableListParams{Limit: 5}); err != nil {
						errs <- fmt.Errorf("list: %w", err)
					}
				}
			})
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		n, err := s.VariableCount(ctx, nil)
		require.NoError(t, err)
		require.EqualValues(t, workers*perWorker, n)
		n, err = s.FlowCount(ctx, nil)
		require.NoError(t, err)
		require.EqualValues(t, workers*perWorker, n)
	})
}
