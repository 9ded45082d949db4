package artifacts

// SetAfterLook sets the hook RemoveIfOlder runs between its look at a
// blob's time and the blob's removal; it returns a function that unsets it.
func SetAfterLook(f func()) (unset func()) {
	afterLook = f
	return func() { afterLook = nil }
}

// Hashed is how many blobs d's VerifiedPath and TouchVerified hashed.
func (d *Dir) Hashed() int64 { return d.hashed.Load() }
