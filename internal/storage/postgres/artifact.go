package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

const (
	artifactColumns   = `id, created, updated, key, type, description, data, metadata_, flow_run_id, task_run_id`
	collectionColumns = `id, created, updated, key, latest_id, type, description, data, metadata_, flow_run_id, task_run_id`
	// artifactSelect reads the json columns as text so data round-trips
	// byte for byte.
	artifactSelect   = `id, created, updated, key, type, description, data::text, metadata_::text, flow_run_id, task_run_id`
	collectionSelect = `id, created, updated, key, latest_id, type, description, data::text, metadata_::text, flow_run_id, task_run_id`
)

// encodeData stores JSON null (or nothing) as SQL NULL.
func encodeData(d json.RawMessage) *string {
	t := bytes.TrimSpace(d)
	if len(t) == 0 || string(t) == "null" {
		return nil
	}
	s := string(d)
	return &s
}

func decodeData(s *string) json.RawMessage {
	if s == nil {
		return json.RawMessage("null")
	}
	return json.RawMessage(*s)
}

func encodeMetadata(m map[string]string) (*string, error) {
	if m == nil {
		return nil, nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode metadata: %w", err)
	}
	s := string(b)
	return &s, nil
}

func decodeMetadata(s *string) (map[string]string, error) {
	if s == nil {
		return nil, nil
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(*s), &m); err != nil {
		return nil, fmt.Errorf("decode metadata: %w", err)
	}
	return m, nil
}

func scanArtifact(r pgx.Row) (*apitype.Artifact, error) {
	var (
		a          apitype.Artifact
		data, meta *string
	)
	if err := r.Scan(&a.ID, &a.Created, &a.Updated, &a.Key, &a.Type, &a.Description, &data, &meta, &a.FlowRunID, &a.TaskRunID); err != nil {
		return nil, interpretError(err)
	}
	a.Created, a.Updated = a.Created.UTC(), a.Updated.UTC()
	a.Data = decodeData(data)
	var err error
	if a.Metadata, err = decodeMetadata(meta); err != nil {
		return nil, err
	}
	return &a, nil
}

func scanCollection(r pgx.Row) (*apitype.ArtifactCollection, error) {
	var (
		c          apitype.ArtifactCollection
		data, meta *string
	)
	if err := r.Scan(&c.ID, &c.Created, &c.Updated, &c.Key, &c.LatestID, &c.Type, &c.Description, &data, &meta, &c.FlowRunID, &c.TaskRunID); err != nil {
		return nil, interpretError(err)
	}
	c.Created, c.Updated = c.Created.UTC(), c.Updated.UTC()
	c.Data = decodeData(data)
	var err error
	if c.Metadata, err = decodeMetadata(meta); err != nil {
		return nil, err
	}
	return &c, nil
}

func getArtifact(ctx context.Context, q querier, id uuid.UUID) (*apitype.Artifact, error) {
	a, err := scanArtifact(q.QueryRow(ctx, `SELECT `+artifactSelect+` FROM artifact WHERE id = $1`, id))
	if err != nil {
		return nil, fmt.Errorf("get artifact: %w", err)
	}
	return a, nil
}

