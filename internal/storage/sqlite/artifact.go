package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/warden-orchestration/warden/apitype"
	"github.com/warden-orchestration/warden/internal/storage"
)

const (
	artifactColumns   = `id, created, updated, key, type, description, data, metadata_, flow_run_id, task_run_id`
	collectionColumns = `id, created, updated, key, latest_id, type, description, data, metadata_, flow_run_id, task_run_id`
)

// encodeData stores JSON null (or nothing) as SQL NULL.
func encodeData(d json.RawMessage) sql.NullString {
	t := bytes.TrimSpace(d)
	if len(t) == 0 || string(t) == "null" {
		return sql.NullString{}
	}
	return sql.NullString{String: string(d), Valid: true}
}

func decodeData(s sql.NullString) json.RawMessage {
	if !s.Valid {
		return json.RawMessage("null")
	}
	return json.RawMessage(s.String)
}

func encodeMetadata(m map[string]string) (sql.NullString, error) {
	if m == nil {
		return sql.NullString{}, nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return sql.NullString{}, fmt.Errorf("encode metadata: %w", err)
	}
	return sql.NullString{String: string(b), Valid: true}, nil
}

func decodeMetadata(s sql.NullString) (map[string]string, error) {
	if !s.Valid {
		return nil, nil
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(s.String), &m); err != nil {
		return nil, fmt.Errorf("decode metadata: %w", err)
	}
	return m, nil
}

func nullString(p *string) sql.NullString {
	if p == nil {
		return sql.NullString{}
	}
	return sql.NullString{String: *p, Valid: true}
}

func stringPtr(s sql.NullString) *string {
	if !s.Valid {
		return nil
	}
	return &s.String
}

// artifactRow holds the columns artifact and artifact_collection share.
type artifactRow struct {
	id, created, updated string
	key, typ, desc, data sql.NullString
	metadata             sql.NullString
	flowRunID, taskRunID sql.NullString
}

func (r *artifactRow) decode() (*apitype.Artifact, error) {
	var (
		a   apitype.Artifact
		err error
	)
	if a.ID, err = uuid.Parse(r.id); err != nil {
		return nil, fmt.Errorf("decode artifact id: %w", err)
	}
	if a.Created, err = decodeTime(r.created); err != nil {
		return nil, err
	}
	if a.Updated, err = decodeTime(r.updated); err != nil {
		return nil, err
	}
	a.Key, a.Type, a.Description = stringPtr(r.key), stringPtr(r.typ), stringPtr(r.desc)
	a.Data = decodeData(r.data)
	if a.Metadata, err = decodeMetadata(r.metadata); err != nil {
		return nil, err
	}
	if a.FlowRunID, err = decodeNullID(r.flowRunID); err != nil {
		return nil, err
	}
	if a.TaskRunID, err = decodeNullID(r.taskRunID); err != nil {
		return nil, err
	}
	return &a, nil
}

func scanArtifact(rs rowScanner) (*apitype.Artifact, error) {
	var r artifactRow
	if err := rs.Scan(&r.id, &r.created, &r.updated, &r.key, &r.typ, &r.desc, &r.data, &r.metadata, &r.flowRunID, &r.taskRunID); err != nil {
		return nil, interpretError(err)
	}
	return r.decode()
}

func scanCollection(rs rowScanner) (*apitype.ArtifactCollection, error) {
	var (
		r        artifactRow
		latestID string
	)
	if err := rs.Scan(&r.id, &r.created, &r.updated, &r.key, &latestID, &r.typ, &r.desc, &r.data, &r.metadata, &r.flowRunID, &r.taskRunID); err != nil {
		return nil, interpretError(err)
	}
	a, err := r.decode()
	if err != nil {
		return nil, err
	}
	c := apitype.ArtifactCollection{ID: a.ID, Created: a.Created, Updated: a.Updated, Key: r.key.String,
		Type: a.Type, Description: a.Description, Data: a.Data, Metadata: a.Metadata,
		FlowRunID: a.FlowRunID, TaskRunID: a.TaskRunID}
	if c.LatestID, err = uuid.Parse(latestID); err != nil {
		return nil, fmt.Errorf("decode latest id: %w", err)
	}
	return &c, nil
}

