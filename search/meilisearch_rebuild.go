package search

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/meilisearch/meilisearch-go"
)

// The Meilisearch engine rebuilds with Meilisearch's atomic index swap.
//
// Build id's index is "<live>_build_<id>", with the live index's settings. It holds a marker
// document "tutorhub_build_<id>" (a tombstone at version 0, so no search or facet count sees
// it), written when the build begins: an index of that name without the marker is not a
// build, and writes to it are no-ops. The marker moves with the build's content when it is
// swapped in, so after a swap the build's name holds the old live index without the marker:
// that is how a retried SwapBuild knows the swap happened and only the old index is left to
// delete, instead of swapping the old index back in.
var _ Rebuilder = (*Meilisearch)(nil)

const meiliBuildInfix = "_build_"

func (m *Meilisearch) buildUID(id string) string { return m.uid + meiliBuildInfix + id }

func meiliBuildMarker(id string) string { return "tutorhub_build_" + id }

// isMeiliNotFound reports whether err is Meilisearch's answer for a missing index or
// document.
func isMeiliNotFound(err error) bool {
	var me *meilisearch.Error
	if !errors.As(err, &me) {
		return false
	}
	return me.APIError.Code == meilisearch.APIErrCodeIndexNotFound || me.APIError.Code == meilisearch.APIErrCodeDocumentNotFound
}

// isBuild reports whether build id's index exists and holds its marker.
func (m *Meilisearch) isBuild(ctx context.Context, id string) (bool, error) {
	var doc map[string]any
	err := m.client.Index(m.buildUID(id)).GetDocument(ctx, meiliBuildMarker(id), &meilisearch.DocumentQuery{Fields: []string{"id"}}, &doc)
	if isMeiliNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("search: meilisearch: build %s: %w", id, err)
	}
	return true, nil
}

// Builds lists the builds in progress: the indexes "<live>_build_<id>" that hold their
// marker.
func (m *Meilisearch) Builds(ctx context.Context) ([]string, error) {
	prefix := m.uid + meiliBuildInfix
	var ids []string
	for offset := int64(0); ; {
		page, err := m.client.ListIndexes(ctx, &meilisearch.IndexesQuery{Limit: 100, Offset: offset})
		if err != nil {
			return nil, fmt.Errorf("search: meilisearch: list builds: %w", err)
		}
		for _, ix := range page.Results {
			id, ok := strings.CutPrefix(ix.UID, prefix)
			if !ok || CheckBuildID(id) != nil {
				continue
			}
			built, err := m.isBuild(ctx, id)
			if err != nil {
				return nil, err
			}
			if built {
				ids = append(ids, id)
			}
		}
		offset += int64(len(page.Results))
		if len(page.Results) == 0 || offset >= page.Total {
			return ids, nil
		}
	}
}

// BeginBuild creates build id's index, empty but for its marker, with the live index's
// settings, waiting until both are in force; beginning a build that exists only applies the
// settings again.
func (m *Meilisearch) BeginBuild(ctx context.Context, id string) error {
	if err := CheckBuildID(id); err != nil {
		return err
	}
	uid := m.buildUID(id)
	built, err := m.isBuild(ctx, id)
	if err != nil {
		return err
	}
	if built {
		return m.applySettings(ctx, uid)
	}
	// An index of the build's name without the marker is a leftover (see buildWrite): a
	// build starts empty.
	if err := m.deleteIndex(ctx, uid); err != nil {
		return err
	}
	pk := "id"
	marker := meiliDoc{ID: meiliBuildMarker(id), Deleted: true, Subjects: []Subject{}, Languages: []string{}, LessonModes: []string{}, Facets: []string{}}
	// The marker's write creates the index: it is never a build without its marker.
	task, err := m.client.Index(uid).AddDocuments(ctx, []meiliDoc{marker}, &meilisearch.DocumentOptions{PrimaryKey: &pk})
	if err != nil {
		return fmt.Errorf("search: meilisearch: begin build %s: %w", id, err)
	}
	if _, err := m.wait(ctx, task, false); err != nil {
		return fmt.Errorf("begin build %s: %w", id, err)
	}
	return m.applySettings(ctx, uid)
}

