package sqlrow

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/cairnml/cairn"
)

// Served rows (issue #22): the rows serving sampled, per model version,
// and the drift the leader last measured of them.

// CheckServedRows checks the rows to log: a model, a version, a JSON
// object no longer than cairn.MaxServedRowBytes.
func CheckServedRows(rs []cairn.ServedRow) error {
	for i, r := range rs {
		if r.Name == "" || r.Version < 1 {
			return fmt.Errorf("served row %d of %s@%d: a model and a version are needed", i, r.Name, r.Version)
		}
		if len(r.Row) == 0 || r.Row[0] != '{' || len(r.Row) > cairn.MaxServedRowBytes || !json.Valid(r.Row) {
			return fmt.Errorf("served row %d of %s@%d: want a JSON object of at most %d bytes, got %d bytes", i, r.Name, r.Version, cairn.MaxServedRowBytes, len(r.Row))
		}
	}
	return nil
}

// ServedVersion is a model version some served rows are of.
type ServedVersion struct {
	Name    string
	Version int
}

// ServedVersions returns the model versions of rs, each once, in the
// order they first come.
func ServedVersions(rs []cairn.ServedRow) []ServedVersion {
	var out []ServedVersion
	seen := map[ServedVersion]bool{}
	for _, r := range rs {
		v := ServedVersion{r.Name, r.Version}
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// Kept is the bound of rows kept per version a writer asks for (keep), or
// cairn.DefaultServedRowsKept when it asks for none.
func Kept(keep int) int {
	if keep <= 0 {
		return cairn.DefaultServedRowsKept
	}
	return keep
}

// TrimServed deletes a model version's rows past the newest keep (its
// placeholders: name, version, name, version, keep).
func TrimServed(arg func(int) string) string {
	return `DELETE FROM served_rows WHERE name = ` + arg(1) + ` AND version = ` + arg(2) + ` AND id <= (SELECT id FROM served_rows WHERE name = ` + arg(3) +
		` AND version = ` + arg(4) + ` ORDER BY id DESC LIMIT 1 OFFSET ` + arg(5) + `)`
}

// ServedRowsQuery reads a model version's rows served since a time,
// newest first, at most a number (placeholders: name, version, since,
// limit).
func ServedRowsQuery(arg func(int) string) string {
	return `SELECT at, row FROM served_rows WHERE name = ` + arg(1) + ` AND version = ` + arg(2) + ` AND at >= ` + arg(3) +
		` ORDER BY id DESC LIMIT ` + arg(4)
}

// ServedRow scans a row of ServedRowsQuery.
func ServedRow(sc Scanner, name string, version int) (cairn.ServedRow, error) {
	var (
		at  int64
		row string
	)
	if err := sc.Scan(&at, &row); err != nil {
		return cairn.ServedRow{}, err
	}
	return cairn.ServedRow{Name: name, Version: version, At: time.Unix(0, at).UTC(), Row: []byte(row)}, nil
}

// SetDrift records the drift measured of a model version, replacing the
// last (placeholders: name, version, value, feature, rows, at, error).
func SetDrift(arg func(int) string) string {
	return `INSERT INTO model_drift (name, version, value, feature, rows, at, error) VALUES (` + arg(1) + `, ` + arg(2) + `, ` + arg(3) + `, ` +
		arg(4) + `, ` + arg(5) + `, ` + arg(6) + `, ` + arg(7) + `)
ON CONFLICT (name, version) DO UPDATE SET value = excluded.value, feature = excluded.feature, rows = excluded.rows, at = excluded.at, error = excluded.error`
}

// DriftArgs are SetDrift's arguments.
func DriftArgs(d cairn.ModelDrift) []any {
	v := d.Value
	if v != v { // NaN: no figure
		v = 0
	}
	return []any{d.Name, int64(d.Version), v, d.Feature, int64(d.Rows), d.At.UnixNano(), d.Error}
}

// DriftCols are the columns ModelDrift scans.
const DriftCols = `name, version, value, feature, rows, at, error`

// ModelDrift scans a row of DriftCols.
func ModelDrift(sc Scanner) (cairn.ModelDrift, error) {
	var (
		d             cairn.ModelDrift
		version, rows int64
		at            int64
	)
	if err := sc.Scan(&d.Name, &version, &d.Value, &d.Feature, &rows, &at, &d.Error); err != nil {
		return cairn.ModelDrift{}, err
	}
	d.Version, d.Rows, d.At = int(version), int(rows), time.Unix(0, at).UTC()
	return d, nil
}
