package leftovers

import (
	"context"

	"github.com/gridprobe/gridprobe/probes/xrootd/xrd"
)

// XRootD is a Store over an XRootD session: kXR_dirlist with stat,
// kXR_rm and kXR_rmdir.
type XRootD struct {
	S *xrd.Session
}

// NewXRootD returns a Store over an open session.
func NewXRootD(s *xrd.Session) *XRootD { return &XRootD{S: s} }

// List implements Store.
func (x *XRootD) List(ctx context.Context, dir string) ([]Entry, error) {
	ents, err := x.S.Dirlist(ctx, dir, true)
	if err != nil {
		return nil, err
	}
	out := make([]Entry, 0, len(ents))
	for _, e := range ents {
		out = append(out, Entry{Name: e.Name, IsDir: e.Stat != nil && e.Stat.IsDir()})
	}
	return out, nil
}

// Remove implements Store (a missing object counts as removed).
func (x *XRootD) Remove(ctx context.Context, p string, isDir bool) error {
	var err error
	if isDir {
		err = x.S.Rmdir(ctx, p)
	} else {
		err = x.S.Rm(ctx, p)
	}
	if xrd.IsNotFound(err) {
		return nil
	}
	return err
}
