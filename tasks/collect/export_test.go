package collect

// Hashed is how many files t's SourceDigest read.
func (t *Task) Hashed() int64 { return t.hashed.Load() }
