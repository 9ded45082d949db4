package executor

import "strings"

// withoutSelfName drops what a task's error says first about the task
// itself — its type and id ("train t1: "), or its type alone ("train: "),
// as often as the layers of the task repeated it — since the attempt's
// error is recorded against that task, and every place that shows it
// (the progress, the run summary, show, logs) names the task already.
// Without it a task train reading its input train read
// "train failed: train train: input train: …". The error keeps its chain
// (permanent, panic, exit code); only its text is shorter. A message that
// would be empty is kept whole.
func withoutSelfName(err error, typ, taskID string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	trimmed := msg
	for {
		rest, ok := strings.CutPrefix(trimmed, typ+" "+taskID+": ")
		if !ok {
			rest, ok = strings.CutPrefix(trimmed, typ+": ")
		}
		if !ok || rest == "" {
			break
		}
		trimmed = rest
	}
	if trimmed == msg {
		return err
	}
	return &renamedError{msg: trimmed, err: err}
}

// renamedError is err with a shorter text.
type renamedError struct {
	msg string
	err error
}

func (e *renamedError) Error() string { return e.msg }
func (e *renamedError) Unwrap() error { return e.err }
