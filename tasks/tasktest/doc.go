// Package tasktest is the conformance harness for task types: Run checks any
// tasks.Task, built-in or served by a plugin process, against the contract
// in package tasks, through that interface alone.
//
// It checks that Info is well formed (a name, params with known kinds and
// unique names, declared outputs); that every case's params are ones Info
// declares and pass the type's ParamValidator, if it has one; that Run ends
// the way the case says (success, a retryable or a permanent error, a panic);
// that a Result holds only declared outputs, each valid JSON, with every
// artifact output resolving and verifying in the store; and that Run returns
// promptly when its context is cancelled or its deadline passes.
//
// Env returns an Env on a fresh artifacts.Dir and an in-memory log for tests
// of single attempts.
package tasktest