func getArtifact(ctx context.Context, q queryer, id uuid.UUID) (*apitype.Artifact, error) {
	a, err := scanArtifact(q.QueryRowContext(ctx, `SELECT `+artifactColumns+` FROM artifact WHERE id = ?`, id.String()))
	if err != nil {
		return nil, fmt.Errorf("get artifact: %w", err)
	}
	return a, nil
}

// ArtifactCreate implements storage.Store.
func (s *Store) ArtifactCreate(ctx context.Context, p *storage.ArtifactCreateParams) (*apitype.Artifact, error) {
	a := &p.Artifact
	meta, err := encodeMetadata(a.Metadata)
	if err != nil {
		return nil, err
	}
	var out *apitype.Artifact
	err = s.write(ctx, func(tx *sql.Tx) error {
		created, updated := encodeTime(a.Created), encodeTime(a.Updated)
		if a.Key != nil {
			if _, err := tx.ExecContext(ctx, `INSERT INTO artifact_collection (`+collectionColumns+`)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (key) DO UPDATE SET updated = excluded.updated, latest_id = excluded.latest_id,
					type = excluded.type, description = excluded.description, data = excluded.data,
					metadata_ = excluded.metadata_, flow_run_id = excluded.flow_run_id, task_run_id = excluded.task_run_id`,
				p.CollectionID.String(), created, created, *a.Key, a.ID.String(), nullString(a.Type), nullString(a.Description),
				encodeData(a.Data), meta, nullID(a.FlowRunID), nullID(a.TaskRunID)); err != nil {
				return fmt.Errorf("upsert artifact collection: %w", interpretError(err))
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO artifact (`+artifactColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			a.ID.String(), created, updated, nullString(a.Key), nullString(a.Type), nullString(a.Description),
			encodeData(a.Data), meta, nullID(a.FlowRunID), nullID(a.TaskRunID)); err != nil {
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
	return getArtifact(ctx, s.reader, id)
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
	rows, err := s.reader.QueryContext(ctx, `SELECT `+artifactColumns+` FROM artifact WHERE `+cond+
		` ORDER BY `+order+pageClause(w, p.Limit, p.Offset), w.Args...)
	if err != nil {
		return nil, fmt.Errorf("list artifacts: %w", err)
	}
	defer rows.Close()
	out := []apitype.Artifact{}
	for rows.Next() {
		a, err := scanArtifact(rows)
		if err != nil {
			return nil, fmt.Errorf("list artifacts: %w", err)
		}
		out = append(out, *a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list artifacts: %w", err)
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
	if err := s.reader.QueryRowContext(ctx, `SELECT count(*) FROM artifact WHERE `+cond, w.Args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count artifacts: %w", err)
	}
	return n, nil
}

// ArtifactUpdate implements storage.Store.
func (s *Store) ArtifactUpdate(ctx context.Context, id uuid.UUID, p *storage.ArtifactUpdateParams) error {
	sets := []string{"updated = ?"}
	args := []any{encodeTime(p.Now)}
	if p.Data != nil {
		sets = append(sets, "data = ?")
		args = append(args, encodeData(p.Data))
	}
	if p.SetDescription {
		sets = append(sets, "description = ?")
		args = append(args, nullString(p.Description))
	}
	if p.SetMetadata {
		meta, err := encodeMetadata(p.Metadata)
		if err != nil {
			return err
		}
		sets = append(sets, "metadata_ = ?")
		args = append(args, meta)
	}
	args = append(args, id.String())
	set := strings.Join(sets, ", ")
	return s.write(ctx, func(tx *sql.Tx) error {
		var total int64
		for _, q := range []string{
			`UPDATE artifact SET ` + set + ` WHERE id = ?`,
			`UPDATE artifact_collection SET ` + set + ` WHERE latest_id = ?`,
		} {
			res, err := tx.ExecContext(ctx, q, args...)
			if err != nil {
				return fmt.Errorf("update artifact: %w", interpretError(err))
			}
			n, err := res.RowsAffected()
			if err != nil {
				return fmt.Errorf("update artifact: %w", err)
			}
			total += n
		}
		if total == 0 {
			return fmt.Errorf("update artifact: %w", storage.ErrNotFound)
		}
		return nil
	})
}

// ArtifactDelete implements storage.Store.
func (s *Store) ArtifactDelete(ctx context.Context, id uuid.UUID) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		a, err := getArtifact(ctx, tx, id)
		if err != nil {
			return fmt.Errorf("delete artifact: %w", err)
		}
		if a.Key != nil {
			if err := retireLatest(ctx, tx, *a.Key, id); err != nil {
				return err
			}
		}
		return execOne(ctx, tx, "delete artifact", `DELETE FROM artifact WHERE id = ?`, id.String())
	})
}

// retireLatest moves the collection of key off artifact id, if id is its
// latest: onto the newest other artifact of the key, or deletes the row.
func retireLatest(ctx context.Context, tx *sql.Tx, key string, id uuid.UUID) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM artifact_collection WHERE key = ? AND latest_id = ?`,
		key, id.String()).Scan(&n); err != nil {
		return fmt.Errorf("delete artifact: %w", err)
	}
	if n == 0 {
		return nil
	}
	next, err := scanArtifact(tx.QueryRowContext(ctx, `SELECT `+artifactColumns+` FROM artifact
		WHERE key = ? AND id <> ? ORDER BY created DESC, id DESC LIMIT 1`, key, id.String()))
	switch {
	case errors.Is(err, storage.ErrNotFound):
		_, err = tx.ExecContext(ctx, `DELETE FROM artifact_collection WHERE key = ? AND latest_id = ?`, key, id.String())
	case err != nil:
		return fmt.Errorf("delete artifact: %w", err)
	default:
		meta, merr := encodeMetadata(next.Metadata)
		if merr != nil {
			return merr
		}
		_, err = tx.ExecContext(ctx, `UPDATE artifact_collection SET latest_id = ?, created = ?, updated = ?, type = ?,
			description = ?, data = ?, metadata_ = ?, flow_run_id = ?, task_run_id = ? WHERE key = ?`,
			next.ID.String(), encodeTime(next.Created), encodeTime(next.Updated), nullString(next.Type),
			nullString(next.Description), encodeData(next.Data), meta, nullID(next.FlowRunID), nullID(next.TaskRunID), key)
	}
	if err != nil {
		return fmt.Errorf("delete artifact: update collection: %w", interpretError(err))
	}
	return nil
}

// ArtifactCollectionGetByKey implements storage.Store.
func (s *Store) ArtifactCollectionGetByKey(ctx context.Context, key string) (*apitype.ArtifactCollection, error) {
	c, err := scanCollection(s.reader.QueryRowContext(ctx, `SELECT `+collectionColumns+` FROM artifact_collection WHERE key = ?`, key))
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
	rows, err := s.reader.QueryContext(ctx, `SELECT `+collectionColumns+` FROM artifact_collection WHERE `+cond+
		` ORDER BY `+order+pageClause(w, p.Limit, p.Offset), w.Args...)
	if err != nil {
		return nil, fmt.Errorf("list artifact collections: %w", err)
	}
	defer rows.Close()
	out := []apitype.ArtifactCollection{}
	for rows.Next() {
		c, err := scanCollection(rows)
		if err != nil {
			return nil, fmt.Errorf("list artifact collections: %w", err)
		}
		out = append(out, *c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list artifact collections: %w", err)
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
	if err := s.reader.QueryRowContext(ctx, `SELECT count(*) FROM artifact_collection WHERE `+cond, w.Args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count artifact collections: %w", err)
	}
	return n, nil
}