// BuildUpsert is Upsert on build id's index, with the same version guard; a no-op when the
// build is gone.
func (m *Meilisearch) BuildUpsert(ctx context.Context, id string, d Document) error {
	return m.buildWrite(ctx, id, d, false)
}

// BuildDelete is Delete on build id's index; a no-op when the build is gone.
func (m *Meilisearch) BuildDelete(ctx context.Context, id string, tutor uuid.UUID, version int64) error {
	return m.buildWrite(ctx, id, Document{ID: tutor, Version: version}, true)
}

// buildWrite writes to build id if it is a build. A write racing the build's swap and
// deletion can land after the deletion and create an index of the build's name anew, which
// lacks the marker: it is not a build, Builds does not list it, and DropBuild, SwapBuild or
// BeginBuild of that id deletes it.
func (m *Meilisearch) buildWrite(ctx context.Context, id string, d Document, deleted bool) error {
	if err := CheckBuildID(id); err != nil {
		return err
	}
	if err := d.check(); err != nil {
		return err
	}
	built, err := m.isBuild(ctx, id)
	if err != nil || !built {
		return err
	}
	return m.write(ctx, m.client.Index(m.buildUID(id)), []Document{d}, deleted)
}

// SwapBuild swaps build id's index with the live one in one Meilisearch task (searches see
// the old index, then the new one, never neither), then deletes the old index, now under the
// build's name. It first waits for index swaps already enqueued (a previous attempt's), so
// that the marker tells a build not yet swapped from one swapped.
func (m *Meilisearch) SwapBuild(ctx context.Context, id string) error {
	if err := CheckBuildID(id); err != nil {
		return err
	}
	pending, err := m.client.GetTasks(ctx, &meilisearch.TasksQuery{
		Types:    []meilisearch.TaskType{meilisearch.TaskTypeIndexSwap},
		Statuses: []meilisearch.TaskStatus{meilisearch.TaskStatusEnqueued, meilisearch.TaskStatusProcessing},
	})
	if err != nil {
		return fmt.Errorf("search: meilisearch: swap build %s: pending swaps: %w", id, err)
	}
	for _, t := range pending.Results {
		if _, err := m.wait(ctx, &meilisearch.TaskInfo{TaskUID: t.UID}, true); err != nil {
			return fmt.Errorf("swap build %s: %w", id, err)
		}
	}
	built, err := m.isBuild(ctx, id)
	if err != nil {
		return err
	}
	if built {
		task, err := m.client.SwapIndexes(ctx, []*meilisearch.SwapIndexesParams{{Indexes: []string{m.uid, m.buildUID(id)}}})
		if err != nil {
			return fmt.Errorf("search: meilisearch: swap build %s: %w", id, err)
		}
		if _, err := m.wait(ctx, task, false); err != nil {
			return fmt.Errorf("swap build %s: %w", id, err)
		}
	}
	return m.deleteIndex(ctx, m.buildUID(id))
}

// DropBuild deletes build id's index; dropping a build that is gone is a no-op.
func (m *Meilisearch) DropBuild(ctx context.Context, id string) error {
	if err := CheckBuildID(id); err != nil {
		return err
	}
	return m.deleteIndex(ctx, m.buildUID(id))
}

// deleteIndex deletes index uid and waits; an index that does not exist is not an error.
func (m *Meilisearch) deleteIndex(ctx context.Context, uid string) error {
	task, err := m.client.DeleteIndex(ctx, uid)
	if isMeiliNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("search: meilisearch: delete index %s: %w", uid, err)
	}
	t, err := m.wait(ctx, task, true)
	if err != nil {
		return err
	}
	if t.Status != meilisearch.TaskStatusSucceeded && t.Error.Code != meilisearch.APIErrCodeIndexNotFound {
		return fmt.Errorf("search: meilisearch: delete index %s: task %d %s: %s", uid, task.TaskUID, t.Status, t.Error.Message)
	}
	return nil
}