// ArtifactCreate implements storage.Store. The upsert locks the collection
// row, so concurrent creates and deletes of one key serialise on it.
func (s *Store) ArtifactCreate(ctx context.Context, p *storage.ArtifactCreateParams) (*apitype.Artifact, error) {
	a := &p.Artifact
	meta, err := encodeMetadata(a.Metadata)
	if err != nil {
		return nil, err
	}
	var out *apitype.Artifact
	err = s.write(ctx, func(tx pgx.Tx) error {
		created, updated := storage.DBTime(a.Created), storage.DBTime(a.Updated)
		if a.Key != nil {
			if _, err := tx.Exec(ctx, `INSERT INTO artifact_collection (`+collectionColumns+`)
				VALUES ($1, $2, $2, $3, $4, $5, $6, $7::json, $8::jsonb, $9, $10)
				ON CONFLICT (key) DO UPDATE SET updated = excluded.updated, latest_id = excluded.latest_id,
					type = excluded.type, description = excluded.description, data = excluded.data,
					metadata_ = excluded.metadata_, flow_run_id = excluded.flow_run_id, task_run_id = excluded.task_run_id`,
				p.CollectionID, created, *a.Key, a.ID, a.Type, a.Description, encodeData(a.Data), meta,
				a.FlowRunID, a.TaskRunID); err != nil {
				return fmt.Errorf("upsert artifact collection: %w", interpretError(err))
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO artifact (`+artifactColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7::json, $8::jsonb, $9, $10)`,
			a.ID, created, updated, a.Key, a.Type, a.Description, encodeData(a.Data), meta,
			a.FlowRunID, a.TaskRunID); err != nil {
			return fmt.Errorf("insert artifact: %w", interpretError(err))
		}
		out, err = getArtifact(ctx, tx, a.ID)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ArtifactGet implements storage.Store.
func (s *Store) ArtifactGet(ctx context.Context, id uuid.UUID) (*apitype.Artifact, error) {
	return getArtifact(ctx, s.pool, id)
}

// ArtifactList implements storage.Store. Limit <= 0 means no limit.
func (s *Store) ArtifactList(ctx context.Context, p *storage.ArtifactListParams) ([]apitype.Artifact, error) {
	w := storage.NewWhere(dialect{})
	cond, err := w.ArtifactQuery(p.Filter, &p.Runs)
	if err != nil {
		return nil, err
	}
	order, err := storage.ArtifactOrderBy(p.Sort)
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+artifactSelect+` FROM artifact WHERE `+cond+
		` ORDER BY `+order+pageClause(w, p.Limit, p.Offset), w.Args...)
	if err != nil {
		return nil, fmt.Errorf("list artifacts: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (apitype.Artifact, error) {
		a, err := scanArtifact(r)
		if err != nil {
			return apitype.Artifact{}, err
		}
		return *a, nil
	})
	if err != nil {
		return nil, fmt.Errorf("list artifacts: %w", err)
	}
	if out == nil {
		out = []apitype.Artifact{}
	}
	return out, nil
}

// ArtifactCount implements storage.Store.
func (s *Store) ArtifactCount(ctx context.Context, f *apitype.ArtifactFilter, runs *storage.RunQuery) (int64, error) {
	w := storage.NewWhere(dialect{})
	cond, err := w.ArtifactQuery(f, runs)
	if err != nil {
		return 0, err
	}
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM artifact WHERE `+cond, w.Args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count artifacts: %w", err)
	}
	return n, nil
}

// ArtifactUpdate implements storage.Store.
func (s *Store) ArtifactUpdate(ctx context.Context, id uuid.UUID, p *storage.ArtifactUpdateParams) error {
	sets := []string{"updated = $1"}
	args := []any{storage.DBTime(p.Now)}
	if p.Data != nil {
		args = append(args, encodeData(p.Data))
		sets = append(sets, fmt.Sprintf("data = $%d::json", len(args)))
	}
	if p.SetDescription {
		args = append(args, p.Description)
		sets = append(sets, fmt.Sprintf("description = $%d", len(args)))
	}
	if p.SetMetadata {
		meta, err := encodeMetadata(p.Metadata)
		if err != nil {
			return err
		}
		args = append(args, meta)
		sets = append(sets, fmt.Sprintf("metadata_ = $%d::jsonb", len(args)))
	}
	args = append(args, id)
	set := strings.Join(sets, ", ")
	where := fmt.Sprintf("$%d", len(args))
	return s.write(ctx, func(tx pgx.Tx) error {
		var total int64
		for _, q := range []string{
			`UPDATE artifact SET ` + set + ` WHERE id = ` + where,
			`UPDATE artifact_collection SET ` + set + ` WHERE latest_id = ` + where,
		} {
			tag, err := tx.Exec(ctx, q, args...)
			if err != nil {
				return fmt.Errorf("update artifact: %w", interpretError(err))
			}
			total += tag.RowsAffected()
		}
		if total == 0 {
			return fmt.Errorf("update artifact: %w", storage.ErrNotFound)
		}
		return nil
	})
}

// ArtifactDelete implements storage.Store. The collection row of the key is
// locked first, so two deletes (or a delete and a create) of one key cannot
// leave it pointing at a deleted artifact.
func (s *Store) ArtifactDelete(ctx context.Context, id uuid.UUID) error {
	return s.write(ctx, func(tx pgx.Tx) error {
		a, err := getArtifact(ctx, tx, id)
		if err != nil {
			return fmt.Errorf("delete artifact: %w", err)
		}
		if a.Key != nil {
			if err := retireLatest(ctx, tx, *a.Key, id); err != nil {
				return err
			}
		}
		return execOne(ctx, tx, "delete artifact", `DELETE FROM artifact WHERE id = $1`, id)
	})
}

// retireLatest moves the collection of key off artifact id, if id is its
// latest: onto the newest other artifact of the key, or deletes the row.
func retireLatest(ctx context.Context, tx pgx.Tx, key string, id uuid.UUID) error {
	var latest uuid.UUID
	err := tx.QueryRow(ctx, `SELECT latest_id FROM artifact_collection WHERE key = $1 FOR UPDATE`, key).Scan(&latest)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete artifact: lock collection: %w", err)
	}
	if latest != id {
		return nil
	}
	next, err := scanArtifact(tx.QueryRow(ctx, `SELECT `+artifactSelect+` FROM artifact
		WHERE key = $1 AND id <> $2 ORDER BY created DESC, id DESC LIMIT 1`, key, id))
	switch {
	case errors.Is(err, storage.ErrNotFound):
		_, err = tx.Exec(ctx, `DELETE FROM artifact_collection WHERE key = $1 AND latest_id = $2`, key, id)
	case err != nil:
		return fmt.Errorf("delete artifact: %w", err)
	default:
		meta, merr := encodeMetadata(next.Metadata)
		if merr != nil {
			return merr
		}
		_, err = tx.Exec(ctx, `UPDATE artifact_collection SET latest_id = $1, created = $2, updated = $3, type = $4,
			description = $5, data = $6::json, metadata_ = $7::jsonb, flow_run_id = $8, task_run_id = $9 WHERE key = $10`,
			next.ID, next.Created, next.Updated, next.Type, next.Description, encodeData(next.Data), meta,
			next.FlowRunID, next.TaskRunID, key)
	}
	if err != nil {
		return fmt.Errorf("delete artifact: update collection: %w", interpretError(err))
	}
	return nil
}

// ArtifactCollectionGetByKey implements storage.Store.
func (s *Store) ArtifactCollectionGetByKey(ctx context.Context, key string) (*apitype.ArtifactCollection, error) {
	c, err := scanCollection(s.pool.QueryRow(ctx, `SELECT `+collectionSelect+` FROM artifact_collection WHERE key = $1`, key))
	if err != nil {
		return nil, fmt.Errorf("get artifact collection: %w", err)
	}
	return c, nil
}

// ArtifactCollectionList implements storage.Store. Limit <= 0 means no limit.
func (s *Store) ArtifactCollectionList(ctx context.Context, p *storage.ArtifactCollectionListParams) ([]apitype.ArtifactCollection, error) {
	w := storage.NewWhere(dialect{})
	cond, err := w.ArtifactCollectionQuery(p.Filter, &p.Runs)
	if err != nil {
		return nil, err
	}
	order, err := storage.ArtifactOrderBy(p.Sort)
	if err != nil {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, `SELECT `+collectionSelect+` FROM artifact_collection WHERE `+cond+
		` ORDER BY `+order+pageClause(w, p.Limit, p.Offset), w.Args...)
	if err != nil {
		return nil, fmt.Errorf("list artifact collections: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (apitype.ArtifactCollection, error) {
		c, err := scanCollection(r)
		if err != nil {
			return apitype.ArtifactCollection{}, err
		}
		return *c, nil
	})
	if err != nil {
		return nil, fmt.Errorf("list artifact collections: %w", err)
	}
	if out == nil {
		out = []apitype.ArtifactCollection{}
	}
	return out, nil
}

// ArtifactCollectionCount implements storage.Store.
func (s *Store) ArtifactCollectionCount(ctx context.Context, f *apitype.ArtifactCollectionFilter, runs *storage.RunQuery) (int64, error) {
	w := storage.NewWhere(dialect{})
	cond, err := w.ArtifactCollectionQuery(f, runs)
	if err != nil {
		return 0, err
	}
	var n int64
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM artifact_collection WHERE `+cond, w.Args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count artifact collections: %w", err)
	}
	return n, nil
}
